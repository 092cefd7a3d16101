//! Transient failures (a dependency that does not answer) are waited out: retried with
//! exponential backoff and jitter, every retry counted
//! (`orderflow_batch_retries_total`) and logged at warn. Failures caused by a record's content
//! never come here: they are refused or rejected where they happen (see `batch`).

use std::future::Future;
use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder, Retryable};
use tokio_util::sync::CancellationToken;

use crate::metrics;

const FIRST: Duration = Duration::from_millis(100);
/// Before jitter: backon's jitter adds up to the delay itself, so waits stay under 5 s.
const MAX: Duration = Duration::from_millis(2_500);
/// The longest wait between tries of a blocking step (it holds a thread and a lock).
const BLOCKING_MAX: Duration = Duration::from_millis(250);

/// 100 ms doubling to 2.5 s, each delay plus a random part of itself, so that members
/// retrying against the same dependency spread out.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(FIRST)
        .with_max_delay(MAX)
        .with_jitter()
}

fn retried(what: &str, error: &anyhow::Error, delay: Duration) {
    metrics::batch_retried();
    tracing::warn!(step = what, error = format!("{error:#}"), retry_in = ?delay, "transient failure; retrying");
}

/// Runs `step` until it succeeds, or returns None once `shutdown` is cancelled. A step in
/// progress is never cut short (a batch's commit must finish or fail on its own); a cancel
/// during the wait ends the wait, and the step gets one last try before None.
pub(super) async fn until_ok<T, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    step: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let cancel = shutdown.clone();
    let wait = move |delay: Duration| {
        let cancel = cancel.clone();
        async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(delay) => {}
            }
        }
    };
    step.retry(backoff().without_max_times())
        .sleep(wait)
        .when(|_| !shutdown.is_cancelled())
        .notify(|error, delay| retried(what, error, delay))
        .await
        .ok()
}

/// Runs `step` until it succeeds or `budget` (wall-clock, tries included) has passed; then
/// its last error, logged.
pub(super) async fn within<T, F, Fut>(what: &str, budget: Duration, step: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + budget;
    let last = std::sync::Mutex::new(None::<String>);
    let tried = step
        .retry(backoff().without_max_times())
        .sleep(tokio::time::sleep)
        .when(|_| tokio::time::Instant::now() < deadline)
        .notify(|error, delay| {
            *last.lock().expect("lock") = Some(format!("{error:#}"));
            retried(what, error, delay);
        });
    let result = match tokio::time::timeout_at(deadline, tried).await {
        Ok(result) => result,
        Err(_) => Err(anyhow::anyhow!(
            "{what}: no success within {budget:?}; last error: {}",
            last.lock().expect("lock").as_deref().unwrap_or("none yet")
        )),
    };
    if let Err(error) = &result {
        tracing::warn!(
            step = what,
            error = format!("{error:#}"),
            "gave up after {budget:?}"
        );
    }
    result
}

/// A blocking `step` (a librdkafka call made under a lock), tried `times` times at most.
pub(super) fn blocking<T>(
    what: &str,
    times: usize,
    step: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    step.retry(
        backoff()
            .with_max_delay(BLOCKING_MAX)
            .with_max_times(times.saturating_sub(1)),
    )
    .sleep(std::thread::sleep)
    .notify(|error, delay| retried(what, error, delay))
    .call()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_transient_failure_is_retried_until_it_passes() {
        let calls = AtomicUsize::new(0);
        let shutdown = CancellationToken::new();
        let got = until_ok("test", &shutdown, || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0..4 => Err(anyhow::anyhow!("down")),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(got, Some(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_ends_the_wait_after_one_last_try() {
        let calls = AtomicUsize::new(0);
        let shutdown = CancellationToken::new();
        let cancel = shutdown.clone();
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            cancel.cancel();
        });
        let got: Option<()> = until_ok("test", &shutdown, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(anyhow::anyhow!("down"))
        })
        .await;
        assert_eq!(got, None);
        // 30 s of backoff capped at 5 s is at least 6 tries, and the wait did not run on.
        let tries = calls.load(Ordering::SeqCst);
        assert!(tries >= 6, "{tries} tries");
        assert!(
            started.elapsed() < Duration::from_secs(31),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_counts_the_tries_themselves() {
        // Each try takes 4 s (a connect timeout): the budget is wall-clock, not just waits.
        let started = tokio::time::Instant::now();
        let got: anyhow::Result<()> = within("test", Duration::from_secs(10), || async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            Err(anyhow::anyhow!("timed out"))
        })
        .await;
        assert!(got.is_err());
        assert!(
            started.elapsed() <= Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_gives_up_with_the_last_error() {
        let started = tokio::time::Instant::now();
        let got: anyhow::Result<()> = within("test", Duration::from_secs(20), || async {
            Err(anyhow::anyhow!("still down"))
        })
        .await;
        let error = got.unwrap_err().to_string();
        assert!(error.contains("still down"), "{error}");
        let waited = started.elapsed();
        assert!(
            waited <= Duration::from_secs(20) && waited >= Duration::from_secs(15),
            "wall-clock, tries included: {waited:?}"
        );
    }

    #[test]
    fn a_blocking_step_is_tried_the_given_number_of_times() {
        let mut calls = 0;
        let got: anyhow::Result<()> = blocking("test", 3, || {
            calls += 1;
            Err(anyhow::anyhow!("no"))
        });
        assert!(got.is_err());
        assert_eq!(calls, 3);
    }
}
