//! `orderflow loadgen latency` (scripts/bench-latency.sh) against a running `orderflow all`:
//! the commands it reports are the ones the processor handled, with their own stamps.

use crate::common;

use std::time::Duration;

use common::TestEnv;

#[tokio::test(flavor = "multi_thread")]
async fn the_latency_loadgen_reports_every_command_it_sent_as_handled_from_its_stamps() {
    let env = TestEnv::new(3).await;
    let app = env.start(&[]).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["loadgen", "latency", "--url", &app.url(""), "--rate", "40"])
        .args(["--duration", "2s"])
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("run loadgen latency");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .parse()
            .unwrap()
    };
    // 80 due at 40/s; the mix's invalid updates are refused by the ingress (422).
    let accepted = field("accepted");
    assert!((70.0..=80.0).contains(&accepted), "{line}");
    assert_eq!(field("pending"), 0.0, "{line}");
    assert_eq!(field("applied") + field("rejected"), accepted, "{line}");
    // At 40/s a follow-up comes long after its predecessor was applied: only the mix's own
    // refusals (a command after a cancel or a delete) are rejected.
    assert!(field("applied") >= 0.8 * accepted, "{line}");
    // What it reports is what the processor recorded: every accepted command (and the
    // warm-up's) has an outcome row; none was applied before it was due.
    let handled: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_commands")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        handled as f64 >= accepted + 1.0,
        "{handled} handled, {line}"
    );
    let (p50, p99, max) = (field("p50_ms"), field("p99_ms"), field("max_ms"));
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{line}");
    assert!(max < Duration::from_secs(30).as_millis() as f64, "{line}");
    app.stop().await;
}
