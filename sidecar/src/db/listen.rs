//! A connection that `LISTEN`s on a channel and turns its notifications into wake-ups (an extra
//! wake-up next to polling: `NOTIFY` is optional in the extension, so nothing may depend on it
//! arriving).
//!
//! Any role may `NOTIFY` any channel, so what arrives is not ours to trust or to store: each
//! notification only raises a flag (its payload is looked at once, by the caller's filter, and
//! dropped). However many arrive, memory stays the same and the listener sees at most one pending
//! wake-up; a burst of 300,000 notifications costs one wake-up, not 300,000 queued messages and as
//! many queue claims.

use futures::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::{Database, DbError};

/// Decides, per notification payload, whether it is worth a wake-up (e.g. about our schema); the
/// place to count notifications, too.
pub type WakeFilter = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// The wake-ups of a listening connection. Cheap: one flag, whatever was notified.
pub struct Wakeups {
    flag: watch::Receiver<()>,
}

impl Wakeups {
    /// Waits until something was notified since the last call (however many notifications that
    /// were), or returns `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<()> {
        self.flag.changed().await.ok()
    }

    /// Forgets a wake-up that is pending now (the caller is about to look anyway).
    pub fn clear(&mut self) {
        self.flag.mark_unchanged();
    }
}

impl Database {
    /// Opens a dedicated connection listening on `channel` (its session bound like `connect`'s).
    /// Notifications that pass `filter` raise the wake-up flag until the returned client is dropped
    /// or the connection breaks (then [`Wakeups::next`] returns `None`).
    pub async fn listen(
        &self,
        channel: &str,
        filter: WakeFilter,
    ) -> Result<(Client, Wakeups), DbError> {
        let connect_error = |source| DbError::Connect {
            target: self.settings.describe(),
            source,
        };
        let (sender, flag) = watch::channel(());
        let forwarder = Forwarder { sender, filter };
        let client = match &self.connector {
            None => {
                let (client, connection) = self
                    .settings
                    .config
                    .connect(NoTls)
                    .await
                    .map_err(connect_error)?;
                forwarder.spawn(connection);
                client
            }
            Some(connector) => {
                let (client, connection) = self
                    .settings
                    .config
                    .connect(connector.clone())
                    .await
                    .map_err(connect_error)?;
                forwarder.spawn(connection);
                client
            }
        };
        // the listening connection also runs queries (the reader's ticks): bound like any other
        if let Some(binding) = &self.session {
            super::session::open_session(&client, binding, false).await?;
        }
        let statement = format!("LISTEN {}", quote_identifier(channel));
        client
            .batch_execute(&statement)
            .await
            .map_err(|source| DbError::Query {
                what: "LISTEN",
                source,
            })?;
        Ok((client, Wakeups { flag }))
    }
}

/// Drives the connection and raises the flag for each notification that passes the filter.
struct Forwarder {
    sender: watch::Sender<()>,
    filter: WakeFilter,
}

impl Forwarder {
    fn spawn<S, T>(self, mut connection: tokio_postgres::Connection<S, T>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(async move {
            let mut messages =
                futures::stream::poll_fn(move |context| connection.poll_message(context));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(notification)) => {
                        if (self.filter)(notification.payload()) {
                            // replaces the flag's unit value: a wake-up already pending stays one
                            self.sender.send_replace(());
                        }
                        if self.sender.is_closed() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(error = %crate::error_chain(&error), "listening connection closed");
                        break;
                    }
                }
            }
            // dropping the sender ends `Wakeups::next` with None
        });
    }
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn many_raises_make_one_wake_up_and_a_dropped_sender_ends_them() {
        let (sender, flag) = watch::channel(());
        let mut wakeups = Wakeups { flag };
        for _ in 0..100_000 {
            sender.send_replace(());
        }
        assert_eq!(wakeups.next().await, Some(()));
        // nothing new since: the next wake-up waits for the next raise
        let pending = tokio::time::timeout(std::time::Duration::from_millis(20), wakeups.next());
        assert!(pending.await.is_err(), "one wake-up for the whole burst");
        sender.send_replace(());
        wakeups.clear();
        drop(sender);
        assert_eq!(wakeups.next().await, None);
    }
}
