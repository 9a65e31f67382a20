//! Waiting for the operator's stop: SIGINT (Ctrl-C) or SIGTERM (systemd, `kill`).

use tokio::sync::watch;

/// Starts listening for a stop at once (so that a SIGTERM during start-up is a clean stop, not
/// the default kill) and returns a channel that turns `true` when one comes. Work that takes
/// long checks it and gives up; everything else waits for it.
pub fn listen() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        signal().await;
        let _ = tx.send(true);
        // Keep the sender, so that receivers never see the channel closed.
        std::future::pending::<()>().await;
    });
    rx
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
