//! `/`: every mapping of the schema with its counts and times, a progress bar while it loads, and
//! charts of the last hour (records written and read, commit → Salesforce latency, API allowance).
//! The page reloads itself every few seconds.

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::Response;

use super::charts::{self, Line};
use super::history::{current_minute, MINUTES};
use super::html::{escape, failure_note, or_dash, page_response, url_encode, Page};
use super::queries::{self, MappingSummary, WriteMinute};
use super::{DashboardState, Visitor};

const REFRESH_SECONDS: u32 = 10;

pub async fn render(state: &DashboardState, visitor: &Visitor) -> Response {
    let client = match state.reader().await {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let mut body = format!(
        r#"<h1>Mappings of schema {}</h1>{}"#,
        escape(&state.schema),
        state.read_only_banner()
    );
    match queries::mappings(&client, &state.schema).await {
        Ok(mappings) if mappings.is_empty() => body
            .push_str(r#"<p id="no-mappings">No mapping yet. <a href="/new">Create one</a>.</p>"#),
        Ok(mappings) => body.push_str(&mapping_table(&state.schema, &mappings)),
        Err(error) => body.push_str(&failure_note("Cannot read the mappings", &error)),
    }
    body.push_str(r#"<h2>Last hour</h2><div class="charts">"#);
    let now = current_minute();
    match queries::write_history(&client).await {
        Ok(history) => body.push_str(&write_charts(&history, now)),
        Err(error) => body.push_str(&failure_note("Cannot read the write history", &error)),
    }
    let hour = state.history.last_hour(now);
    let read: Vec<f64> = hour.iter().map(|minute| minute.read as f64).collect();
    body.push_str(&charts::bars(
        "Records read from Salesforce per minute",
        "chart-read",
        &read,
        None,
    ));
    let left: Vec<Option<f64>> = hour
        .iter()
        .map(|minute| minute.api_left.map(|left| left as f64))
        .collect();
    let used: Vec<Option<f64>> = hour
        .iter()
        .map(|minute| minute.api_used.map(|used| used as f64))
        .collect();
    body.push_str(&charts::lines(
        "API calls used and left (org's 24 hours)",
        "chart-api-history",
        &[
            Line {
                label: "used",
                values: &used,
            },
            Line {
                label: "left",
                values: &left,
            },
        ],
        "",
    ));
    let usage = state
        .backend
        .get()
        .and_then(|backend| backend.salesforce.api_usage());
    body.push_str(&charts::allowance(
        "API allowance now",
        "chart-api",
        usage.map(|usage| usage.used),
        usage.map(|usage| usage.remaining()),
    ));
    body.push_str("</div>");
    let notice = state.notice(visitor);
    let page = Page {
        refresh_seconds: Some(REFRESH_SECONDS),
        notice: notice.as_deref(),
        ..Page::new("Overview")
    };
    page_response(StatusCode::OK, page.render(&body))
}

fn mapping_table(schema: &str, mappings: &[MappingSummary]) -> String {
    let mut html = String::from(
        r#"<div class="scroll"><table id="mappings"><thead><tr><th>Object</th><th>Table</th><th>Access</th><th>State</th><th>Rows</th><th>Pending</th><th>Failed</th><th>Lag</th><th>Last read</th><th>Last write</th><th>Drift</th></tr></thead><tbody>"#,
    );
    for mapping in mappings {
        let link = format!(
            "/mappings/{}/{}",
            url_encode(schema),
            url_encode(&mapping.object)
        );
        let _ = write!(
            html,
            r#"<tr data-object="{object}"><td><a href="{link}">{object}</a></td><td>{table}</td><td>{access}</td><td class="state">{state}{progress}{detail}</td><td>{rows}</td><td>{pending}</td><td>{failed}</td><td>{lag}</td><td>{read}</td><td>{write}</td><td>{drift}</td></tr>"#,
            object = escape(&mapping.object),
            link = escape(&link),
            table = escape(&mapping.table),
            access = escape(&mapping.access),
            state = escape(&mapping.state),
            progress = progress_bar(&mapping.state, mapping.load_done, mapping.load_expected),
            detail = mapping
                .detail
                .as_deref()
                .map(|detail| format!(r#"<br><span class="muted">{}</span>"#, escape(detail)))
                .unwrap_or_default(),
            rows = mapping
                .rows
                .map_or_else(|| "?".to_string(), |rows| rows.to_string()),
            pending = mapping.pending,
            failed = if mapping.failed > 0 {
                format!(
                    r#"<a href="/errors?object={}">{}</a>"#,
                    escape(&url_encode(&mapping.object)),
                    mapping.failed
                )
            } else {
                "0".to_string()
            },
            lag = mapping
                .lag_seconds
                .map_or_else(|| "—".to_string(), |lag| format!("{lag:.0} s")),
            read = or_dash(mapping.last_read.as_deref()),
            write = or_dash(mapping.last_write.as_deref()),
            drift = mapping
                .drift
                .map_or_else(|| "—".to_string(), |drift| drift.to_string()),
        );
    }
    html.push_str("</tbody></table></div>");
    html
}

/// While LOADING or RELOADING: records loaded out of the total.
pub fn progress_bar(state: &str, done: Option<i64>, expected: Option<i64>) -> String {
    if state != "LOADING" && state != "RELOADING" {
        return String::new();
    }
    match (done, expected) {
        (Some(done), Some(expected)) if expected > 0 => format!(
            r#"<br><progress class="load" value="{}" max="{expected}">{done} / {expected}</progress> <span class="load-figures">{done} of {expected} records</span>"#,
            done.min(expected),
        ),
        _ => r#"<br><span class="load-figures">counting records…</span>"#.to_string(),
    }
}

/// Written (and failed) per minute and the latency percentiles, over the hour ending `now`.
fn write_charts(history: &[WriteMinute], now: i64) -> String {
    let minutes: Vec<Option<&WriteMinute>> = (0..MINUTES as i64)
        .rev()
        .map(|ago| now - ago)
        .map(|minute| history.iter().find(|entry| entry.minute == minute))
        .collect();
    let written: Vec<f64> = minutes
        .iter()
        .map(|entry| entry.map_or(0.0, |entry| entry.written as f64))
        .collect();
    let failed: Vec<f64> = minutes
        .iter()
        .map(|entry| entry.map_or(0.0, |entry| entry.failed as f64))
        .collect();
    let p50: Vec<Option<f64>> = minutes
        .iter()
        .map(|entry| entry.and_then(|entry| entry.latency_p50_ms))
        .collect();
    let p99: Vec<Option<f64>> = minutes
        .iter()
        .map(|entry| entry.and_then(|entry| entry.latency_p99_ms))
        .collect();
    let mut html = charts::bars(
        "Records written to Salesforce per minute (failed in red)",
        "chart-written",
        &written,
        Some(&failed),
    );
    html.push_str(&charts::lines(
        "Commit → Salesforce latency",
        "chart-latency",
        &[
            Line {
                label: "p50",
                values: &p50,
            },
            Line {
                label: "p99",
                values: &p99,
            },
        ],
        " ms",
    ));
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loading_mapping_shows_its_progress_and_a_synced_one_none() {
        let bar = progress_bar("LOADING", Some(2000), Some(5000));
        assert!(bar.contains(r#"value="2000" max="5000""#), "{bar}");
        assert!(bar.contains("2000 of 5000 records"));
        assert_eq!(progress_bar("SYNCED", Some(5000), Some(5000)), "");
        assert!(progress_bar("RELOADING", None, None).contains("counting"));
    }

    #[test]
    fn mapping_rows_escape_what_salesforce_and_postgres_said() {
        let html = mapping_table(
            "salesforce",
            &[MappingSummary {
                object: "Odd<__c".into(),
                table: "odd".into(),
                access: "read_only".into(),
                state: "ERROR".into(),
                detail: Some("<script>x</script>".into()),
                rows: None,
                pending: 0,
                failed: 2,
                last_read: None,
                last_write: None,
                lag_seconds: None,
                drift: None,
                load_expected: None,
                load_done: None,
            }],
        );
        assert!(html.contains("Odd&lt;__c"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("/mappings/salesforce/Odd%3C__c"), "{html}");
        assert!(html.contains("/errors?object=Odd%3C__c"), "{html}");
    }
}
