//! `orderflow dlq`: dead letters listed, shown and replayed through the running processor. A
//! replay after a fix applies the command once, however often it is replayed; a record that
//! fails again comes back with its count raised and stops at the cap.

use crate::common;

use std::time::Duration;

use common::{TestApp, TestEnv, create, eventually, produce};
use orderflow::codec::{Codec, Subject};
use orderflow::dlq::{self, Format, ReplayOptions, ReplayOutcome, ReplaySource, Selection};
use orderflow::domain::OrderId;
use orderflow::store::Store;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

async fn list(app: &TestApp, selection: &Selection) -> Vec<Value> {
    let mut out = Vec::new();
    let n = dlq::list(
        &common::kafka_settings(),
        &app.topics().dlq,
        &Codec::single_object(),
        selection,
        Format::Json,
        &mut out,
    )
    .await
    .unwrap();
    let lines = common::json_lines(out);
    assert_eq!(lines.len() as u64, n);
    lines
}

/// Runs a replay; returns its outcome and the JSON lines it printed.
async fn replay(
    app: &TestApp,
    source: ReplaySource,
    selection: Selection,
    again: bool,
    dry_run: bool,
) -> (ReplayOutcome, Vec<Value>) {
    let store = Store::connect(&app.env.database_url.clone().into(), None, 2)
        .await
        .unwrap();
    let options = ReplayOptions {
        selection,
        source,
        max_replays: 2,
        again,
        dry_run,
        delivery_timeout: Duration::from_secs(10),
    };
    let mut out = Vec::new();
    let outcome = dlq::replay(
        &common::kafka_settings(),
        &app.topics(),
        &Codec::single_object(),
        &store,
        &options,
        &mut out,
    )
    .await
    .unwrap();
    (outcome, common::json_lines(out))
}

async fn count(app: &TestApp, sql: &str, id: OrderId) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrected_dead_letter_applies_once_however_often_it_is_replayed() {
    let app = TestEnv::new(3).await.start(&[]).await;
    let codec = Codec::single_object();
    let id = OrderId::new_random();
    let command = create(id);
    let encoded = codec.encode_command("t", &command).await.unwrap();
    let json = codec.decode_json(Subject::Command, &encoded).await.unwrap();
    // An upstream system that wrote the command as JSON text instead of Avro.
    let text = serde_json::to_vec(&json).unwrap();
    produce(
        &app.topic("orders.commands"),
        &id.to_string(),
        Some(&text),
        &[],
    )
    .await;
    assert_eq!(app.consume("orders.commands.dlq", 1, WAIT).await.len(), 1);

    let listed = list(&app, &Selection::default()).await;
    assert_eq!(listed.len(), 1);
    let letter = &listed[0];
    assert_eq!(letter["kind"], "bad_magic");
    assert_eq!(letter["key"], id.to_string());
    assert_eq!(letter["replay_count"], 0);
    assert!(letter["value"].is_null(), "{letter}");
    assert!(
        letter["decode_error"]
            .as_str()
            .unwrap()
            .contains("wire format")
    );
    let position: dlq::Position = letter["dlq"].as_str().unwrap().parse().unwrap();
    let shown = dlq::show(
        &common::kafka_settings(),
        &app.topics().dlq,
        &codec,
        position,
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(shown["payload_text"].as_str().unwrap()).unwrap(),
        json
    );
    assert_eq!(shown["headers"]["orderflow.error.kind"], "bad_magic");
    let other_kind = Selection {
        kinds: vec!["key_mismatch".into()],
        ..Selection::default()
    };
    assert!(list(&app, &other_kind).await.is_empty());

    // The operator's correction: the command the text meant, as `list` prints commands.
    let fix = || {
        ReplaySource::Fix(vec![dlq::Fix {
            line: 1,
            position,
            value: json.clone(),
        }])
    };
    let (outcome, lines) = replay(&app, fix(), Selection::default(), false, true).await;
    assert_eq!((outcome.replayed, outcome.dry_run), (1, true));
    assert_eq!(lines[0]["action"], "would_replay");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.consumed_commands().await, 1, "a dry run sends nothing");

    let (outcome, lines) = replay(&app, fix(), Selection::default(), false, false).await;
    assert_eq!(outcome.replayed, 1, "{lines:?}");
    assert_eq!(lines[0]["action"], "replayed");
    eventually("the fixed command to apply", WAIT, || async {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM orders WHERE order_id = $1")
                .bind(id.0)
                .fetch_optional(&app.db)
                .await
                .unwrap();
        (version == Some(1)).then_some(())
    })
    .await;

    // Run again, it goes on where it stopped: nothing left to send.
    let (outcome, lines) = replay(&app, fix(), Selection::default(), false, false).await;
    assert_eq!((outcome.replayed, outcome.replayed_before), (0, 1));
    assert_eq!(lines[0]["reason"], "replayed_before");
    // Forced, the command arrives twice and applies once.
    let (outcome, _) = replay(&app, fix(), Selection::default(), true, false).await;
    assert_eq!(outcome.replayed, 1);
    app.wait_consumed(3).await;
    let processed = count(
        &app,
        "SELECT count(*) FROM processed_commands WHERE order_id = $1",
        id,
    )
    .await;
    let events = count(
        &app,
        "SELECT count(*) FROM order_events WHERE order_id = $1",
        id,
    )
    .await;
    let version = count(&app, "SELECT version FROM orders WHERE order_id = $1", id).await;
    assert_eq!((processed, events, version), (1, 1, 1));
    assert_eq!(list(&app, &Selection::default()).await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_that_fails_again_comes_back_counted_and_stops_at_the_cap() {
    let app = TestEnv::new(3).await.start(&[]).await;
    let id = OrderId::new_random();
    // Single-object magic, then bytes that are no schema's fingerprint.
    let garbage = b"\xC3\x01not a fingerprint, not avro";
    produce(
        &app.topic("orders.commands"),
        &id.to_string(),
        Some(garbage),
        &[],
    )
    .await;
    let mut letters = app.consume("orders.commands.dlq", 1, WAIT).await;
    // The cap is 2 (see `replay`): two replays, each refused again, then no more.
    for round in 1..=3_u32 {
        let selection = Selection {
            key: Some(id.to_string()),
            ..Selection::default()
        };
        let (outcome, lines) = replay(&app, ReplaySource::AsIs, selection, false, false).await;
        if round <= 2 {
            assert_eq!(
                (outcome.replayed, outcome.replayed_before, outcome.capped),
                (1, u64::from(round) - 1, 0),
                "round {round}: {lines:?}"
            );
            letters = app
                .consume("orders.commands.dlq", round as usize + 1, WAIT)
                .await;
            assert_eq!(letters.len(), round as usize + 1);
            let newest = letters.last().unwrap();
            assert_eq!(
                newest.header("orderflow.replay.count"),
                Some(round.to_string().as_str())
            );
            assert_eq!(newest.payload, garbage, "the same bytes came back");
        } else {
            assert_eq!(
                (outcome.replayed, outcome.replayed_before, outcome.capped),
                (0, 2, 1),
                "{lines:?}"
            );
            let capped: Vec<_> = lines
                .iter()
                .filter(|l| l["reason"] == "replay_cap")
                .collect();
            assert_eq!(capped.len(), 1);
            assert_eq!(capped[0]["replay_count"], 2);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        app.consumed_commands().await,
        3,
        "the original and two replays"
    );
    assert_eq!(
        app.consume("orders.commands.dlq", 4, Duration::from_secs(2))
            .await
            .len(),
        3
    );
    assert_eq!(letters[0].header("orderflow.replay.count"), None);
    app.stop().await;
}
