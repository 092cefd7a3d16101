//! `orderflow loadgen watch`, the benchmark scripts' progress: it follows the processor's
//! stored offsets to the total and ends there, and without a terminal it draws nothing.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::TestEnv;

#[tokio::test(flavor = "multi_thread")]
async fn watch_ends_when_the_stored_offsets_reach_the_total_and_is_silent_without_a_terminal() {
    let env = TestEnv::new(1).await;
    let db = env.db().await;
    let set = |offset: i64| {
        sqlx::query(
            "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
             VALUES ('bench', 'orders.commands', 0, $1)
             ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = $1",
        )
        .bind(offset)
        .execute(&db)
    };
    set(4).await.unwrap();
    // The database URL is the first of the test's isolation arguments.
    let args = env.args();
    let watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["loadgen", "watch", "--total", "10"])
        .args(&args[..2])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut watch = watch;
    assert!(
        watch.try_wait().unwrap().is_none(),
        "4 of 10 consumed: still watching"
    );
    set(10).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(10), watch.wait_with_output())
        .await
        .expect("watch ends once 10 are consumed")
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty() && out.stdout.is_empty(), "{out:?}");
}
