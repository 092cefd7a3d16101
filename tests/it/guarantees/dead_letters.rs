//! Records the processor cannot apply: under the wrong key or none, undecodable, or poison
//! to the domain. Each goes to the DLQ or is rejected, and the processor goes on.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_command_under_another_key_or_none_goes_to_the_dlq_and_the_order_keeps_one_history() {
    let app = TestEnv::new(3).await.start(&[]).await;
    let topic = app.topic("orders.commands");
    let id = OrderId::new_random();
    send(&topic, &[create(id)]).await;
    app.wait_consumed(1).await;

    // Both would apply to the order from wherever their key put them: a fork of its history.
    let misrouted = command(id, CommandBody::ConfirmOrder);
    let keyless = command(
        id,
        CommandBody::CancelOrder {
            reason: "keyless".into(),
        },
    );
    send_keyed(
        &topic,
        &[
            (misrouted.clone(), Some(OrderId::new_random().to_string())),
            (keyless.clone(), None),
            (
                command(id, CommandBody::ConfirmOrder),
                Some(id.0.as_simple().to_string()),
            ),
        ],
    )
    .await;
    let valid = command(id, CommandBody::ConfirmOrder);
    send(&topic, std::slice::from_ref(&valid)).await;
    app.wait_consumed(5).await;

    let dead = app.consume("orders.commands.dlq", 3, WAIT).await;
    assert_eq!(dead.len(), 3);
    for letter in &dead {
        assert_eq!(letter.header("orderflow.error.kind"), Some("key_mismatch"));
        let message = letter.header("orderflow.error.message").unwrap();
        assert!(message.contains(&id.to_string()), "{message}");
    }
    assert_eq!(row(&app, id).await, (2, "confirmed".to_owned()));
    let (processed,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM processed_commands WHERE order_id = $1")
            .bind(id.0)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        processed, 2,
        "the create and the valid confirm, nothing else"
    );
    app.stop().await;
}

/// A CreateOrder for `id` whose metadata holds `key` with an invalid value: the rejection
/// names the field, `metadata.<key>`, so it echoes the key.
fn create_with_metadata_key(id: OrderId, key: String) -> Command {
    let mut command = create(id);
    let CommandBody::CreateOrder(input) = &mut command.body else {
        unreachable!()
    };
    input.metadata.insert(key, "bell\u{7}".into());
    command
}

/// Poison of every class this test knows, then valid commands on the same partitions.
async fn send_poison_then_valid(topic: &str) -> (Vec<OrderId>, Vec<OrderId>) {
    let poisoned: Vec<OrderId> = (0..3).map(|_| OrderId::new_random()).collect();
    let poison = [
        create_with_metadata_key(poisoned[0], "k\0ey".into()),
        create_with_metadata_key(poisoned[1], "x".repeat(200_000)),
        create_with_metadata_key(poisoned[2], format!("\0{}", "\u{1}".repeat(100_000))),
    ];
    send(topic, &poison).await;
    // Garbage near the broker's record limit: its dead-letter copy with headers would not fit.
    let garbage = vec![0xC3; 900 * 1024];
    common::produce(
        topic,
        &OrderId::new_random().to_string(),
        Some(&garbage),
        &[],
    )
    .await;
    let valid: Vec<OrderId> = (0..6).map(|_| OrderId::new_random()).collect();
    let creates: Vec<Command> = valid.iter().map(|&id| create(id)).collect();
    send(topic, &creates).await;
    (poisoned, valid)
}

async fn assert_applied(app: &TestApp, valid: &[OrderId]) {
    for &id in valid {
        eventually(
            "the valid command after the poison applied",
            WAIT,
            || async {
                let found: Option<(i64,)> =
                    sqlx::query_as("SELECT version FROM orders WHERE order_id = $1")
                        .bind(id.0)
                        .fetch_optional(&app.db)
                        .await
                        .unwrap();
                found.map(|_| ())
            },
        )
        .await;
    }
}

async fn assert_rejected_with_a_bounded_message(app: &TestApp, poisoned: &[OrderId]) {
    for &id in poisoned {
        let (code, message): (String, String) = sqlx::query_as(
            "SELECT rejection_code, rejection_msg FROM processed_commands WHERE order_id = $1",
        )
        .bind(id.0)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(code, "validation");
        assert!(
            message.chars().count() <= 1_100,
            "bounded: {} chars",
            message.len()
        );
        assert!(
            !message.chars().any(char::is_control),
            "escaped: {message:.200}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_record_stops_the_processor_also_across_a_restart() {
    let env = TestEnv::new(2).await;
    let app = env.start(&[]).await;
    let topic = app.topic("orders.commands");
    let (poisoned, valid) = send_poison_then_valid(&topic).await;
    assert_applied(&app, &valid).await;
    assert_rejected_with_a_bounded_message(&app, &poisoned).await;
    let dead = app.consume("orders.commands.dlq", 1, WAIT).await;
    assert_eq!(dead.len(), 1, "the garbage record is dead-lettered");
    assert_eq!(
        dead[0].header("orderflow.payload.truncated"),
        Some("921600")
    );
    assert_eq!(dead[0].payload.len(), 512 * 1024, "a bounded prefix");
    app.stop().await;

    // Poison waiting when a processor starts stops nothing either.
    let (poisoned, valid) = send_poison_then_valid(&topic).await;
    let app = env.start(&[]).await;
    assert_applied(&app, &valid).await;
    assert_rejected_with_a_bounded_message(&app, &poisoned).await;
    app.stop().await;
}
