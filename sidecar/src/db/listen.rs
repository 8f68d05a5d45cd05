//! A connection that `LISTEN`s on a channel and forwards notifications (an extra wake-up next to
//! polling: `NOTIFY` is optional in the extension, so nothing may depend on it arriving).

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::{Database, DbError};

/// One `NOTIFY` received: the channel and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

impl Database {
    /// Opens a dedicated connection listening on `channel` (its session bound like `connect`'s). Notifications arrive on the receiver
    /// until the returned client is dropped or the connection breaks (then the receiver ends).
    pub async fn listen(
        &self,
        channel: &str,
    ) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), DbError> {
        let connect_error = |source| DbError::Connect {
            target: self.settings.describe(),
            source,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let client = match &self.connector {
            None => {
                let (client, connection) = self
                    .settings
                    .config
                    .connect(NoTls)
                    .await
                    .map_err(connect_error)?;
                spawn_forwarder(connection, sender);
                client
            }
            Some(connector) => {
                let (client, connection) = self
                    .settings
                    .config
                    .connect(connector.clone())
                    .await
                    .map_err(connect_error)?;
                spawn_forwarder(connection, sender);
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
        Ok((client, receiver))
    }
}

fn spawn_forwarder<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    sender: mpsc::UnboundedSender<Notification>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut messages =
            futures::stream::poll_fn(move |context| connection.poll_message(context));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    let forwarded = Notification {
                        channel: notification.channel().to_string(),
                        payload: notification.payload().to_string(),
                    };
                    if sender.send(forwarded).is_err() {
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
    });
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
