//! HTML building blocks: escaping (everything from users, Postgres or Salesforce goes through
//! [`escape`]), the page layout, the security headers every page carries, and form helpers.

use std::fmt::Write as _;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A paragraph saying what could not be read and why (the whole error chain), escaped: how a page
/// shows a part it could not build while the rest of the page still renders.
pub fn failure_note(what: &str, error: &(dyn std::error::Error + 'static)) -> String {
    format!(
        r#"<p class="error">{}: {}</p>"#,
        escape(what),
        escape(&crate::error_chain(error))
    )
}

/// Escapes text for HTML content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Percent-encodes a URL path segment or query value.
pub fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The navigation shown on every page behind the login.
const NAVIGATION: &str = r#"<nav><a href="/">Overview</a> <a href="/errors">Errors</a> <a href="/new">New mapping</a></nav>"#;

/// Options of one page's frame.
pub struct Page<'a> {
    pub title: &'a str,
    /// Seconds between the page's own reloads (the overview), none for pages with forms to fill.
    pub refresh_seconds: Option<u32>,
    pub navigation: bool,
    /// A one-time message (the result of the last action), shown above the content.
    pub notice: Option<&'a str>,
}

impl<'a> Page<'a> {
    pub fn new(title: &'a str) -> Self {
        Self {
            title,
            refresh_seconds: None,
            navigation: true,
            notice: None,
        }
    }

    /// The whole document around `body` (already HTML).
    pub fn render(&self, body: &str) -> String {
        let mut html = String::with_capacity(body.len() + 1024);
        html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.push_str(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#);
        if let Some(seconds) = self.refresh_seconds {
            let _ = write!(html, r#"<meta http-equiv="refresh" content="{seconds}">"#);
        }
        let _ = write!(
            html,
            r#"<title>{} · sfsync</title><link rel="stylesheet" href="/static/dashboard.css"></head><body><header><strong>sfsync</strong>"#,
            escape(self.title)
        );
        if self.navigation {
            html.push_str(NAVIGATION);
        }
        html.push_str("</header><main>");
        if let Some(notice) = self.notice {
            let _ = write!(
                html,
                r#"<p class="notice" id="notice">{}</p>"#,
                escape(notice)
            );
        }
        html.push_str(body);
        html.push_str("</main></body></html>\n");
        html
    }
}

/// A page answer with the given status; the security headers are added by the router's layer.
pub fn page_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// The headers every dashboard answer carries: no framing, no inline script or style, nothing
/// from elsewhere, no caching of pages that hold the org's data, no referrer leaving the page.
pub fn add_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        escape(name),
        escape(value)
    )
}

/// A POST form with the session's CSRF token and one submit button.
pub fn action_form(action: &str, csrf: &str, fields: &str, button: &str, class: &str) -> String {
    format!(
        r#"<form method="post" action="{}" class="inline">{}{fields}<button type="submit" class="{}">{}</button></form>"#,
        escape(action),
        hidden("csrf", csrf),
        escape(class),
        escape(button)
    )
}

/// `value` or an em dash for nothing.
pub fn or_dash(value: Option<&str>) -> String {
    match value {
        Some(text) if !text.is_empty() => escape(text),
        _ => "—".to_string(),
    }
}

/// The stylesheet, served from `/static/dashboard.css` (a Content-Security-Policy of `'self'`
/// forbids inline styles). Tables scroll sideways on a phone instead of overflowing the page.
pub const STYLESHEET: &str = r#"
body { font-family: system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
header { background: #0b3d5c; color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; }
header a { color: #fff; margin-right: .8rem; }
main { padding: 1rem; max-width: 80rem; margin: 0 auto; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; background: #fff; border: 1px solid #d8dde3; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { padding: .35rem .5rem; border-bottom: 1px solid #e3e7eb; text-align: left; vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 14rem; }
th { background: #eef1f4; }
.notice { background: #e6f4ea; border: 1px solid #9bd0a8; padding: .5rem; }
.error { background: #fdecea; border: 1px solid #f1a9a0; padding: .5rem; }
.readonly { background: #fff7e0; border: 1px solid #e8cf7a; padding: .5rem; }
form.inline { display: inline; }
button { padding: .3rem .7rem; margin: .1rem; cursor: pointer; }
button.danger { background: #b3261e; color: #fff; border: 1px solid #8c1d18; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
figure { margin: 0; background: #fff; border: 1px solid #d8dde3; padding: .5rem; }
figcaption { font-size: .9rem; font-weight: 600; }
svg { width: 100%; height: auto; }
svg .bar { fill: #2d7fb8; } svg .bar.failed { fill: #c0392b; } svg .line { fill: none; stroke: #2d7fb8; stroke-width: 2; }
svg .line.second { stroke: #e67e22; } svg .axis { stroke: #9aa5b1; stroke-width: 1; } svg text { font-size: 10px; fill: #56616d; }
svg .used { fill: #c0392b; } svg .left { fill: #27ae60; }
progress { width: 8rem; }
label { display: inline-block; margin: .2rem .6rem .2rem 0; }
fieldset { background: #fff; border: 1px solid #d8dde3; margin-bottom: 1rem; }
input[type=text], input[type=number], input[type=password] { padding: .3rem; max-width: 100%; }
.fields label { display: block; }
.muted { color: #6b7682; font-size: .85rem; }
@media (max-width: 40rem) { main { padding: .5rem; } th, td { padding: .3rem; } }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_layout_escapes_its_title_and_notice() {
        let page = Page {
            title: "<b>",
            refresh_seconds: Some(10),
            navigation: false,
            notice: Some("<i>done</i>"),
        };
        let html = page.render("");
        assert!(html.contains("&lt;b&gt; · sfsync"), "{html}");
        assert!(html.contains("&lt;i&gt;done&lt;/i&gt;"), "{html}");
        assert!(html.contains(r#"<meta http-equiv="refresh" content="10">"#));
        assert!(html.contains("name=\"viewport\""));
    }
}
