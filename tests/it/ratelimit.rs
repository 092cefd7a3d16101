//! Per-key rate limits shared by ingress replicas (GCRA in Redis), and the per-process
//! fallback when Redis is down.

use crate::common;

use std::time::{Duration, Instant};

use common::TestEnv;
use orderflow::domain::StorefrontId;
use orderflow::store::Store;

async fn key(env: &TestEnv) -> String {
    let store = Store::connect(&env.database_url.clone().into(), None, 2)
        .await
        .unwrap();
    orderflow::ingress::auth::create_key(&store, &StorefrontId::parse("shop").unwrap())
        .await
        .unwrap()
        .1
}

/// Sends GET /v1/orders with `key` round-robin over `urls` from `workers` loops for
/// `duration`; returns (admitted, refused).
async fn drive(urls: &[String], key: &str, workers: usize, duration: Duration) -> (usize, usize) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + duration;
    let mut loops = Vec::new();
    for w in 0..workers {
        let (client, urls, key) = (client.clone(), urls.to_vec(), key.to_owned());
        loops.push(tokio::spawn(async move {
            let (mut ok, mut limited, mut n) = (0, 0, w);
            while Instant::now() < deadline {
                let response = client
                    .get(format!("{}/v1/orders?limit=1", urls[n % urls.len()]))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap();
                n += 1;
                match response.status().as_u16() {
                    200 => ok += 1,
                    429 => {
                        assert!(response.headers().contains_key("retry-after"));
                        assert!(response.headers().contains_key("ratelimit-limit"));
                        limited += 1;
                    }
                    other => panic!("unexpected status {other}"),
                }
                // Fine-grained: an admission comes when the first request after the limit's
                // next slot arrives, so sparse requests would each lose the time they wait.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (ok, limited)
        }));
    }
    let mut totals = (0, 0);
    for l in loops {
        let (ok, limited) = l.await.unwrap();
        totals = (totals.0 + ok, totals.1 + limited);
    }
    totals
}

#[tokio::test(flavor = "multi_thread")]
async fn two_ingress_processes_share_one_limit_per_key() {
    const RATE: usize = 20;
    let env = TestEnv::new(1).await;
    let api_key = key(&env).await;
    let limit = [
        "--auth",
        "api-key",
        "--rate-limit",
        "20",
        "--rate-burst",
        "1",
    ];
    let (_a, url_a) = env.spawn_ingress(&limit).await;
    let (_b, url_b) = env.spawn_ingress(&limit).await;
    let seconds = 5;
    let (admitted, refused) =
        drive(&[url_a, url_b], &api_key, 6, Duration::from_secs(seconds)).await;
    let expected = RATE * seconds as usize;
    println!("admitted {admitted}, refused {refused}, expected about {expected}");
    assert!(
        admitted.abs_diff(expected) * 10 <= expected,
        "admitted {admitted} is not within 10% of {expected}"
    );
    assert!(
        refused > admitted,
        "driven well above the rate: {refused} refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_redis_each_process_still_limits() {
    let env = TestEnv::new(1).await;
    let api_key = key(&env).await;
    let (_ingress, url) = env
        .spawn_ingress(&[
            "--auth",
            "api-key",
            "--rate-limit",
            "5",
            "--rate-burst",
            "1",
            "--redis-url",
            "redis://127.0.0.1:1",
        ])
        .await;
    let (admitted, refused) = drive(&[url], &api_key, 2, Duration::from_secs(2)).await;
    println!("without redis: admitted {admitted}, refused {refused}");
    // Never silently unlimited: at most 5/s (+1 burst) for 2 s, and the rest refused.
    assert!(
        (1..=11).contains(&admitted),
        "at most about 5/s for 2 s: {admitted}"
    );
    assert!(refused > admitted, "{refused} refused");
}
