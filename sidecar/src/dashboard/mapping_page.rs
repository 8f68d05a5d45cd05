//! `/mappings/<schema>/<object>`: the mapping's fields (type, read-only or not), its options, its
//! recent failed changes and conflicts, and the Pause, Resume and Reload buttons. Reload asks for
//! confirmation on a page of its own (no script needed).

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::Response;

use super::html::{
    action_form, escape, failure_note, hidden, or_dash, page_response, url_encode, Page,
};
use super::overview::progress_bar;
use super::queries::{self, MappingDetail};
use super::{admin_outcome, message_page, redirect_with_notice, DashboardState, Form, Visitor};

const RECENT: i32 = 20;

fn location(state: &DashboardState, object: &str) -> String {
    format!(
        "/mappings/{}/{}",
        url_encode(&state.schema),
        url_encode(object)
    )
}

pub async fn render(state: &DashboardState, visitor: &Visitor, object: &str) -> Response {
    let client = match state.reader().await {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let detail = match queries::mapping_detail(&client, &state.schema, object).await {
        Ok(Some(detail)) => detail,
        Ok(None) => {
            return message_page(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("No mapping of {object} in schema {}.", state.schema),
            )
        }
        Err(error) => {
            return message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot read the mapping",
                &crate::error_chain(&error),
            )
        }
    };
    let mut body = format!(
        r#"<h1>{} → {}.{}</h1>{}<p>Access <strong>{}</strong>, state <strong id="state">{}</strong>{}{}</p>"#,
        escape(&detail.object),
        escape(&state.schema),
        escape(&detail.table),
        state.read_only_banner(),
        escape(&detail.access),
        escape(&detail.state),
        progress_bar(&detail.state, detail.load_done, detail.load_expected),
        detail
            .detail
            .as_deref()
            .map(|text| format!(r#"<br><span class="muted">{}</span>"#, escape(text)))
            .unwrap_or_default()
    );
    body.push_str(&buttons(state, visitor, &detail));
    body.push_str(&fields_table(&detail));
    body.push_str(&options_table(&detail));

    body.push_str("<h2>Recent failed changes</h2>");
    match queries::failed_changes(&client, Some(&detail.object), None, RECENT).await {
        Ok(failures) if failures.is_empty() => body.push_str("<p>None.</p>"),
        Ok(failures) => {
            let _ = write!(
                body,
                r#"<p>{} shown; <a href="/errors?object={}">retry or ignore them on the errors page</a>.</p><div class="scroll"><table id="failures"><thead><tr><th>Change</th><th>Salesforce id</th><th>Row id</th><th>Action</th><th>Code</th><th>Message</th><th>When</th></tr></thead><tbody>"#,
                failures.len(),
                escape(&url_encode(&detail.object))
            );
            for failure in &failures {
                let _ = write!(
                    body,
                    r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="wrap">{}</td><td>{}</td></tr>"#,
                    failure.change_id,
                    or_dash(failure.sfid.as_deref()),
                    failure
                        .record_id
                        .map_or_else(|| "—".to_string(), |id| id.to_string()),
                    escape(&failure.action),
                    or_dash(failure.code.as_deref()),
                    or_dash(failure.message.as_deref()),
                    or_dash(failure.failed_at.as_deref()),
                );
            }
            body.push_str("</tbody></table></div>");
        }
        Err(error) => body.push_str(&failure_note("Cannot read the failed changes", &error)),
    }

    body.push_str("<h2>Recent conflicts</h2>");
    match queries::recent_conflicts(&client, &detail.object, RECENT).await {
        Ok(conflicts) if conflicts.is_empty() => body.push_str("<p>None.</p>"),
        Ok(conflicts) => {
            body.push_str(r#"<div class="scroll"><table id="conflicts"><thead><tr><th>Salesforce id</th><th>Row id</th><th>Field</th><th>Local value</th><th>Salesforce value</th><th>Policy</th><th>Resolved</th></tr></thead><tbody>"#);
            for conflict in &conflicts {
                let _ = write!(
                    body,
                    r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="wrap">{}</td><td class="wrap">{}</td><td>{}</td><td>{}</td></tr>"#,
                    or_dash(conflict.sfid.as_deref()),
                    conflict
                        .record_id
                        .map_or_else(|| "—".to_string(), |id| id.to_string()),
                    escape(&conflict.field),
                    or_dash(conflict.local_value.as_deref()),
                    or_dash(conflict.incoming_value.as_deref()),
                    escape(&conflict.policy),
                    or_dash(conflict.resolved_at.as_deref()),
                );
            }
            body.push_str("</tbody></table></div>");
        }
        Err(error) => body.push_str(&failure_note("Cannot read the conflicts", &error)),
    }
    let notice = state.notice(visitor);
    let title = detail.object.clone();
    let page = Page {
        notice: notice.as_deref(),
        ..Page::new(&title)
    };
    page_response(StatusCode::OK, page.render(&body))
}

fn buttons(state: &DashboardState, visitor: &Visitor, detail: &MappingDetail) -> String {
    if state.admin.is_none() {
        return String::new();
    }
    let base = location(state, &detail.object);
    let csrf = &visitor.session.csrf;
    format!(
        r#"<div id="actions">{}{}{}</div>"#,
        action_form(&format!("{base}/pause"), csrf, "", "Pause", "pause"),
        action_form(&format!("{base}/resume"), csrf, "", "Resume", "resume"),
        action_form(
            &format!("{base}/reload"),
            csrf,
            "",
            "Reload",
            "reload danger"
        ),
    )
}

fn fields_table(detail: &MappingDetail) -> String {
    let mut html = String::from(
        r#"<h2>Fields</h2><div class="scroll"><table id="fields"><thead><tr><th>Field</th><th>Column</th><th>Salesforce type</th><th>Postgres type</th><th>Writable</th></tr></thead><tbody>"#,
    );
    if detail.columns.is_empty() {
        html.push_str(
            r#"<tr><td colspan="5">Not described yet: the table is created once the sidecar has read the object's describe.</td></tr>"#,
        );
    }
    for column in &detail.columns {
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            or_dash(Some(&column.field)),
            escape(&column.column),
            or_dash(Some(&column.sf_type)),
            or_dash(Some(&column.sql_type)),
            if column.read_only || detail.access == "read_only" {
                "read-only"
            } else {
                "yes"
            }
        );
    }
    html.push_str("</tbody></table></div>");
    html
}

fn options_table(detail: &MappingDetail) -> String {
    let mut html =
        String::from(r#"<h2>Options</h2><div class="scroll"><table id="options"><tbody>"#);
    for (name, value) in &detail.options {
        let _ = write!(
            html,
            r#"<tr><th>{}</th><td class="wrap">{}</td></tr>"#,
            escape(name),
            or_dash(Some(value))
        );
    }
    html.push_str("</tbody></table></div>");
    html
}

/// Pause, Resume, or Reload (which first answers a confirmation page unless `confirm=yes`).
pub async fn act(
    state: &DashboardState,
    visitor: &Visitor,
    object: &str,
    action: &str,
    form: &Form,
) -> Response {
    let back = location(state, object);
    let admin = match state.admin() {
        Ok(admin) => admin,
        Err(error) => return redirect_with_notice(state, visitor, &back, error.to_string()),
    };
    let notice = match action {
        "pause" => admin_outcome(admin.pause(object).await, |()| {
            format!("{object} paused: nothing is read or written until it is resumed.")
        }),
        "resume" => admin_outcome(admin.resume(object).await, |()| {
            format!("{object} resumed.")
        }),
        "reload" if form.get("confirm") == Some("yes") => {
            admin_outcome(admin.reload(object).await, |()| {
                format!("{object} reloads: every record is read again from Salesforce.")
            })
        }
        "reload" => return confirm_reload(state, visitor, object),
        _ => {
            return message_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "Unknown action: use pause, resume or reload.",
            )
        }
    };
    redirect_with_notice(state, visitor, &back, notice)
}

fn confirm_reload(state: &DashboardState, visitor: &Visitor, object: &str) -> Response {
    let back = location(state, object);
    let body = format!(
        r#"<h1>Reload {}?</h1><p>Every record of the object is read again from Salesforce; this spends API calls in proportion to the object's size.</p><form method="post" action="{}/reload" id="confirm-reload">{}{}<button type="submit" class="danger">Confirm reload</button></form> <a href="{}">Cancel</a>"#,
        escape(object),
        escape(&back),
        hidden("csrf", &visitor.session.csrf),
        hidden("confirm", "yes"),
        escape(&back)
    );
    page_response(StatusCode::OK, Page::new("Confirm reload").render(&body))
}
