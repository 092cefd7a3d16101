//! Delivery by `orderflow all`'s dispatcher to a real receiver: Standard Webhooks signatures
//! (verified with the official library), version order per (endpoint, order), retries on the
//! schedule, rotation, retry and replay, and what 410, 429, redirects and persistent failure
//! do.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::receiver::{Answer, Receiver};
use super::{KEY, WAIT, app_with_webhooks, call, create_endpoint, order_with_four_events};
use crate::common::{TestEnv, eventually};

const FOUR: [&str; 4] = [
    "order.created",
    "order.confirmed",
    "order.shipped",
    "order.delivered",
];

#[tokio::test(flavor = "multi_thread")]
async fn events_arrive_signed_in_version_order_and_failures_hold_back_only_their_order() {
    let env = TestEnv::new(3).await;
    let app = app_with_webhooks(&env, &[]).await;
    let receiver = Receiver::start().await;
    let (a, a_secret) = create_endpoint(&app, json!({"url": receiver.url("/a")})).await;
    let (c, c_secret) = create_endpoint(&app, json!({"url": receiver.url("/c")})).await;
    receiver.secrets("/a", &[&a_secret]);
    receiver.secrets("/c", &[&c_secret]);
    receiver.answer("/c", Answer::Status(500));

    let order = order_with_four_events(&app).await;

    // A gets all four, in version order, each signed, each with the event's own id.
    let got = eventually("four deliveries to /a", WAIT, || async {
        let log = receiver.log_of("/a");
        (log.iter().filter(|r| r.delivered()).count() >= 4).then_some(log)
    })
    .await;
    let versions: Vec<u64> = got.iter().map(|r| r.version().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    let types: Vec<&str> = got
        .iter()
        .map(|r| r.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, FOUR);
    assert!(got.iter().all(|r| r.verified == [0] && r.signatures == 1));
    assert!(got.iter().all(|r| r.order_id() == Some(order.as_str())));
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.webhook_id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        got[0].body["data"]["event"]["event_id"],
        got[0].webhook_id.as_str()
    );
    assert!(
        got[0].body["data"]["event"]["payload"]["OrderCreated"].is_object(),
        "{}",
        got[0].body
    );

    // C fails: its first event is retried, and its later events wait for it.
    eventually("retries of /c", WAIT, || async {
        (receiver.log_of("/c").len() >= 3).then_some(())
    })
    .await;
    let failing = receiver.log_of("/c");
    assert!(
        failing.iter().all(|r| r.version() == Some(1)),
        "a later event went first"
    );
    receiver.answer("/c", Answer::Ok);
    let c_log = eventually("four deliveries to /c", WAIT, || async {
        let log = receiver.log_of("/c");
        (log.iter().filter(|r| r.delivered()).count() >= 4).then_some(log)
    })
    .await;
    let delivered: Vec<u64> = c_log
        .iter()
        .filter(|r| r.delivered())
        .map(|r| r.version().unwrap())
        .collect();
    assert_eq!(delivered, [1, 2, 3, 4]);

    // Every attempt is on record: status, latency, and nothing pending.
    let (status, page) = call(
        &app,
        None,
        Method::GET,
        &format!("/v1/webhooks/{c}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let first = items
        .iter()
        .find(|d| d["event_type"] == "order.created")
        .unwrap();
    assert_eq!(first["state"], "delivered");
    let attempts = first["attempts"].as_array().unwrap();
    assert_eq!(
        first["attempt_count"].as_u64().unwrap() as usize,
        attempts.len()
    );
    assert!(attempts.len() >= 3, "{first}");
    assert!(
        attempts[..attempts.len() - 1]
            .iter()
            .all(|a| a["status_code"] == 500)
    );
    assert_eq!(attempts.last().unwrap()["status_code"], 204);
    assert!(attempts.iter().all(|a| a["latency_ms"].is_u64()));
    // The schedule spaced them: 0 s, then ~300 ms, then ~600 ms (±20 %).
    let at = |i: usize| {
        chrono::DateTime::parse_from_rfc3339(attempts[i]["started_at"].as_str().unwrap()).unwrap()
    };
    assert!(
        at(1) - at(0) >= chrono::Duration::milliseconds(230),
        "{first}"
    );
    assert!(
        at(2) - at(1) >= chrono::Duration::milliseconds(470),
        "{first}"
    );

    // Rotation: during the overlap every delivery carries both signatures.
    let (status, rotated) = call(
        &app,
        None,
        Method::POST,
        &format!("/v1/webhooks/{a}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    receiver.secrets("/a", &[&a_secret, &new_secret]);
    order_with_four_events(&app).await;
    let after = eventually("deliveries after the rotation", WAIT, || async {
        let log = receiver.log_of("/a");
        (log.iter().filter(|r| r.delivered()).count() >= 8).then_some(log)
    })
    .await;
    for r in &after[4..] {
        assert_eq!(
            (r.signatures, r.verified.clone()),
            (2, vec![0, 1]),
            "{}",
            r.body
        );
    }

    // Retry by id sends that delivery again; replay by time range sends the range again.
    let (_, page) = call(
        &app,
        None,
        Method::GET,
        &format!("/v1/webhooks/{a}/deliveries?limit=1"),
        None,
    )
    .await;
    let newest = &page["items"][0];
    let (status, retried) = call(
        &app,
        None,
        Method::POST,
        &format!(
            "/v1/webhooks/{a}/deliveries/{}/retry",
            newest["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 202, "{retried}");
    eventually("the retried delivery", WAIT, || async {
        let again = receiver
            .log_of("/a")
            .iter()
            .filter(|r| r.webhook_id == newest["event_id"].as_str().unwrap())
            .count();
        (again == 2).then_some(())
    })
    .await;
    let (status, replayed) = call(
        &app,
        None,
        Method::POST,
        &format!("/v1/webhooks/{a}/replay"),
        Some(json!({"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), replayed["replayed"].as_u64()),
        (202, Some(8)),
        "{replayed}"
    );
    eventually("the replayed deliveries", WAIT, || async {
        (receiver
            .log_of("/a")
            .iter()
            .filter(|r| r.delivered())
            .count()
            >= 17)
            .then_some(())
    })
    .await;
    let (status, problem) = call(
        &app,
        None,
        Method::POST,
        &format!("/v1/webhooks/{a}/replay"),
        Some(json!({"since": "2100-01-01T00:00:00Z", "until": "2000-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), problem["errors"][0]["field"].as_str()),
        (422, Some("until"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gone_disables_throttled_waits_redirects_are_not_followed_and_persistent_failure_disables()
{
    let env = TestEnv::new(1).await;
    let app = app_with_webhooks(&env, &["--webhooks-disable-after", "2s"]).await;
    let receiver = Receiver::start().await;
    let (gone, _) = create_endpoint(
        &app,
        json!({"url": receiver.url("/gone"), "event_types": ["order.created"]}),
    )
    .await;
    let (_throttled, _) = create_endpoint(
        &app,
        json!({"url": receiver.url("/throttled"), "event_types": ["order.created"]}),
    )
    .await;
    let (redirect, _) = create_endpoint(
        &app,
        json!({"url": receiver.url("/redirect"), "event_types": ["order.created"]}),
    )
    .await;
    let (failing, _) = create_endpoint(
        &app,
        json!({"url": receiver.url("/failing"), "event_types": ["order.created"]}),
    )
    .await;
    let (_watcher, _) = create_endpoint(
        &app,
        json!({"url": receiver.url("/watcher"), "event_types": ["webhook.endpoint_disabled"]}),
    )
    .await;
    receiver.answer("/gone", Answer::Status(410));
    receiver.answer("/throttled", Answer::TooMany(2));
    receiver.answer("/redirect", Answer::Redirect);
    receiver.answer("/failing", Answer::Status(500));
    let (binary, _) = create_endpoint(
        &app,
        json!({"url": receiver.url("/binary"), "event_types": ["order.created"]}),
    )
    .await;
    receiver.answer("/binary", Answer::Binary500);

    let (status, accepted) = call(
        &app,
        None,
        Method::POST,
        "/v1/orders",
        Some(crate::common::order_body()),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");

    // 410: one attempt, the endpoint disabled as gone, the storefront told. Failing for
    // longer than --webhooks-disable-after (2 s) disables the endpoint too (so it does the
    // redirecting and the throttled ones, which fail as long).
    let reasons = eventually(
        "endpoint_disabled notices of /gone and /failing",
        WAIT,
        || async {
            let reasons: std::collections::HashMap<String, String> = receiver
                .log_of("/watcher")
                .iter()
                .map(|n| {
                    assert_eq!(n.body["type"], "webhook.endpoint_disabled");
                    (
                        n.body["data"]["endpoint_id"].as_str().unwrap().to_owned(),
                        n.body["data"]["reason"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (reasons.contains_key(&gone) && reasons.contains_key(&failing)).then_some(reasons)
        },
    )
    .await;
    assert_eq!(
        reasons.get(&gone).map(String::as_str),
        Some("gone"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.get(&failing).map(String::as_str),
        Some("failing"),
        "{reasons:?}"
    );
    assert_eq!(receiver.log_of("/gone").len(), 1);
    for (id, reason) in [(&gone, "gone"), (&failing, "failing")] {
        let (_, endpoint) =
            call(&app, None, Method::GET, &format!("/v1/webhooks/{id}"), None).await;
        assert_eq!(
            (
                endpoint["enabled"].clone(),
                endpoint["disabled_reason"].clone()
            ),
            (json!(false), json!(reason))
        );
    }
    // A disabled endpoint is attempted no more.
    let failed_so_far = receiver.log_of("/failing").len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.log_of("/failing").len(), failed_so_far);

    // 429 with Retry-After: 2 s: the next attempt waits for it, not for the schedule's 300 ms.
    let throttled = eventually("two attempts at /throttled", WAIT, || async {
        let log = receiver.log_of("/throttled");
        (log.len() >= 2).then_some(log)
    })
    .await;
    let gap = throttled[1].at - throttled[0].at;
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");

    // A binary answer is recorded as printable text (a NUL would have made every later
    // record fail, for every endpoint).
    let (_, page) = call(
        &app,
        None,
        Method::GET,
        &format!("/v1/webhooks/{binary}/deliveries"),
        None,
    )
    .await;
    let delivery = &page["items"][0];
    assert_eq!(delivery["last_status"], 500, "{delivery}");
    assert_eq!(delivery["last_error"], "500: broken\u{fffd}", "{delivery}");

    // A redirect is a failure, recorded as such, and not followed.
    let (_, page) = call(
        &app,
        None,
        Method::GET,
        &format!("/v1/webhooks/{redirect}/deliveries"),
        None,
    )
    .await;
    let delivery = &page["items"][0];
    assert_eq!(delivery["state"], "pending", "{delivery}");
    assert_eq!(delivery["last_status"], 302);
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .contains("not followed"),
        "{delivery}"
    );

    // Enabling again resumes the endpoint's pending delivery.
    receiver.answer("/gone", Answer::Ok);
    let (status, _) = call(
        &app,
        None,
        Method::PATCH,
        &format!("/v1/webhooks/{gone}"),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    eventually("the resumed delivery", WAIT, || async {
        receiver
            .log_of("/gone")
            .iter()
            .any(super::receiver::Received::delivered)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dispatcher_never_connects_to_an_internal_address_without_the_flag() {
    let env = TestEnv::new(1).await;
    // The dispatcher runs without --webhooks-allow-private; the endpoint is written by an
    // operator tool that had it (or DNS changed since it was checked).
    let app = env
        .start(&[
            "--webhooks-secret-key",
            KEY,
            "--webhooks-retry-schedule",
            "0s,200ms",
            "--webhooks-poll-interval",
            "100ms",
        ])
        .await;
    let receiver = Receiver::start().await;
    let endpoints = orderflow::webhooks::endpoints::Endpoints::new(
        orderflow::store::Store::connect(&env.database_url.clone().into(), None, 2)
            .await
            .unwrap(),
        orderflow::webhooks::secrets::SealingKey::parse(KEY).unwrap(),
        true,
    );
    let port = receiver.addr.port();
    // A name that only DNS (here /etc/hosts) says is loopback: the machine's own, as Debian
    // writes it into /etc/hosts. The resolver must drop its address.
    let host = String::from_utf8(
        std::process::Command::new("hostname")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map(Iterator::collect)
        .unwrap_or_default();
    assert!(
        !resolved.is_empty() && resolved.iter().all(|a| a.ip().is_loopback()),
        "this test needs the host name {host:?} to resolve to loopback, as /etc/hosts has it; it resolved to {resolved:?}"
    );
    let mut ids = Vec::new();
    for url in [
        format!("http://{host}:{port}/by-name"),
        format!("http://127.0.0.1:{port}/by-ip"),
    ] {
        let created = endpoints
            .create(
                "default",
                orderflow::webhooks::endpoints::NewEndpoint {
                    url,
                    event_types: vec![],
                    description: String::new(),
                    enabled: true,
                },
            )
            .await
            .unwrap();
        ids.push(created.endpoint.id);
    }
    let (status, _) = call(
        &app,
        None,
        Method::POST,
        "/v1/orders",
        Some(crate::common::order_body()),
    )
    .await;
    assert_eq!(status, 202);
    for id in &ids {
        let delivery = eventually("both attempts refused", WAIT, || async {
            let (_, page) = call(
                &app,
                None,
                Method::GET,
                &format!("/v1/webhooks/{id}/deliveries"),
                None,
            )
            .await;
            let d = page["items"][0].clone();
            (d["state"] == "failed").then_some(d)
        })
        .await;
        let error = delivery["last_error"].as_str().unwrap();
        assert!(error.contains("--webhooks-allow-private"), "{error}");
        assert_eq!(delivery["attempt_count"], 2);
    }
    assert!(
        receiver.log().is_empty(),
        "a request reached the internal address"
    );
}
