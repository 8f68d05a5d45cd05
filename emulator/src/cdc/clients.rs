//! CometD client sessions: ids handed out by `/meta/handshake`, the browser cookie each is bound to, their
//! subscriptions with a read cursor each, long-poll bookkeeping, and expiry of clients that stop reconnecting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::distr::{Distribution, Uniform};
use tokio::sync::Notify;

use super::channels::ChannelTarget;
use crate::store::RecordId;

/// The cookie set on the handshake response; later requests of the session must send it back.
pub const BROWSER_COOKIE: &str = "BAYEUX_BROWSER";

/// One subscribed channel and how far it has been delivered.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub channel: String,
    pub target: ChannelTarget,
    /// The last sequence number looked at for this subscription.
    pub cursor: u64,
}

/// Mutable session state.
#[derive(Debug)]
pub struct ClientState {
    pub subscriptions: Vec<Subscription>,
    /// When the last connect ended (or the session started); the expiry clock runs from here.
    last_seen: Instant,
    connects_in_flight: u32,
    /// Bumped by every connect: an older waiting connect sees it and returns.
    connect_generation: u64,
    connected_before: bool,
}

/// A handshaken client.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    pub browser: String,
    pub user: RecordId,
    pub state: Mutex<ClientState>,
    gone: AtomicBool,
    /// Wakes the waiting connect to look again (new subscription, disconnect, drop, newer connect).
    pub wake: Notify,
}

impl Client {
    /// True once disconnected, dropped or expired.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    fn mark_gone(&self) {
        self.gone.store(true, Ordering::Release);
        self.wake.notify_waiters();
    }

    fn expired(&self, expiry: Duration) -> bool {
        let state = self.state.lock();
        state.connects_in_flight == 0 && state.last_seen.elapsed() > expiry
    }

    /// Registers a connect; the guard ends it (also when the request is abandoned).
    pub fn begin_connect(self: &Arc<Client>) -> ConnectGuard {
        let (generation, first) = {
            let mut state = self.state.lock();
            state.connects_in_flight += 1;
            state.connect_generation += 1;
            let first = !state.connected_before;
            state.connected_before = true;
            (state.connect_generation, first)
        };
        // An older connect of this client still waiting must return now.
        self.wake.notify_waiters();
        ConnectGuard {
            client: self.clone(),
            generation,
            first,
        }
    }
}

/// A connect in progress.
pub struct ConnectGuard {
    client: Arc<Client>,
    generation: u64,
    /// The client's first connect returns at once (it only picks up the advice), as CometD servers do.
    pub first: bool,
}

impl ConnectGuard {
    /// A newer connect of the same client arrived.
    pub fn superseded(&self) -> bool {
        self.client.state.lock().connect_generation != self.generation
    }
}

impl Drop for ConnectGuard {
    fn drop(&mut self) {
        let mut state = self.client.state.lock();
        state.connects_in_flight = state.connects_in_flight.saturating_sub(1);
        state.last_seen = Instant::now();
    }
}

/// Every live client.
#[derive(Debug)]
pub struct ClientRegistry {
    clients: Mutex<HashMap<String, Arc<Client>>>,
    /// A client that has not connected for this long is forgotten (Salesforce: 40 s).
    expiry: Duration,
}

/// `41kdiuvgig2tfxdh9weakuiwyh`-shaped ids.
fn random_id(length: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    // Invariant: the range is non-empty.
    let pick = Uniform::new(0, ALPHABET.len()).expect("non-empty alphabet");
    (0..length)
        .map(|_| ALPHABET[pick.sample(&mut rng)] as char)
        .collect()
}

/// A fresh browser cookie value.
pub fn new_browser_id() -> String {
    random_id(32)
}

impl ClientRegistry {
    pub fn new(expiry: Duration) -> ClientRegistry {
        ClientRegistry {
            clients: Mutex::new(HashMap::new()),
            expiry,
        }
    }

    /// Starts a session (and forgets expired ones).
    pub fn create(&self, browser: String, user: RecordId) -> Arc<Client> {
        let expiry = self.expiry;
        let mut clients = self.clients.lock();
        clients.retain(|_, client| {
            let keep = !client.expired(expiry);
            if !keep {
                client.mark_gone();
            }
            keep
        });
        let id = loop {
            let candidate = random_id(26);
            if !clients.contains_key(&candidate) {
                break candidate;
            }
        };
        let client = Arc::new(Client {
            id: id.clone(),
            browser,
            user,
            state: Mutex::new(ClientState {
                subscriptions: Vec::new(),
                last_seen: Instant::now(),
                connects_in_flight: 0,
                connect_generation: 0,
                connected_before: false,
            }),
            gone: AtomicBool::new(false),
            wake: Notify::new(),
        });
        clients.insert(id, client.clone());
        client
    }

    /// A live client; an expired one is removed and reported unknown.
    pub fn find(&self, id: &str) -> Option<Arc<Client>> {
        let expiry = self.expiry;
        let mut clients = self.clients.lock();
        let client = clients.get(id)?.clone();
        if client.expired(expiry) {
            clients.remove(id);
            client.mark_gone();
            return None;
        }
        Some(client)
    }

    /// Ends one session (`/meta/disconnect`).
    pub fn remove(&self, id: &str) -> bool {
        let removed = self.clients.lock().remove(id);
        match removed {
            Some(client) => {
                client.mark_gone();
                true
            }
            None => false,
        }
    }

    /// Forgets every client (`POST /__emulator/cometd/drop-clients`); returns how many there were.
    pub fn drop_all(&self) -> usize {
        let dropped: Vec<Arc<Client>> = self.clients.lock().drain().map(|(_, c)| c).collect();
        for client in &dropped {
            client.mark_gone();
        }
        dropped.len()
    }

    /// Live (unexpired) clients.
    pub fn count(&self) -> usize {
        let expiry = self.expiry;
        self.clients
            .lock()
            .values()
            .filter(|c| !c.expired(expiry))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> RecordId {
        RecordId::generate("005", 1)
    }

    #[test]
    fn ids_look_like_salesforce_client_ids() {
        let id = random_id(26);
        assert_eq!(id.len(), 26);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn clients_expire_only_between_connects() {
        let registry = ClientRegistry::new(Duration::from_millis(30));
        let client = registry.create(new_browser_id(), user());
        let guard = client.begin_connect();
        assert!(guard.first);
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            registry.find(&client.id).is_some(),
            "a waiting connect keeps it alive"
        );
        drop(guard);
        assert!(registry.find(&client.id).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(registry.find(&client.id).is_none());
        assert!(client.is_gone());
    }

    #[test]
    fn newer_connect_supersedes_and_drop_all_forgets() {
        let registry = ClientRegistry::new(Duration::from_secs(40));
        let client = registry.create(new_browser_id(), user());
        let older = client.begin_connect();
        let newer = client.begin_connect();
        assert!(older.superseded() && !newer.superseded() && !newer.first);
        let other = registry.create(new_browser_id(), user());
        assert_eq!(registry.count(), 2);
        assert!(registry.remove(&other.id));
        assert!(other.is_gone() && !registry.remove(&other.id));
        assert_eq!(registry.drop_all(), 1);
        assert!(client.is_gone() && registry.find(&client.id).is_none());
    }
}
