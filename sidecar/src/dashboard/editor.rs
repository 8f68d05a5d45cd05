//! `/new`, the mapping editor: an object (suggested from describeGlobal), then — one GET step,
//! `/new?object=Contact`, so it works without script — its fields ticked from its describe, the
//! access, upsert field, filter, streaming and poll interval. "Create mapping" calls
//! `sfsync.create_mapping` over the admin connection; when it refuses, the form comes back with the
//! values entered and the SQL API's message.

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::html::{escape, failure_note, hidden, page_response, url_encode, Page};
use super::{redirect_with_notice, DashboardState, Form, Visitor};

/// What was entered, to show the form again after a refusal.
#[derive(Debug, Clone, Default)]
pub struct Entered {
    pub fields: Vec<String>,
    pub access: String,
    pub upsert_field: String,
    pub filter: String,
    pub streaming: bool,
    pub poll_seconds: String,
    pub error: String,
}

impl Entered {
    fn from_form(form: &Form) -> Self {
        Self {
            fields: form
                .all("fields")
                .iter()
                .map(|field| field.to_string())
                .collect(),
            access: form.text("access").unwrap_or_default(),
            upsert_field: form.text("upsert_field").unwrap_or_default(),
            filter: form.text("filter").unwrap_or_default(),
            streaming: form.get("streaming").is_some(),
            poll_seconds: form.text("poll_seconds").unwrap_or_default(),
            error: String::new(),
        }
    }

    /// The `create_mapping` options; a poll interval that is not a number is refused here.
    fn options(&self) -> Result<Value, String> {
        let mut options = json!({});
        if !self.upsert_field.is_empty() {
            options["upsert_field"] = json!(self.upsert_field);
        }
        if !self.filter.is_empty() {
            options["filter"] = json!(self.filter);
        }
        if self.streaming {
            options["streaming"] = json!(true);
        }
        if !self.poll_seconds.is_empty() {
            let seconds: i64 = self
                .poll_seconds
                .parse()
                .map_err(|_| "Poll seconds must be a whole number.".to_string())?;
            options["poll_seconds"] = json!(seconds);
        }
        Ok(options)
    }
}

pub async fn render(
    state: &DashboardState,
    visitor: &Visitor,
    object: Option<&str>,
    entered: Option<&Entered>,
) -> Response {
    let backend = match state.backend() {
        Ok(backend) => backend,
        Err(response) => return *response,
    };
    let mut body = format!("<h1>New mapping</h1>{}", state.read_only_banner());
    if let Some(entered) = entered.filter(|entered| !entered.error.is_empty()) {
        let _ = write!(
            body,
            r#"<p class="error" id="form-error">{}</p>"#,
            escape(&entered.error)
        );
    }
    // step 1: the object, with suggestions from the org
    let suggestions = match backend.salesforce.describe_global().await {
        Ok(global) => global
            .sobjects
            .iter()
            .map(|summary| {
                format!(
                    r#"<option value="{}">{}</option>"#,
                    escape(&summary.name),
                    escape(summary.label.as_deref().unwrap_or_default())
                )
            })
            .collect::<String>(),
        Err(error) => {
            body.push_str(&failure_note("Cannot list the org's objects", &error));
            String::new()
        }
    };
    let _ = write!(
        body,
        r#"<form method="get" action="/new" id="choose-object"><label>Object <input type="text" name="object" list="objects" value="{}" autocomplete="off" required></label><datalist id="objects">{suggestions}</datalist> <button type="submit">Show fields</button></form>"#,
        escape(object.unwrap_or_default())
    );
    let Some(object) = object else {
        return finish(state, visitor, body);
    };
    // step 2: the object's fields and the options
    let describe = match backend.salesforce.describe_sobject(object).await {
        Ok(describe) => describe,
        Err(error) => {
            let _ = write!(
                body,
                r#"<p class="error" id="describe-error">Cannot describe {}: {}</p>"#,
                escape(object),
                escape(&crate::error_chain(&error))
            );
            return finish(state, visitor, body);
        }
    };
    let default = Entered {
        access: "read_only".into(),
        ..Entered::default()
    };
    let entered = entered.unwrap_or(&default);
    let _ = write!(
        body,
        r#"<form method="post" action="/new" id="create-mapping">{}{}<fieldset class="fields"><legend>Fields of {} ({})</legend>"#,
        hidden("csrf", &visitor.session.csrf),
        hidden("object", &describe.name),
        escape(&describe.name),
        escape(describe.label.as_deref().unwrap_or_default()),
    );
    let mut external_ids = String::new();
    for field in &describe.fields {
        let checked = entered
            .fields
            .iter()
            .any(|name| name.eq_ignore_ascii_case(&field.name));
        let writable = if field.createable || field.updateable {
            ""
        } else {
            ", read-only"
        };
        let _ = write!(
            body,
            r#"<label><input type="checkbox" name="fields" value="{name}"{checked}> {name} <span class="muted">{kind}{writable} · {label}</span></label>"#,
            name = escape(&field.name),
            checked = if checked { " checked" } else { "" },
            kind = escape(&field.field_type),
            label = escape(field.label.as_deref().unwrap_or_default()),
        );
        if field.external_id || field.id_lookup && field.field_type != "id" {
            let _ = write!(
                external_ids,
                r#"<option value="{}"></option>"#,
                escape(&field.name)
            );
        }
    }
    let radio = |value: &str, label: &str| {
        format!(
            r#"<label><input type="radio" name="access" value="{value}"{}> {label}</label>"#,
            if entered.access == value {
                " checked"
            } else {
                ""
            }
        )
    };
    let _ = write!(
        body,
        r#"</fieldset><fieldset><legend>Options</legend><div>Access {}{}</div><div><label>Upsert field <input type="text" name="upsert_field" list="external-ids" value="{}"></label><datalist id="external-ids">{external_ids}</datalist></div><div><label>Filter (SOQL WHERE) <input type="text" name="filter" value="{}" size="40"></label></div><div><label><input type="checkbox" name="streaming"{}> Streaming (Change Data Capture)</label></div><div><label>Poll seconds <input type="number" name="poll_seconds" min="1" max="86400" value="{}"></label></div></fieldset>{}</form>"#,
        radio("read_only", "read-only (Salesforce → Postgres)"),
        radio("read_write", "read-write (both ways)"),
        escape(&entered.upsert_field),
        escape(&entered.filter),
        if entered.streaming { " checked" } else { "" },
        escape(&entered.poll_seconds),
        // without the admin connection nothing can be created: no button that could only fail
        if state.admin.is_some() {
            r#"<button type="submit" id="create">Create mapping</button>"#
        } else {
            r#"<p class="readonly">Creating a mapping needs the admin connection.</p>"#
        },
    );
    finish(state, visitor, body)
}

fn finish(state: &DashboardState, visitor: &Visitor, body: String) -> Response {
    let notice = state.notice(visitor);
    let page = Page {
        notice: notice.as_deref(),
        ..Page::new("New mapping")
    };
    page_response(StatusCode::OK, page.render(&body))
}

pub async fn create(state: &DashboardState, visitor: &Visitor, form: &Form) -> Response {
    let Some(object) = form.text("object") else {
        return render(state, visitor, None, None).await;
    };
    let mut entered = Entered::from_form(form);
    if entered.access.is_empty() {
        entered.access = "read_only".into();
    }
    let outcome = match (entered.options(), state.admin()) {
        (Err(error), _) => Err(error),
        (Ok(_), Err(error)) => Err(error.to_string()),
        (Ok(options), Ok(admin)) => admin
            .create_mapping(&object, &entered.fields, &entered.access, options)
            .await
            .map_err(|error| crate::error_chain(&error)),
    };
    match outcome {
        Ok(_) => {
            let location = format!(
                "/mappings/{}/{}",
                url_encode(&state.schema),
                url_encode(&object)
            );
            redirect_with_notice(
                state,
                visitor,
                &location,
                format!("Mapping of {object} created; the sidecar describes and loads it now."),
            )
        }
        Err(error) => {
            entered.error = error;
            render(state, visitor, Some(&object), Some(&entered)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_carry_only_what_was_entered() {
        let form = Form::parse(
            b"object=Contact&fields=LastName&fields=Email&access=read_write&upsert_field=Ext__c&poll_seconds=30&streaming=on&filter=",
        );
        let entered = Entered::from_form(&form);
        assert_eq!(entered.fields, ["LastName", "Email"]);
        assert_eq!(
            entered.options().unwrap(),
            json!({"upsert_field": "Ext__c", "streaming": true, "poll_seconds": 30})
        );
        let form = Form::parse(b"object=Contact&poll_seconds=soon");
        assert!(Entered::from_form(&form).options().is_err());
    }
}
