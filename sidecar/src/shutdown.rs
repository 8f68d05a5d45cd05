//! Graceful shutdown: a `tokio::sync::watch` channel flipped once by SIGTERM/SIGINT (or by code);
//! every task holds a [`ShutdownSignal`] and stops claiming new work when it fires.

use std::sync::Arc;

use tokio::sync::watch;

/// The sending side: whoever may stop the process.
#[derive(Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

/// The receiving side, cheap to clone into every task.
#[derive(Clone)]
pub struct ShutdownSignal {
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    pub fn new() -> Self {
        let (sender, _receiver) = watch::channel(false);
        Self {
            sender: Arc::new(sender),
        }
    }

    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            receiver: self.sender.subscribe(),
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownSignal {
    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves once shutdown has been requested (immediately if it already was).
    pub async fn triggered(&mut self) {
        // An error means every sender is gone: nobody can ask any more, so treat it as a shutdown.
        let _ = self.receiver.wait_for(|stopping| *stopping).await;
    }
}

/// Triggers `shutdown` on the first SIGTERM or SIGINT.
pub fn trigger_on_signals(shutdown: Shutdown) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        shutdown.trigger();
        tracing::info!(signal = name, "shutting down");
    }))
}

#[cfg(test)]
mod tests {
    use super::Shutdown;
    use std::time::Duration;

    #[tokio::test]
    async fn every_signal_sees_the_trigger() {
        let shutdown = Shutdown::new();
        let mut early = shutdown.signal();
        assert!(!early.is_triggered());
        let waiter = tokio::spawn(async move { early.triggered().await });
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
        let mut late = shutdown.signal();
        assert!(late.is_triggered());
        late.triggered().await;
    }
}
