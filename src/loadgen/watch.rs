//! `orderflow loadgen watch`: the progress of a benchmark phase that another process does
//! (the processor draining preloaded commands, wrk loading the ingress), as an indicatif bar
//! on stderr when it is a terminal; nothing at all otherwise.

use std::time::Duration;

use anyhow::Context;

use crate::store::Store;

/// What a phase's progress is counted in.
pub enum Watched {
    /// Commands consumed, by the offsets stored in this database, out of a total.
    Consumed { store: Store, total: u64 },
    /// Seconds of a phase of fixed length.
    Seconds(u64),
}

/// Draws the bar until the phase is done (or the process is killed, as the scripts do).
pub async fn watch(watched: Watched) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    match watched {
        Watched::Consumed { store, total } => {
            let bar = crate::progress::bar(total, "commands consumed");
            loop {
                tick.tick().await;
                let consumed = store
                    .consumed_total()
                    .await
                    .context("reading the stored offsets")?;
                let consumed = u64::try_from(consumed).unwrap_or(0);
                bar.set_position(consumed.min(total));
                if consumed >= total {
                    bar.finish_and_clear();
                    return Ok(());
                }
            }
        }
        Watched::Seconds(seconds) => {
            let bar = crate::progress::bar(seconds, "seconds");
            let started = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                let elapsed = started.elapsed().as_secs();
                bar.set_position(elapsed.min(seconds));
                if elapsed >= seconds {
                    bar.finish_and_clear();
                    return Ok(());
                }
            }
        }
    }
}
