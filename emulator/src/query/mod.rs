//! SOQL over the org store: the adapter that lets the engine in [`crate::soql`] read the store
//! ([`catalog`], [`source`]).
pub mod catalog;
pub mod source;
