//! Bulk API 2.0 query jobs (Bulk API 2.0 Developer Guide: query jobs): the SOQL is checked and compiled when the job is created, run once on a
//! blocking thread to a snapshot of matching ids, and served as CSV pages chained by `Sforce-Locator`.
pub mod api;
pub mod check;
pub mod job;
pub mod pages;
pub mod run;

pub use job::QueryJob;
