//! `/errors`: the changes Salesforce refused that are still FAILED (object, Salesforce id and row
//! id, action, Salesforce's code, message and fields, when, attempts), filtered by object and by
//! code, with Retry and Ignore per row and for everything shown.

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::Response;

use super::html::{
    action_form, escape, failure_note, hidden, or_dash, page_response, url_encode, Page,
};
use super::queries::{self, FailedChange};
use super::{admin_outcome, redirect_with_notice, DashboardState, Form, Visitor};

/// The most failures one page shows (and "all shown" acts on).
const LIMIT: i32 = 500;

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Retry,
    Ignore,
}

/// The filters as a query string, to come back to the same view after an action.
fn view_location(object: Option<&str>, code: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(object) = object {
        parts.push(format!("object={}", url_encode(object)));
    }
    if let Some(code) = code {
        parts.push(format!("code={}", url_encode(code)));
    }
    if parts.is_empty() {
        "/errors".to_string()
    } else {
        format!("/errors?{}", parts.join("&"))
    }
}

pub async fn render(state: &DashboardState, visitor: &Visitor, filters: &Form) -> Response {
    let object = filters.text("object");
    let code = filters.text("code");
    let client = match state.reader().await {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let mut body = format!(
        r#"<h1>Failed changes</h1>{}<form method="get" action="/errors" id="filters"><label>Object <input type="text" name="object" value="{}"></label><label>Code <input type="text" name="code" value="{}"></label><button type="submit">Filter</button> <a href="/errors">All</a></form>"#,
        state.read_only_banner(),
        escape(object.as_deref().unwrap_or_default()),
        escape(code.as_deref().unwrap_or_default()),
    );
    match queries::failed_changes(&client, object.as_deref(), code.as_deref(), LIMIT).await {
        Ok(failures) if failures.is_empty() => {
            body.push_str(r#"<p id="no-failures">No failed change.</p>"#)
        }
        Ok(failures) => body.push_str(&failure_table(
            state,
            visitor,
            &failures,
            object.as_deref(),
            code.as_deref(),
        )),
        Err(error) => body.push_str(&failure_note("Cannot read the failed changes", &error)),
    }
    let notice = state.notice(visitor);
    let page = Page {
        notice: notice.as_deref(),
        ..Page::new("Errors")
    };
    page_response(StatusCode::OK, page.render(&body))
}

fn failure_table(
    state: &DashboardState,
    visitor: &Visitor,
    failures: &[FailedChange],
    object: Option<&str>,
    code: Option<&str>,
) -> String {
    let csrf = &visitor.session.csrf;
    let view = format!(
        "{}{}",
        object.map(|o| hidden("object", o)).unwrap_or_default(),
        code.map(|c| hidden("code", c)).unwrap_or_default()
    );
    let mut html = format!(r#"<p>{} failed change(s) shown.</p>"#, failures.len());
    if state.admin.is_some() {
        let all: String = failures
            .iter()
            .map(|failure| hidden("ids", &failure.change_id.to_string()))
            .collect();
        let fields = format!("{view}{all}");
        let _ = write!(
            html,
            r#"<div id="bulk-actions">{}{}</div>"#,
            action_form(
                "/errors/retry",
                csrf,
                &fields,
                "Retry all shown",
                "retry-all"
            ),
            action_form(
                "/errors/ignore",
                csrf,
                &fields,
                "Ignore all shown",
                "ignore-all danger"
            ),
        );
    }
    html.push_str(r#"<div class="scroll"><table id="failures"><thead><tr><th>Object</th><th>Salesforce id</th><th>Row id</th><th>Action</th><th>Code</th><th>Message</th><th>Fields</th><th>When</th><th>Attempts</th><th></th></tr></thead><tbody>"#);
    for failure in failures {
        let actions = if state.admin.is_some() {
            let fields = format!("{view}{}", hidden("ids", &failure.change_id.to_string()));
            format!(
                "{}{}",
                action_form("/errors/retry", csrf, &fields, "Retry", "retry"),
                action_form("/errors/ignore", csrf, &fields, "Ignore", "ignore")
            )
        } else {
            String::new()
        };
        let _ = write!(
            html,
            r#"<tr data-change="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="code">{}</td><td class="wrap">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>"#,
            failure.change_id,
            escape(&failure.object),
            or_dash(failure.sfid.as_deref()),
            failure
                .record_id
                .map_or_else(|| "—".to_string(), |id| id.to_string()),
            escape(&failure.action),
            or_dash(failure.code.as_deref()),
            or_dash(failure.message.as_deref()),
            or_dash(failure.fields.as_deref()),
            or_dash(failure.failed_at.as_deref()),
            failure
                .attempts
                .map_or_else(|| "—".to_string(), |attempts| attempts.to_string()),
        );
    }
    html.push_str("</tbody></table></div>");
    html
}

pub async fn act(
    state: &DashboardState,
    visitor: &Visitor,
    form: &Form,
    action: Action,
) -> Response {
    let back = view_location(form.text("object").as_deref(), form.text("code").as_deref());
    let ids: Result<Vec<i64>, _> = form.all("ids").iter().map(|id| id.trim().parse()).collect();
    let ids = match ids {
        Ok(ids) if !ids.is_empty() => ids,
        Ok(_) => return redirect_with_notice(state, visitor, &back, "No change selected.".into()),
        Err(_) => {
            return redirect_with_notice(
                state,
                visitor,
                &back,
                "Failed: the change ids were not numbers.".into(),
            )
        }
    };
    let admin = match state.admin() {
        Ok(admin) => admin,
        Err(error) => return redirect_with_notice(state, visitor, &back, error.to_string()),
    };
    let notice = match action {
        Action::Retry => admin_outcome(admin.retry(&ids).await, |count| {
            format!("{count} change(s) queued again with the rows' current values.")
        }),
        Action::Ignore => admin_outcome(admin.ignore(&ids).await, |count| {
            format!("{count} change(s) ignored.")
        }),
    };
    redirect_with_notice(state, visitor, &back, notice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_is_kept_across_an_action() {
        assert_eq!(view_location(None, None), "/errors");
        assert_eq!(
            view_location(Some("Contact"), Some("REQUIRED_FIELD_MISSING")),
            "/errors?object=Contact&code=REQUIRED_FIELD_MISSING"
        );
        assert_eq!(view_location(Some("a&b"), None), "/errors?object=a%26b");
    }
}
