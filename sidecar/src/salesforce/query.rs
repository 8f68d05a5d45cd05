//! SOQL over REST: `query` / `queryAll` as a page stream following `nextRecordsUrl`, a
//! `SELECT COUNT()` helper, and Tooling API queries (`tooling/query`, for field metadata).

use futures::Stream;
use reqwest::Method;
use serde::Deserialize;

use super::client::{api_name, Call, CallKind, SalesforceClient};
use super::error::SalesforceError;

/// A record as Salesforce returns it (with its `attributes`); numbers keep their exact text.
pub type Record = serde_json::Map<String, serde_json::Value>;

/// Salesforce honours batch sizes from 200 to 2,000.
pub const MIN_BATCH_SIZE: u32 = 200;
pub const MAX_BATCH_SIZE: u32 = 2_000;

/// One page of a query result.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    /// Records matching the whole query, across all pages.
    pub total_size: u64,
    pub done: bool,
    #[serde(default)]
    pub next_records_url: Option<String>,
    #[serde(default)]
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Query,
    QueryAll,
    /// Tooling API Developer Guide: `/services/data/vXX.X/tooling/query/?q=`.
    Tooling,
}

enum Cursor {
    Start { soql: String, resource: Resource },
    Next(String),
    Finished,
}

/// Pages of one query, fetched one at a time so memory stays bounded by the page size.
pub struct QueryPages {
    client: SalesforceClient,
    cursor: Cursor,
    batch_size: Option<u32>,
}

impl QueryPages {
    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<QueryPage>, SalesforceError> {
        let call = match &self.cursor {
            Cursor::Finished => return Ok(None),
            Cursor::Start { soql, resource } => {
                let (operation, resource_path) = match resource {
                    Resource::Query => ("query", "query/"),
                    Resource::QueryAll => ("query_all", "queryAll/"),
                    Resource::Tooling => ("tooling_query", "tooling/query"),
                };
                let soql = soql.clone();
                Call::new(
                    operation,
                    Method::GET,
                    self.client.data_path(resource_path),
                    CallKind::Read,
                )
                .customize(move |builder| builder.query(&[("q", soql.as_str())]))
            }
            Cursor::Next(path) => {
                // The locator URL comes from Salesforce; it must stay on the instance.
                if !path.starts_with("/services/") {
                    return Err(SalesforceError::InvalidArgument {
                        operation: "query_more",
                        reason: format!("unexpected nextRecordsUrl {path:?}"),
                    });
                }
                Call::new("query_more", Method::GET, path.clone(), CallKind::Read)
            }
        };
        let call = match self.batch_size {
            Some(size) => {
                let previous = call.customize;
                Call {
                    customize: Box::new(move |builder| {
                        previous(builder)
                            .header("Sforce-Query-Options", format!("batchSize={size}"))
                    }),
                    ..call
                }
            }
            None => call,
        };
        let page: QueryPage = self.client.execute_json(call).await?;
        self.cursor = match (&page.next_records_url, page.done) {
            (Some(next), false) => Cursor::Next(next.clone()),
            _ => Cursor::Finished,
        };
        Ok(Some(page))
    }

    /// Every record of every remaining page (for small results).
    pub async fn all_records(mut self) -> Result<Vec<Record>, SalesforceError> {
        let mut records = Vec::new();
        while let Some(page) = self.next_page().await? {
            records.extend(page.records);
        }
        Ok(records)
    }

    /// The pages as a stream.
    pub fn into_stream(self) -> impl Stream<Item = Result<QueryPage, SalesforceError>> + Send {
        futures::stream::try_unfold(self, |mut pages| async move {
            Ok(pages.next_page().await?.map(|page| (page, pages)))
        })
    }
}

impl SalesforceClient {
    /// `GET /query/?q=...`: live records only.
    pub fn query(&self, soql: &str, batch_size: Option<u32>) -> QueryPages {
        self.pages(soql, Resource::Query, batch_size)
    }

    /// `GET /queryAll/?q=...`: also soft-deleted (`IsDeleted = true`) records.
    pub fn query_all(&self, soql: &str, batch_size: Option<u32>) -> QueryPages {
        self.pages(soql, Resource::QueryAll, batch_size)
    }

    /// `GET /tooling/query/?q=...`: Tooling API objects (`CustomField` and its `Metadata`), every
    /// page fetched.
    pub async fn tooling_query(&self, soql: &str) -> Result<Vec<Record>, SalesforceError> {
        self.pages(soql, Resource::Tooling, None)
            .all_records()
            .await
    }

    fn pages(&self, soql: &str, resource: Resource, batch_size: Option<u32>) -> QueryPages {
        QueryPages {
            client: self.clone(),
            cursor: Cursor::Start {
                soql: soql.to_string(),
                resource,
            },
            batch_size: batch_size.map(|size| size.clamp(MIN_BATCH_SIZE, MAX_BATCH_SIZE)),
        }
    }

    /// All records of a (small) query, every page fetched.
    pub async fn query_records(&self, soql: &str) -> Result<Vec<Record>, SalesforceError> {
        self.query(soql, None).all_records().await
    }

    /// `SELECT COUNT() FROM {object} [WHERE {filter}]` and its `totalSize`; `include_deleted` uses
    /// `queryAll`.
    pub async fn count(
        &self,
        object: &str,
        filter: Option<&str>,
        include_deleted: bool,
    ) -> Result<u64, SalesforceError> {
        let object = api_name("count", object)?;
        let soql = match filter {
            Some(filter) => format!("SELECT COUNT() FROM {object} WHERE {filter}"),
            None => format!("SELECT COUNT() FROM {object}"),
        };
        let resource = if include_deleted {
            Resource::QueryAll
        } else {
            Resource::Query
        };
        let page = self.pages(&soql, resource, None).next_page().await?.ok_or(
            SalesforceError::InvalidArgument {
                operation: "count",
                reason: "no answer".to_string(),
            },
        )?;
        Ok(page.total_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// REST API Developer Guide: Query and QueryAll, the documented first page, verbatim.
    const FIRST_PAGE: &str = r#"{"done":false,"totalSize":3214,"nextRecordsUrl":"/services/data/v63.0/query/01gD0000002HU6KIAW-2000",
 "records":[{"attributes":{"type":"Account","url":"/services/data/v63.0/sobjects/Account/001D000000IRFmaIAH"},"Name":"Test 1"}]}"#;

    #[test]
    fn documented_page_parses() {
        let page: QueryPage = serde_json::from_str(FIRST_PAGE).expect("parses");
        assert!(!page.done);
        assert_eq!(page.total_size, 3214);
        assert_eq!(
            page.next_records_url.as_deref(),
            Some("/services/data/v63.0/query/01gD0000002HU6KIAW-2000")
        );
        assert_eq!(page.records[0]["Name"], "Test 1");
        assert_eq!(page.records[0]["attributes"]["type"], "Account");
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        let page: QueryPage = serde_json::from_str(
            r#"{"done":true,"totalSize":1,"records":[{"Amount":12345678901234567.89,"Rate":0.1}]}"#,
        )
        .expect("parses");
        assert_eq!(
            page.records[0]["Amount"].to_string(),
            "12345678901234567.89"
        );
        assert_eq!(page.records[0]["Rate"].to_string(), "0.1");
    }
}
