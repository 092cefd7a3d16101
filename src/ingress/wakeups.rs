//! Wakes the long-polls of `GET /v1/commands/{id}?wait=` when a processor commits handled
//! commands (PostgreSQL LISTEN/NOTIFY), instead of each waiter polling the database.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long a waiter sleeps without a notification before it looks again anyway: a bound
/// on what a lost listener connection costs, not the normal path.
pub(super) const FALLBACK_POLL: Duration = Duration::from_secs(2);

/// Listens until `shutdown`, notifying every waiter on each commit; reconnects on failure.
pub(super) async fn listen(
    store: Store,
    handled: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    while !shutdown.is_cancelled() {
        let mut listener = match store.listen_commands_handled().await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "listening for handled commands; long-polls fall back to polling");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(FALLBACK_POLL) => continue,
                }
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                received = listener.recv() => match received {
                    Ok(_) => handled.notify_waiters(),
                    Err(error) => {
                        tracing::warn!(%error, "the handled-commands listener failed; reconnecting");
                        handled.notify_waiters();
                        break;
                    }
                },
            }
        }
    }
    Ok(())
}
