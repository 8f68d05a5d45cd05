//! The Salesforce API client, written from Salesforce's API documentation: one file per API area.

mod backoff;
pub mod budget;
pub mod bulk;
mod client;
pub mod collections;
pub mod cometd;
pub mod datetime;
pub mod describe;
mod error;
pub mod query;
pub mod replication;
pub mod rest;

pub use backoff::Backoff;
pub use budget::{ApiBudget, ApiUsage, ReserveReached};
pub use client::{
    api_name, read_json, Call, CallKind, ClientBuildError, ClientOptions, SalesforceClient,
    CALL_OPTIONS_HEADER,
};
pub use collections::{NewRecord, RecordResult, RecordUpdate, MAX_COLLECTION_RECORDS};
pub use describe::{FieldDescribe, GlobalDescribe, PicklistValue, SObjectDescribe};
pub use error::{is_transient_code, parse_rest_errors, RecordError, RestError, SalesforceError};
pub use query::{QueryPage, QueryPages, Record};
pub use replication::{DeletedRecord, DeletedRecords, UpdatedRecords};
pub use rest::{LimitFigure, OrgLimits};
