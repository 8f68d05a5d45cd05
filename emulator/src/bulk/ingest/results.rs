//! The three result files of an ingest job: `successfulResults/` (`sf__Id`, `sf__Created`, original columns),
//! `failedResults/` (`sf__Id`, `sf__Error`, original columns) and `unprocessedrecords/` (original columns only,
//! a header row even when empty). Rows come in upload order; values are quoted in the job's dialect.

use super::job::{IngestProgress, RowOutcome};
use crate::bulk::format::CsvDialect;

/// Which result file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultKind {
    Successful,
    Failed,
    Unprocessed,
}

/// Renders one result file from the job's current progress (rows processed so far).
pub fn render(
    progress: &IngestProgress,
    kind: ResultKind,
    dialect: CsvDialect,
) -> Result<Vec<u8>, csv::Error> {
    let mut writer = dialect.writer(Vec::new());
    let header: Vec<&str> = progress
        .data
        .as_ref()
        .map(|data| data.header.iter().collect())
        .unwrap_or_default();
    match kind {
        ResultKind::Successful => write_header(&mut writer, &["sf__Id", "sf__Created"], &header)?,
        ResultKind::Failed => write_header(&mut writer, &["sf__Id", "sf__Error"], &header)?,
        ResultKind::Unprocessed => write_header(&mut writer, &[], &header)?,
    }
    let Some(data) = &progress.data else {
        return finish(writer);
    };
    match kind {
        ResultKind::Unprocessed => {
            for row in data.rows.iter().skip(progress.outcomes.len()) {
                writer.write_record(row)?;
            }
        }
        ResultKind::Successful | ResultKind::Failed => {
            for (row, outcome) in data.rows.iter().zip(&progress.outcomes) {
                let (id, second) = match (kind, outcome) {
                    (ResultKind::Successful, RowOutcome::Succeeded { id, created }) => {
                        (id.as_str(), if *created { "true" } else { "false" })
                    }
                    (ResultKind::Failed, RowOutcome::Failed { id, error }) => (
                        id.as_ref().map(|id| id.as_str()).unwrap_or(""),
                        error.as_str(),
                    ),
                    _ => continue,
                };
                writer.write_field(id)?;
                writer.write_field(second)?;
                writer.write_record(row)?;
            }
        }
    }
    finish(writer)
}

fn write_header(
    writer: &mut csv::Writer<Vec<u8>>,
    leading: &[&str],
    header: &[&str],
) -> Result<(), csv::Error> {
    for name in leading {
        writer.write_field(name)?;
    }
    writer.write_record(header)
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bulk::ingest::upload::parse_upload;
    use crate::bulk::job::JobState;
    use crate::store::RecordId;

    fn progress(text: &str, outcomes: Vec<RowOutcome>) -> IngestProgress {
        IngestProgress {
            state: JobState::JobComplete,
            system_modstamp: 0,
            uploads: Vec::new(),
            error_message: None,
            data: Some(Arc::new(
                parse_upload(text.as_bytes(), CsvDialect::default()).expect("csv"),
            )),
            outcomes,
            records_failed: 0,
            total_processing_ms: 0,
            api_active_ms: 0,
            cancelled: false,
        }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn result_files_split_rows_by_outcome() {
        let id = RecordId::generate("001", 7);
        let state = progress(
            "Name,Phone\nAccount 1,1\n\"Bad, one\",2\nLater,3\n",
            vec![
                RowOutcome::Succeeded { id, created: true },
                RowOutcome::Failed {
                    id: None,
                    error: "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name".into(),
                },
            ],
        );
        let dialect = CsvDialect::default();
        assert_eq!(
            text(render(&state, ResultKind::Successful, dialect).expect("render")),
            format!("\"sf__Id\",\"sf__Created\",\"Name\",\"Phone\"\n\"{id}\",\"true\",\"Account 1\",\"1\"\n")
        );
        assert_eq!(
            text(render(&state, ResultKind::Failed, dialect).expect("render")),
            "\"sf__Id\",\"sf__Error\",\"Name\",\"Phone\"\n\"\",\"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name\",\"Bad, one\",\"2\"\n"
        );
        assert_eq!(
            text(render(&state, ResultKind::Unprocessed, dialect).expect("render")),
            "\"Name\",\"Phone\"\n\"Later\",\"3\"\n"
        );
    }
}
