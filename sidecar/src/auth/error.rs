//! Login errors: Salesforce's own `{"error","error_description"}` answers are kept word for word;
//! anything else the token endpoint sends is described, never quoted, because a token response that
//! fails to parse still carries access and refresh tokens, and error text ends up in logs, `check`,
//! `/healthz` and `sfsync.mapping.state_detail`.

use thiserror::Error;

/// The keys of Salesforce's token response (and the OAuth error body): the only names of the
/// response that an error message may repeat, because they come from us, not from the body.
const TOKEN_RESPONSE_KEYS: &[&str] = &[
    "access_token",
    "token_type",
    "instance_url",
    "id",
    "issued_at",
    "signature",
    "scope",
    "refresh_token",
    "error",
    "error_description",
];

#[derive(Debug, Error)]
pub enum AuthError {
    /// The token endpoint answered with an OAuth error, e.g. `invalid_grant` / `authentication failure`
    /// (made by [`AuthError::rejected`], which checks that `error` is an error code).
    #[error("Salesforce refused the login: {} ({error})", description.as_deref().unwrap_or("no description"))]
    Rejected {
        error: String,
        description: Option<String>,
    },
    #[error("cannot reach the Salesforce token endpoint {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the Salesforce token endpoint {url} answered HTTP {status}")]
    ServerError { url: String, status: u16 },
    /// `detail` is written by us (see [`unparsable_body`]); it never holds text of the response.
    #[error("unexpected answer from the Salesforce token endpoint {url}: {detail}")]
    UnexpectedResponse { url: String, detail: String },
    #[error("cannot sign the JWT bearer assertion")]
    JwtSigning(#[source] jsonwebtoken::errors::Error),
    /// The value itself is left out: it is part of the token response.
    #[error("the token response has an invalid {field}: {reason}")]
    InvalidTokenField {
        field: &'static str,
        reason: &'static str,
    },
    /// The access token would travel in clear text to this instance: refused.
    #[error("the token response names instance_url {origin}, which is not https: sfsync sends its access token only over https")]
    InsecureInstanceUrl { origin: String },
    /// The refresh token store (the database) could not be read or written: the login waits for it,
    /// because presenting a refresh token that rotation has replaced would revoke them all.
    #[error("cannot {action} the rotated refresh token in the database")]
    TokenStore {
        action: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another task's login attempt failed while this one waited for it.
    #[error("login failed: {reason}")]
    ConcurrentLoginFailed { reason: String, transient: bool },
}

impl AuthError {
    /// Salesforce's OAuth error answer. Its `error` is a code such as `invalid_grant` and its
    /// `error_description` a sentence for people, both shown word for word; an `error` that is no
    /// such code (a body of another shape that happened to fit, e.g. a JSON array holding tokens)
    /// means the body is not an OAuth error, and none of it is shown.
    pub fn rejected(url: &str, error: &str, description: Option<&str>) -> Self {
        let is_code = !error.is_empty()
            && error.len() <= 64
            && error
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte == b'_');
        if !is_code {
            return AuthError::UnexpectedResponse {
                url: url.to_string(),
                detail: "an error answer whose `error` is not an OAuth error code; the body is not shown because it may hold tokens".to_string(),
            };
        }
        AuthError::Rejected {
            error: error.to_string(),
            description: description.map(str::to_string),
        }
    }

    /// Worth retrying later: the endpoint was unreachable or failing, not refusing the credentials.
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Transport { .. } => true,
            AuthError::ServerError { status, .. } => *status >= 500,
            AuthError::ConcurrentLoginFailed { transient, .. } => *transient,
            AuthError::Rejected { error, .. } => error == "rate_limit_exceeded",
            AuthError::TokenStore { .. } => true,
            _ => false,
        }
    }
}

/// What is wrong with a token endpoint body that did not parse, in words of our own: the JSON
/// error's category and position, and a key name only when it is one of Salesforce's documented
/// keys. serde's messages are not used as they are: they quote the values they did not expect.
pub fn unparsable_body(error: &serde_json::Error, path: Option<&str>) -> String {
    use serde_json::error::Category;
    let position = format!("line {} column {}", error.line(), error.column());
    let what = match error.classify() {
        Category::Syntax => format!("is not valid JSON (syntax error at {position})"),
        Category::Eof => format!("is not valid JSON (it ends early, at {position})"),
        Category::Io => "cannot be read".to_string(),
        Category::Data => match (missing_key(error), known_key(path)) {
            (Some(key), _) => format!("has no `{key}`"),
            (None, Some(key)) => format!("has a value of the wrong type for `{key}`"),
            (None, None) => "does not have the shape of Salesforce's token response".to_string(),
        },
    };
    format!("the body {what}; it is not shown because it may hold tokens")
}

/// `missing field `x`` names a key of our own type: repeated only if it is a documented key.
fn missing_key(error: &serde_json::Error) -> Option<&'static str> {
    let text = error.to_string();
    let rest = text.strip_prefix("missing field `")?;
    let name = &rest[..rest.find('`')?];
    TOKEN_RESPONSE_KEYS.iter().copied().find(|key| *key == name)
}

fn known_key(path: Option<&str>) -> Option<&'static str> {
    let path = path?;
    TOKEN_RESPONSE_KEYS.iter().copied().find(|key| *key == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documented_keys_are_named() {
        assert_eq!(known_key(Some("instance_url")), Some("instance_url"));
        assert_eq!(known_key(Some("5AepSecretAsAKey")), None);
        assert_eq!(known_key(None), None);
        let missing = serde_json::from_str::<TokenErrorShape>("{}").expect_err("no error key");
        assert_eq!(missing_key(&missing), Some("error"));
    }

    #[test]
    fn oauth_errors_are_shown_only_when_they_are_oauth_errors() {
        let url = "https://login.example.com/services/oauth2/token";
        let refused = AuthError::rejected(url, "invalid_grant", Some("authentication failure"));
        assert_eq!(
            refused.to_string(),
            "Salesforce refused the login: authentication failure (invalid_grant)"
        );
        let odd = AuthError::rejected(url, "00D000000000001!ARsecret", Some("5AepSecret"));
        let text = format!("{odd} {odd:?}");
        assert!(!text.contains("ecret"), "{text}");
        assert!(matches!(odd, AuthError::UnexpectedResponse { .. }));
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct TokenErrorShape {
        error: String,
    }
}
