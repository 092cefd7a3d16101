//! The webhook benchmark's two ends (`scripts/bench-webhooks.sh`): a receiver that answers
//! at once and reports the rate it was sent to, and the ceiling — the dispatcher's own HTTP
//! client posting one pre-signed body in a loop, as many at once as the dispatcher may.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::webhooks::attempt::{Answer, Sender};
use crate::webhooks::secrets::{SigningKeys, SigningSecret};

/// Answers every request 204 at once; after `expect` requests prints how many, their rate
/// (from the first to the last) and their average body size, then stops.
pub async fn receiver(listener: tokio::net::TcpListener, expect: u64) -> anyhow::Result<()> {
    let count = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::OnceLock::<Instant>::new());
    let done = Arc::new(Notify::new());
    let app = {
        let (count, bytes, first, done) =
            (count.clone(), bytes.clone(), first.clone(), done.clone());
        axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let (count, bytes, first, done) =
                (count.clone(), bytes.clone(), first.clone(), done.clone());
            async move {
                first.get_or_init(Instant::now);
                bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                if count.fetch_add(1, Ordering::Relaxed) + 1 == expect {
                    done.notify_one();
                }
                axum::http::StatusCode::NO_CONTENT
            }
        })
    };
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    done.notified().await;
    let elapsed = first.get().map(Instant::elapsed).unwrap_or_default();
    let received = count.load(Ordering::Relaxed);
    println!(
        "received={received} seconds={:.2} received_per_s={:.0} avg_body_bytes={}",
        elapsed.as_secs_f64(),
        received.saturating_sub(1) as f64 / elapsed.as_secs_f64().max(1e-9),
        bytes.load(Ordering::Relaxed) / received.max(1)
    );
    server.abort();
    Ok(())
}

/// POSTs one signed body of `body_bytes` to `url` `requests` times, `concurrency` at once,
/// with the dispatcher's client; prints the rate.
pub async fn ceiling(
    url: &str,
    requests: u64,
    concurrency: usize,
    body_bytes: usize,
) -> anyhow::Result<()> {
    let url: reqwest::Url = url.parse()?;
    let sender = Sender::new(Duration::from_secs(15), true)?;
    let body = axum::body::Bytes::from(sample_body(body_bytes));
    let id = uuid::Uuid::new_v4().to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature =
        SigningKeys(vec![SigningSecret::generate()]).signature_header(&id, timestamp, &body)?;
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (sender, url, body, id, signature) = (
            sender.clone(),
            url.clone(),
            body.clone(),
            id.clone(),
            signature.clone(),
        );
        let (next, failed) = (next.clone(), failed.clone());
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let now = chrono::Utc::now();
                let answer = sender
                    .post_signed(&url, &id, timestamp, &signature, body.clone(), now)
                    .await;
                if !matches!(answer, Answer::Delivered { .. }) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    anyhow::ensure!(failed == 0, "{failed} ceiling requests failed");
    println!(
        "ceiling_requests={requests} seconds={elapsed:.2} ceiling_per_s={:.0}",
        requests as f64 / elapsed
    );
    Ok(())
}

/// A JSON body of about `bytes` bytes shaped like a delivery.
fn sample_body(bytes: usize) -> Vec<u8> {
    let head = r#"{"type":"order.created","timestamp":"2026-12-03T10:00:00Z","data":{"order_id":"0b9f7c1e-0000-4000-8000-0000000000aa","version":1,"event":{"pad":""#;
    let tail = r#""}}}"#;
    let pad = bytes.saturating_sub(head.len() + tail.len());
    [head.as_bytes(), "x".repeat(pad).as_bytes(), tail.as_bytes()].concat()
}
