//! Fresh formula and roll-up fields: values Salesforce computes from other records (a formula
//! reading `Account.Industry`, a roll-up summing invoice lines) or from the clock change without
//! their own record's `SystemModstamp` moving, so neither polling nor change events bring them.
//! [`learn`] finds a mapping's dependent fields and what they read; [`FreshFormulas`] watches
//! those records and re-reads the dependent values when they change.

mod learn;
mod references;
mod refresh;

pub use learn::{learn, signature};
pub use refresh::FreshFormulas;
