//! Parsing an uploaded CSV file: a header row of distinct, non-empty column names, then rows with exactly as
//! many values. Anything else fails the whole job with an `errorMessage` naming the problem.

use thiserror::Error;

use crate::bulk::format::CsvDialect;

/// Why an upload cannot be processed; the text becomes the job's `errorMessage`.
#[derive(Debug, Error)]
pub enum UploadError {
    #[error("InvalidBatch : The uploaded data is not valid UTF-8 (at byte {0})")]
    NotUtf8(usize),
    #[error("InvalidBatch : The uploaded data is empty: a header row is required")]
    Empty,
    #[error("InvalidBatch : Malformed CSV data in row {row}: {source}")]
    Malformed {
        row: u64,
        #[source]
        source: csv::Error,
    },
    #[error("InvalidBatch : Column {0} of the header row has no field name")]
    EmptyColumnName(usize),
    #[error("InvalidBatch : Duplicate field name in the header row: {0}")]
    DuplicateColumn(String),
    #[error(
        "InvalidBatch : Row {row} has {found} values but the header row has {expected} columns"
    )]
    WrongColumnCount {
        row: u64,
        expected: usize,
        found: usize,
    },
}

/// A parsed upload: header and rows (values as sent, not trimmed).
#[derive(Debug)]
pub struct ParsedUpload {
    pub header: csv::StringRecord,
    pub rows: Vec<csv::StringRecord>,
}

/// Parses an upload in the job's dialect. Row numbers in errors count the header as row 1.
pub fn parse_upload(bytes: &[u8], dialect: CsvDialect) -> Result<ParsedUpload, UploadError> {
    if let Err(error) = std::str::from_utf8(bytes) {
        return Err(UploadError::NotUtf8(error.valid_up_to()));
    }
    // A UTF-8 byte order mark is not part of the first column's name.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = dialect.reader(bytes);
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(UploadError::Empty),
        Some(Err(source)) => return Err(UploadError::Malformed { row: 1, source }),
        Some(Ok(header)) => header,
    };
    if header.len() == 1 && header[0].is_empty() {
        return Err(UploadError::Empty);
    }
    let mut seen = std::collections::HashSet::new();
    for (position, name) in header.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(UploadError::EmptyColumnName(position + 1));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(UploadError::DuplicateColumn(name.to_string()));
        }
    }
    let mut rows = Vec::new();
    for (index, record) in records.enumerate() {
        let row = index as u64 + 2;
        let record = record.map_err(|source| UploadError::Malformed { row, source })?;
        if record.len() != header.len() {
            return Err(UploadError::WrongColumnCount {
                row,
                expected: header.len(),
                found: record.len(),
            });
        }
        rows.push(record);
    }
    Ok(ParsedUpload { header, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::format::{ColumnDelimiter, LineEnding};

    #[test]
    fn quotes_embedded_delimiters_and_newlines() {
        let text = "Name,Description\n\"Acme, Inc.\",\"line one\nline \"\"two\"\"\"\nPlain,\n";
        let upload = parse_upload(text.as_bytes(), CsvDialect::default()).expect("parses");
        assert_eq!(
            upload.header.iter().collect::<Vec<_>>(),
            ["Name", "Description"]
        );
        assert_eq!(upload.rows.len(), 2);
        assert_eq!(&upload.rows[0][0], "Acme, Inc.");
        assert_eq!(&upload.rows[0][1], "line one\nline \"two\"");
        assert_eq!(&upload.rows[1][1], "");
    }

    #[test]
    fn other_dialects() {
        let dialect = CsvDialect {
            delimiter: ColumnDelimiter::Pipe,
            line_ending: LineEnding::Crlf,
        };
        let upload = parse_upload(b"Name|Phone\r\na,b|1\r\n", dialect).expect("parses");
        assert_eq!(&upload.rows[0][0], "a,b");
        assert_eq!(&upload.rows[0][1], "1");
    }

    #[test]
    fn malformed_files_are_refused() {
        let parse = |text: &str| parse_upload(text.as_bytes(), CsvDialect::default());
        assert!(matches!(parse(""), Err(UploadError::Empty)));
        assert!(matches!(
            parse("Name,,Phone\n"),
            Err(UploadError::EmptyColumnName(2))
        ));
        assert!(matches!(
            parse("Name,name\n"),
            Err(UploadError::DuplicateColumn(_))
        ));
        let ragged = parse("Name,Phone\na,1\nb,2,3\n").expect_err("ragged");
        assert_eq!(
            ragged.to_string(),
            "InvalidBatch : Row 3 has 3 values but the header row has 2 columns"
        );
        assert!(matches!(
            parse_upload(b"Name\n\xff\n", CsvDialect::default()),
            Err(UploadError::NotUtf8(5))
        ));
        let header_only = parse("Name\n").expect("header only");
        assert!(header_only.rows.is_empty());
    }
}
