//! Bulk API 2.0 CSV results: successful (`sf__Id`, `sf__Created`), failed (`sf__Id`, `sf__Error`)
//! and unprocessed rows, parsed with the `csv` crate.

use csv::{ReaderBuilder, StringRecord};

use crate::salesforce::error::SalesforceError;

/// A CSV body: its header row and data rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsvTable {
    pub headers: StringRecord,
    pub rows: Vec<StringRecord>,
}

impl CsvTable {
    pub fn parse(
        operation: &'static str,
        body: &[u8],
        delimiter: u8,
    ) -> Result<Self, SalesforceError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let mut reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .from_reader(body);
        let headers = reader
            .headers()
            .map_err(|source| SalesforceError::Csv { operation, source })?
            .clone();
        let rows = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| SalesforceError::Csv { operation, source })?;
        Ok(Self { headers, rows })
    }

    /// The position of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|header| header == name)
    }
}

/// A row Salesforce processed successfully.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSuccess {
    pub id: String,
    /// `false` for upsert-updates.
    pub created: bool,
    /// The row's original (non-`sf__`) columns, in header order.
    pub values: Vec<String>,
}

/// `sf__Error` split into its parts: `STATUS_CODE:message:fields` (`--` for no fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRowError {
    pub status_code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl BulkRowError {
    pub fn parse(text: &str) -> Self {
        let Some((code, rest)) = text.split_once(':') else {
            return Self {
                status_code: text.to_string(),
                message: String::new(),
                fields: Vec::new(),
            };
        };
        // The message may itself contain ':'; the last part is the field list only when it looks
        // like one (`--` or comma-separated API names).
        let (message, fields) = match rest.rsplit_once(':') {
            Some((message, "--")) => (message, Vec::new()),
            Some((message, fields)) if is_field_list(fields) => {
                (message, fields.split(',').map(str::to_string).collect())
            }
            _ => (rest, Vec::new()),
        };
        Self {
            status_code: code.to_string(),
            message: message.to_string(),
            fields,
        }
    }

    pub fn is_transient(&self) -> bool {
        crate::salesforce::error::is_transient_code(&self.status_code)
    }
}

fn is_field_list(text: &str) -> bool {
    !text.is_empty()
        && text.split(',').all(|name| {
            let mut chars = name.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
}

/// A row Salesforce refused.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestFailure {
    /// Filled in from API 53.0 on when Salesforce knows it.
    pub id: Option<String>,
    pub error: BulkRowError,
    pub values: Vec<String>,
}

/// Parses `successfulResults/`: returns the original column names and the rows.
pub fn parse_successful(
    body: &[u8],
    delimiter: u8,
) -> Result<(Vec<String>, Vec<IngestSuccess>), SalesforceError> {
    const OPERATION: &str = "bulk_ingest_successful_results";
    let table = CsvTable::parse(OPERATION, body, delimiter)?;
    if table.headers.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let id = table
        .column("sf__Id")
        .ok_or(SalesforceError::MissingHeader {
            operation: OPERATION,
            header: "sf__Id column",
        })?;
    let created = table
        .column("sf__Created")
        .ok_or(SalesforceError::MissingHeader {
            operation: OPERATION,
            header: "sf__Created column",
        })?;
    let columns = original_columns(&table.headers);
    let rows = table
        .rows
        .iter()
        .map(|row| IngestSuccess {
            id: row.get(id).unwrap_or_default().to_string(),
            created: row
                .get(created)
                .is_some_and(|value| value.eq_ignore_ascii_case("true")),
            values: original_values(&table.headers, row),
        })
        .collect();
    Ok((columns, rows))
}

/// Parses `failedResults/`.
pub fn parse_failed(
    body: &[u8],
    delimiter: u8,
) -> Result<(Vec<String>, Vec<IngestFailure>), SalesforceError> {
    const OPERATION: &str = "bulk_ingest_failed_results";
    let table = CsvTable::parse(OPERATION, body, delimiter)?;
    if table.headers.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let id = table.column("sf__Id");
    let error = table
        .column("sf__Error")
        .ok_or(SalesforceError::MissingHeader {
            operation: OPERATION,
            header: "sf__Error column",
        })?;
    let columns = original_columns(&table.headers);
    let rows = table
        .rows
        .iter()
        .map(|row| IngestFailure {
            id: id
                .and_then(|index| row.get(index))
                .filter(|value| !value.is_empty())
                .map(str::to_string),
            error: BulkRowError::parse(row.get(error).unwrap_or_default()),
            values: original_values(&table.headers, row),
        })
        .collect();
    Ok((columns, rows))
}

fn original_columns(headers: &StringRecord) -> Vec<String> {
    headers
        .iter()
        .filter(|header| !header.starts_with("sf__"))
        .map(str::to_string)
        .collect()
}

fn original_values(headers: &StringRecord, row: &StringRecord) -> Vec<String> {
    headers
        .iter()
        .zip(row.iter())
        .filter(|(header, _)| !header.starts_with("sf__"))
        .map(|(_, value)| value.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_successful_results_parse() {
        let body =
            b"\"sf__Id\",\"sf__Created\",\"Name\"\n\"001xx000003DGxYAAW\",\"true\",\"Account 1\"\n";
        let (columns, rows) = parse_successful(body, b',').expect("parses");
        assert_eq!(columns, ["Name"]);
        assert_eq!(
            rows,
            [IngestSuccess {
                id: "001xx000003DGxYAAW".into(),
                created: true,
                values: vec!["Account 1".into()],
            }]
        );
    }

    #[test]
    fn documented_failed_results_parse() {
        let body = "\"sf__Id\",\"sf__Error\",\"Name\",\"ParentId\"\n\
            \"\",\"INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--\",\"A\",\"001bad\"\n\
            \"0013000000ABCDeAAF\",\"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: 0013000000ABCDeAAF\",\"B\",\"\"\n\
            \"\",\"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name\",\"\",\"\"\n";
        let (columns, rows) = parse_failed(body.as_bytes(), b',').expect("parses");
        assert_eq!(columns, ["Name", "ParentId"]);
        assert_eq!(rows[0].id, None);
        assert_eq!(
            rows[0].error,
            BulkRowError {
                status_code: "INVALID_CROSS_REFERENCE_KEY".into(),
                message: "invalid cross reference id".into(),
                fields: vec![],
            }
        );
        assert_eq!(rows[0].values, ["A", "001bad"]);
        assert_eq!(rows[1].id.as_deref(), Some("0013000000ABCDeAAF"));
        assert_eq!(rows[1].error.status_code, "UNABLE_TO_LOCK_ROW");
        assert_eq!(
            rows[1].error.message,
            "unable to obtain exclusive access to this record or 1 records: 0013000000ABCDeAAF"
        );
        assert!(rows[1].error.is_transient());
        assert_eq!(rows[2].error.fields, ["Name"]);
        assert_eq!(rows[2].error.message, "Required fields are missing: [Name]");
    }

    #[test]
    fn unprocessed_records_with_only_a_header_parse() {
        let table = CsvTable::parse("t", b"\"Name\",\"Ext__c\"\n", b',').expect("parses");
        assert_eq!(table.headers.iter().collect::<Vec<_>>(), ["Name", "Ext__c"]);
        assert!(table.rows.is_empty());
        let empty = CsvTable::parse("t", b"", b',').expect("parses");
        assert!(empty.rows.is_empty());
    }
}
