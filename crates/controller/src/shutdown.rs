//! One shutdown signal for the whole process: SIGTERM (what Kubernetes sends) or ctrl-c, or
//! [`Shutdown::trigger`]. The server stops on it, the cycle task finishes the cycle in flight,
//! and only then does `main` release the Lease, so a standby never acts while this one does.

use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;

/// The shared signal; clones see the same one.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// A signal that only [`Shutdown::trigger`] sets.
    pub fn manual() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// A signal set by SIGTERM or ctrl-c. The handlers are installed before this returns, so a
    /// SIGTERM from then on is a shutdown, never the default instant exit (which would leave
    /// the Lease held).
    pub fn on_signals() -> std::io::Result<Self> {
        let me = Self::manual();
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let on_signal = me.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let term = term.recv();
            #[cfg(not(unix))]
            let term = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = term => tracing::info!("SIGTERM received, shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!("ctrl-c received, shutting down"),
            }
            on_signal.trigger();
        });
        Ok(me)
    }

    /// Sets the signal.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Completes once the signal is set.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.rx.clone();
        async move {
            let _ = rx.wait_for(|set| *set).await;
        }
    }
}
