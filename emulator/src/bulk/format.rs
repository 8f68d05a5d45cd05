//! The CSV dialect of a Bulk API 2.0 job (`columnDelimiter`, `lineEnding`) and the readers and writers built
//! from it. Result files are written in the job's dialect with every value quoted, as Salesforce does.

use serde::{Deserialize, Serialize};

/// `columnDelimiter` of a job (Bulk API 2.0 Developer Guide: ingest jobs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ColumnDelimiter {
    Backquote,
    Caret,
    #[default]
    Comma,
    Pipe,
    Semicolon,
    Tab,
}

impl ColumnDelimiter {
    pub fn byte(self) -> u8 {
        match self {
            ColumnDelimiter::Backquote => b'`',
            ColumnDelimiter::Caret => b'^',
            ColumnDelimiter::Comma => b',',
            ColumnDelimiter::Pipe => b'|',
            ColumnDelimiter::Semicolon => b';',
            ColumnDelimiter::Tab => b'\t',
        }
    }

    /// The wire name (`COMMA`).
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnDelimiter::Backquote => "BACKQUOTE",
            ColumnDelimiter::Caret => "CARET",
            ColumnDelimiter::Comma => "COMMA",
            ColumnDelimiter::Pipe => "PIPE",
            ColumnDelimiter::Semicolon => "SEMICOLON",
            ColumnDelimiter::Tab => "TAB",
        }
    }
}

/// `lineEnding` of a job (Bulk API 2.0 Developer Guide: ingest jobs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LineEnding {
    #[default]
    Lf,
    Crlf,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "LF",
            LineEnding::Crlf => "CRLF",
        }
    }

    pub fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::Crlf => b"\r\n",
        }
    }
}

/// `contentType` of a job: only CSV exists in Bulk API 2.0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentType {
    #[default]
    #[serde(rename = "CSV")]
    Csv,
}

/// A job's CSV dialect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvDialect {
    pub delimiter: ColumnDelimiter,
    pub line_ending: LineEnding,
}

impl CsvDialect {
    /// A reader for uploaded job data. With `LF` only `\n` ends a record, so a `\r` sent to an `LF` job stays in
    /// the last value (Salesforce asks for the line ending the file really uses); `CRLF` accepts `\r\n`.
    pub fn reader<R: std::io::Read>(self, input: R) -> csv::Reader<R> {
        let terminator = match self.line_ending {
            LineEnding::Lf => csv::Terminator::Any(b'\n'),
            LineEnding::Crlf => csv::Terminator::CRLF,
        };
        csv::ReaderBuilder::new()
            .delimiter(self.delimiter.byte())
            .terminator(terminator)
            .has_headers(false)
            .flexible(true)
            .from_reader(input)
    }

    /// A writer for result files: every value quoted, the job's delimiter and line ending.
    pub fn writer<W: std::io::Write>(self, output: W) -> csv::Writer<W> {
        let terminator = match self.line_ending {
            LineEnding::Lf => csv::Terminator::Any(b'\n'),
            LineEnding::Crlf => csv::Terminator::CRLF,
        };
        csv::WriterBuilder::new()
            .delimiter(self.delimiter.byte())
            .terminator(terminator)
            .quote_style(csv::QuoteStyle::Always)
            .from_writer(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(dialect: CsvDialect, text: &str) -> Vec<Vec<String>> {
        dialect
            .reader(text.as_bytes())
            .records()
            .map(|r| r.expect("record").iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn every_delimiter_and_line_ending_round_trips() {
        for delimiter in [
            ColumnDelimiter::Backquote,
            ColumnDelimiter::Caret,
            ColumnDelimiter::Comma,
            ColumnDelimiter::Pipe,
            ColumnDelimiter::Semicolon,
            ColumnDelimiter::Tab,
        ] {
            for line_ending in [LineEnding::Lf, LineEnding::Crlf] {
                let dialect = CsvDialect {
                    delimiter,
                    line_ending,
                };
                let mut writer = dialect.writer(Vec::new());
                let values = [
                    "a,b",
                    "semi;colon",
                    "pipe|`^\ttab",
                    "line\nbreak",
                    "quote\"d",
                ];
                writer.write_record(values).expect("write");
                let bytes = writer.into_inner().expect("flush");
                let text = String::from_utf8(bytes).expect("utf-8");
                assert!(text.ends_with(std::str::from_utf8(line_ending.bytes()).expect("ascii")));
                assert_eq!(
                    rows(dialect, &text),
                    vec![values.map(str::to_string).to_vec()]
                );
            }
        }
    }

    #[test]
    fn lf_jobs_keep_a_stray_carriage_return() {
        let dialect = CsvDialect::default();
        assert_eq!(
            rows(dialect, "Name\r\nA\r\n"),
            vec![vec!["Name\r".to_string()], vec!["A\r".to_string()]]
        );
        let crlf = CsvDialect {
            line_ending: LineEnding::Crlf,
            ..dialect
        };
        assert_eq!(
            rows(crlf, "Name\r\nA\r\n"),
            vec![vec!["Name".to_string()], vec!["A".to_string()]]
        );
    }

    #[test]
    fn wire_names() {
        let parsed: ColumnDelimiter = serde_json::from_str("\"SEMICOLON\"").expect("enum");
        assert_eq!(parsed, ColumnDelimiter::Semicolon);
        assert_eq!(ColumnDelimiter::Backquote.as_str(), "BACKQUOTE");
        let ending: LineEnding = serde_json::from_str("\"CRLF\"").expect("enum");
        assert_eq!(ending.as_str(), "CRLF");
        assert!(serde_json::from_str::<ContentType>("\"JSON\"").is_err());
    }
}
