//! Who may see the dashboard: the token (compared in constant time), sessions with a random id and
//! a CSRF token each (from the operating system's CSPRNG via `rand`), the session cookie, and the
//! one-time notices an action leaves for the next page.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "sfsync_session";
/// A session ends this long after it started; the token opens a new one.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most: a client logging in in a loop cannot grow memory without bound.
const MAX_SESSIONS: usize = 1000;

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Carried by every form as a hidden field and checked on every POST.
    pub csrf: String,
    started: Instant,
    notice: Option<String>,
}

/// The token and the live sessions.
pub struct Sessions {
    token_digest: [u8; 32],
    sessions: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(token: &Secret<String>) -> Self {
        Self {
            token_digest: digest(token.expose()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `candidate` is the dashboard token. Both sides are hashed first, so the comparison
    /// takes the same time whatever the length or the first differing byte.
    pub fn token_matches(&self, candidate: &str) -> bool {
        constant_time_equal(&digest(candidate), &self.token_digest)
    }

    /// Starts a session; returns its id (the cookie's value).
    pub fn start(&self) -> String {
        let id = random_token();
        let session = Session {
            csrf: random_token(),
            started: Instant::now(),
            notice: None,
        };
        let mut sessions = self.lock();
        sessions.retain(|_, session| session.started.elapsed() < SESSION_LIFETIME);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.started)
                .map(|(id, _)| id.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), session);
        id
    }

    /// The session the request's cookie names, if it is live.
    pub fn find(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = session_cookie(headers)?;
        let sessions = self.lock();
        // compared through the map's lookup: ids are 256 random bits, nothing to learn from timing
        let session = sessions.get(&id)?;
        (session.started.elapsed() < SESSION_LIFETIME).then(|| (id.clone(), session.clone()))
    }

    /// Leaves a message for the session's next page.
    pub fn set_notice(&self, id: &str, notice: String) {
        if let Some(session) = self.lock().get_mut(id) {
            session.notice = Some(notice);
        }
    }

    /// The message left for this page, once.
    pub fn take_notice(&self, id: &str) -> Option<String> {
        self.lock()
            .get_mut(id)
            .and_then(|session| session.notice.take())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a submitted CSRF token is the session's.
pub fn csrf_matches(session: &Session, submitted: Option<&str>) -> bool {
    submitted
        .is_some_and(|submitted| constant_time_equal(&digest(submitted), &digest(&session.csrf)))
}

/// The `Set-Cookie` value of a new session: never readable by scripts, never sent by other sites.
pub fn session_cookie_header(id: &str) -> String {
    format!("{COOKIE_NAME}={id}; HttpOnly; SameSite=Strict; Path=/")
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
}

/// 32 random bytes as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn constant_time_equal(left: &[u8; 32], right: &[u8; 32]) -> bool {
    let difference = left
        .iter()
        .zip(right.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn sessions() -> Sessions {
        Sessions::new(&Secret::new("a-long-dashboard-token".to_string()))
    }

    #[test]
    fn only_the_exact_token_matches() {
        let sessions = sessions();
        assert!(sessions.token_matches("a-long-dashboard-token"));
        assert!(!sessions.token_matches("a-long-dashboard-toke"));
        assert!(!sessions.token_matches("a-long-dashboard-token "));
        assert!(!sessions.token_matches(""));
    }

    #[test]
    fn a_started_session_is_found_by_its_cookie_and_checks_its_csrf_token() {
        let sessions = sessions();
        let id = sessions.start();
        assert_eq!(id.len(), 64);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE_NAME}={id}")).unwrap(),
        );
        let (found, session) = sessions.find(&headers).expect("session");
        assert_eq!(found, id);
        assert!(csrf_matches(&session, Some(&session.csrf.clone())));
        assert!(!csrf_matches(&session, Some("forged")));
        assert!(!csrf_matches(&session, None));
        assert_ne!(session.csrf, id);

        let mut forged = HeaderMap::new();
        forged.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE_NAME}=0000")).unwrap(),
        );
        assert!(sessions.find(&forged).is_none());
        assert!(sessions.find(&HeaderMap::new()).is_none());
    }

    #[test]
    fn a_notice_is_shown_once() {
        let sessions = sessions();
        let id = sessions.start();
        sessions.set_notice(&id, "paused".into());
        assert_eq!(sessions.take_notice(&id).as_deref(), Some("paused"));
        assert_eq!(sessions.take_notice(&id), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict() {
        let header = session_cookie_header("abc");
        assert_eq!(
            header,
            "sfsync_session=abc; HttpOnly; SameSite=Strict; Path=/"
        );
    }
}
