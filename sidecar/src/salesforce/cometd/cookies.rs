//! The few cookies a CometD session must send back (Salesforce sets them on the handshake).

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, SET_COOKIE};

#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    cookies: BTreeMap<String, String>,
}

impl CookieJar {
    /// Takes every `Set-Cookie` of a response (name and value only; attributes do not matter on a
    /// single-host session that lives minutes).
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let name = name.trim();
                if !name.is_empty() {
                    self.cookies
                        .insert(name.to_string(), value.trim().to_string());
                }
            }
        }
    }

    /// The `Cookie` header value, if there is any cookie.
    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(
            self.cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    pub fn clear(&mut self) {
        self.cookies.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn set_cookie_headers_are_sent_back() {
        let mut headers = HeaderMap::new();
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("BAYEUX_BROWSER=abc123; Path=/; Secure"),
        );
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("sfdc-stream=!xyz; Path=/cometd"),
        );
        let mut jar = CookieJar::default();
        assert_eq!(jar.header(), None);
        jar.absorb(&headers);
        assert_eq!(
            jar.header().as_deref(),
            Some("BAYEUX_BROWSER=abc123; sfdc-stream=!xyz")
        );
    }
}
