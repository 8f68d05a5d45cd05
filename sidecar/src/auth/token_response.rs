//! Salesforce's token response: no `expires_in`, plus `instance_url`, `id`, `issued_at`, `signature`.
//! Implemented as an `oauth2::TokenResponse` of its own (no `#[serde(flatten)]`, which does not mix
//! with serde_json's `arbitrary_precision`).

use oauth2::basic::BasicTokenType;
use oauth2::{AccessToken, RefreshToken, Scope};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SalesforceTokenResponse {
    pub access_token: AccessToken,
    #[serde(default = "bearer", deserialize_with = "case_insensitive_token_type")]
    pub token_type: BasicTokenType,
    /// The base URL of every API call made with this token.
    pub instance_url: String,
    /// The identity URL `https://login.salesforce.com/id/<orgId>/<userId>`.
    pub id: String,
    /// Milliseconds since the epoch in every documented example (absent in the JWT flow).
    #[serde(default)]
    pub issued_at: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(
        rename = "scope",
        default,
        deserialize_with = "space_separated_scopes",
        skip_serializing
    )]
    pub scopes: Option<Vec<Scope>>,
    /// Only present when refresh-token rotation hands out a new one.
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

/// Salesforce says `Bearer`; oauth2's own parser only knows lower-case `bearer`.
fn case_insensitive_token_type<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BasicTokenType, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(match text.to_ascii_lowercase().as_str() {
        "bearer" => BasicTokenType::Bearer,
        "mac" => BasicTokenType::Mac,
        _ => BasicTokenType::Extension(text),
    })
}

fn space_separated_scopes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Scope>>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.map(|text| {
        text.split_whitespace()
            .map(|scope| Scope::new(scope.to_string()))
            .collect()
    }))
}

impl oauth2::TokenResponse for SalesforceTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<std::time::Duration> {
        None
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

/// `{"error","error_description"}` from the token endpoint (used where oauth2 does not parse it).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::TokenResponse;

    /// Salesforce Help: OAuth 2.0 username-password flow, username-password flow response, verbatim.
    const PASSWORD_RESPONSE: &str = r#"{"id":"https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P",
 "issued_at":"1278448832702",
 "instance_url":"https://yourInstance.salesforce.com/",
 "signature":"0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ=",
 "access_token":"00Dx0000000BV7z!AR8AQAxo9UfVkh8AlV0Gomt9Czx9LjHnSSpwBMmbRcgKFmxOtvxjTrKW19ye6PE3Ds1eQz3z8jr3W7_VbWmEu4Q8TVGSTHxs",
 "token_type":"Bearer"}"#;

    /// Salesforce Help: OAuth 2.0 refresh token flow, refresh-token flow response, verbatim.
    const REFRESH_RESPONSE: &str = r#"{"id":"https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P",
 "issued_at":"1278448384422",
 "instance_url":"https://yourInstance.salesforce.com/",
 "signature":"SSSbLO/gBhmmyNUvN18ODBDFYHzakxOMgqYtu+hDPsc=",
 "access_token":"00Dx0000000BV7z!AR8AQP0jITN80ESEsj5EbaZTFG0RNBaT1cyWk7TrqoDjoNIWQ2ME_sTZzBjfmOE6zMHq6y8PIW4eWze9JksNEkWUl.Cju7m4",
 "token_type":"Bearer","scope":"id api refresh_token"}"#;

    /// Salesforce Help: OAuth 2.0 JWT bearer flow, JWT bearer flow response, verbatim: no signature, no issued_at.
    const JWT_RESPONSE: &str = r#"{"access_token":"00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.39AsX.LVpxezPwuX5VAIrrbbHMuol7GQxnMeYMN7cj8EoWr78nt1u44zU31IbYNNJguseu",
 "scope":"web openid api id",
 "instance_url":"https://yourInstance.salesforce.com",
 "id":"https://yourInstance.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
 "token_type":"Bearer"}"#;

    /// Salesforce Help: OAuth 2.0 client credentials flow, client-credentials sample response, verbatim.
    const CLIENT_CREDENTIALS_RESPONSE: &str = r#"{"access_token":"your_access_token","signature":"your_signature",
 "scope":"cdp_query_api cdp_ingest_api api cdp_profile_api","instance_url":"instance_url",
 "id":"https://org_domain/id/00fdg000000dfgfgs/00gfd000000fsdghjr",
 "token_type":"Bearer","issued_at":"4564564565767"}"#;

    #[test]
    fn password_flow_response_parses() {
        let response: SalesforceTokenResponse =
            serde_json::from_str(PASSWORD_RESPONSE).expect("parses");
        assert_eq!(
            response.instance_url,
            "https://yourInstance.salesforce.com/"
        );
        assert_eq!(response.issued_at.as_deref(), Some("1278448832702"));
        assert_eq!(
            response.signature.as_deref(),
            Some("0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ=")
        );
        assert!(response
            .access_token()
            .secret()
            .starts_with("00Dx0000000BV7z!"));
        assert_eq!(response.token_type(), &BasicTokenType::Bearer);
        assert_eq!(response.expires_in(), None);
        assert!(response.refresh_token.is_none());
    }

    #[test]
    fn refresh_flow_response_has_scopes() {
        let response: SalesforceTokenResponse =
            serde_json::from_str(REFRESH_RESPONSE).expect("parses");
        let scopes: Vec<&str> = response
            .scopes()
            .expect("scopes")
            .iter()
            .map(|scope| scope.as_str())
            .collect();
        assert_eq!(scopes, ["id", "api", "refresh_token"]);
    }

    #[test]
    fn jwt_flow_response_without_signature_parses() {
        let response: SalesforceTokenResponse = serde_json::from_str(JWT_RESPONSE).expect("parses");
        assert!(response.issued_at.is_none());
        assert!(response.signature.is_none());
        assert_eq!(
            response.id,
            "https://yourInstance.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"
        );
    }

    #[test]
    fn client_credentials_response_parses() {
        let response: SalesforceTokenResponse =
            serde_json::from_str(CLIENT_CREDENTIALS_RESPONSE).expect("parses");
        assert_eq!(response.issued_at.as_deref(), Some("4564564565767"));
        assert_eq!(response.scopes.as_ref().map(Vec::len), Some(4));
    }

    #[test]
    fn token_error_bodies_parse() {
        let body: TokenErrorBody = serde_json::from_str(
            r#"{"error":"invalid_grant","error_description":"authentication failure"}"#,
        )
        .expect("parses");
        assert_eq!(body.error, "invalid_grant");
        assert_eq!(
            body.error_description.as_deref(),
            Some("authentication failure")
        );
        let body: TokenErrorBody = serde_json::from_str(
            r#"{"error":"invalid_grant","error_description":"Audience validation failed"}"#,
        )
        .expect("parses");
        assert_eq!(
            body.error_description.as_deref(),
            Some("Audience validation failed")
        );
    }

    #[test]
    fn oauth2_error_type_parses_salesforce_errors() {
        let body: oauth2::basic::BasicErrorResponse = serde_json::from_str(
            r#"{"error":"unsupported_grant_type","error_description":"grant type not supported"}"#,
        )
        .expect("parses");
        assert_eq!(body.error().to_string(), "unsupported_grant_type");
        assert_eq!(
            body.error_description().map(String::as_str),
            Some("grant type not supported")
        );
    }
}
