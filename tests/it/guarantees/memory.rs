//! The order memory and the assignment it belongs to: never ahead of PostgreSQL, never kept
//! across a lost assignment or an abandoned batch.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_order_memory_behind_its_row_never_overwrites_the_row() {
    let app = TestEnv::new(1).await.start(&[]).await;
    let topic = app.topic("orders.commands");
    let id = OrderId::new_random();
    let created = create(id);
    send(&topic, std::slice::from_ref(&created)).await;
    app.wait_consumed(1).await;

    // The row moves on behind the processor's memory (which still holds version 1, pending):
    // as a member that lost the partition and still wrote would leave it.
    let v1 = decide(None, &created).unwrap().unwrap().order;
    let cancelled = decide(
        Some(&v1),
        &command(
            id,
            CommandBody::CancelOrder {
                reason: "elsewhere".into(),
            },
        ),
    )
    .unwrap()
    .unwrap()
    .order;
    sqlx::query(
        "UPDATE orders SET version = 2, status = 'cancelled', body = $2 WHERE order_id = $1",
    )
    .bind(id.0)
    .bind(sqlx::types::Json(&cancelled))
    .execute(&app.db)
    .await
    .unwrap();

    // Folded over the remembered pending order, this would confirm it at version 2.
    let confirm = command(id, CommandBody::ConfirmOrder);
    send(&topic, std::slice::from_ref(&confirm)).await;
    app.wait_consumed(2).await;

    assert_eq!(
        row(&app, id).await,
        (2, "cancelled".to_owned()),
        "the stale fold did not land"
    );
    let (outcome, code): (String, Option<String>) = sqlx::query_as(
        "SELECT outcome, rejection_code FROM processed_commands WHERE command_id = $1",
    )
    .bind(confirm.command_id.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (outcome.as_str(), code.as_deref()),
        ("rejected", Some("invalid_transition")),
        "folded again over the row: a cancelled order cannot be confirmed"
    );
    app.stop().await;
}

/// librdkafka's mock cluster (in-process) for the broker fault, the TCP proxy for
/// PostgreSQL: a batch that cannot commit while its member loses the assignment, with
/// records buffered beyond it, and the partition back to the same member.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_assignment_mid_batch_with_records_buffered_beyond_it_loses_nothing() {
    use rdkafka::mocking::MockCluster;

    let env = TestEnv::new(1).await;
    let mock = MockCluster::new(1).unwrap();
    for base in [
        "orders.commands",
        "orders.events",
        "orders.state",
        "orders.commands.dlq",
    ] {
        mock.create_topic(&env.topic(base), 1, 1).unwrap();
    }
    let brokers = mock.bootstrap_servers();
    let proxy = common::proxy::TcpProxy::start("127.0.0.1:5432").await;
    let through_proxy = env
        .database_url
        .replace("127.0.0.1:5432", &proxy.addr.to_string());
    let app = env
        .start(&[
            "--kafka-brokers",
            &brokers,
            "--database-url",
            &through_proxy,
            "--batch-max",
            "5",
            "--drain-timeout",
            "3s",
            "--kafka-config",
            "session.timeout.ms=3000",
            "--kafka-config",
            "heartbeat.interval.ms=500",
        ])
        .await;
    let topic = env.topic("orders.commands");
    let commands: Vec<Command> = (0..50).map(|_| create(OrderId::new_random())).collect();
    let produce = |range: std::ops::Range<usize>| send_to(&brokers, &topic, &commands[range]);
    produce(0..5).await;
    let db = env.db().await;
    let consumed = || common::oracle::consumed(&db);
    eventually("the first 5 applied", WAIT, || async {
        (consumed().await == 5).then_some(())
    })
    .await;

    // The next batch (5..10) cannot commit; 10..50 are buffered behind it.
    proxy.cut();
    produce(5..50).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The group loses the member: its session times out while the broker is gone.
    mock.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    mock.broker_up(1).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.restore();

    eventually(
        "every command consumed",
        Duration::from_secs(60),
        || async { (consumed().await == 50).then_some(()) },
    )
    .await;
    let (orders, processed, events): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM processed_commands),
                (SELECT count(*) FROM order_events)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        (orders, processed, events),
        (50, 50, 50),
        "none skipped, none twice"
    );
    let mut on_the_mock = env.clone();
    on_the_mock.kafka = brokers.clone();
    common::oracle::verify(&on_the_mock, &common::workload::Workload { commands }, 0).await;
    drop(mock);
    drop(app);
}

/// A revoke whose in-flight batch outlives the drain timeout (that batch cannot commit:
/// member A reaches PostgreSQL through a proxy that is cut), the revoked partition moved on by
/// member B, and then returned to A: A's late batch must not land, and A must not fold later
/// commands onto what that batch left in its memory.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_outliving_the_drain_timeout_neither_lands_nor_leaves_stale_memory() {
    let env = TestEnv::new(2).await;
    let topic = env.topic("orders.commands");
    let proxy = common::proxy::TcpProxy::start("127.0.0.1:5432").await;
    let mut through_proxy = env.clone();
    through_proxy.database_url = env
        .database_url
        .replace("127.0.0.1:5432", &proxy.addr.to_string());
    let log = std::env::temp_dir().join(format!("orderflow-drain-{}.log", env.suffix));
    let group = [&["--drain-timeout", "2s"][..], &common::FAST_GROUP].concat();
    let mut a = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg("processor")
        .args(["--group-id", &env.group(), "--redis-url", common::REDIS])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args(through_proxy.args())
        .args(&group)
        .env("RUST_LOG", "warn,librdkafka=error")
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let db = env.db().await;
    let mut sent = Vec::new();
    let mut partition_of = std::collections::HashMap::new();
    let send = |commands: Vec<Command>| {
        let topic = &topic;
        async move {
            let partitions = send_to(common::KAFKA, topic, &commands).await;
            commands.into_iter().zip(partitions).collect::<Vec<_>>()
        }
    };
    let offsets = || async {
        let rows: Vec<(i32, i64)> =
            sqlx::query_as("SELECT partition, next_offset FROM consumer_offsets")
                .fetch_all(&db)
                .await
                .unwrap();
        rows.into_iter()
            .collect::<std::collections::HashMap<_, _>>()
    };
    let ids: Vec<OrderId> = (0..20).map(|_| OrderId::new_random()).collect();
    let follow_up = |body: CommandBody| ids.iter().map(|id| command(*id, body.clone())).collect();

    for (command, partition) in send(ids.iter().map(|id| create(*id)).collect()).await {
        partition_of.insert(command.order_id, partition);
        sent.push(command);
    }
    eventually("A applied the creates", WAIT, || async {
        (offsets().await.values().sum::<i64>() == 20).then_some(())
    })
    .await;
    let both: Vec<i32> = [0, 1].into();
    assert!(
        both.iter().all(|p| partition_of.values().any(|q| q == p)),
        "orders on both partitions"
    );

    // A folds the confirms and cannot commit them.
    proxy.cut();
    sent.extend(
        send(follow_up(CommandBody::ConfirmOrder))
            .await
            .into_iter()
            .map(|(c, _)| c),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = offsets().await;
    // B joins: A's revoke waits 2 s for the stuck batch, then gives its partitions up.
    let mut b = env.spawn_processor(&group);
    let moved = eventually("B to take a partition and apply it", WAIT, || async {
        let now = offsets().await;
        both.iter().copied().find(|p| now.get(p) > before.get(p))
    })
    .await;
    // B moves its partition on: every order there is cancelled (v3).
    sent.extend(
        send(follow_up(CommandBody::CancelOrder {
            reason: "changed my mind".into(),
        }))
        .await
        .into_iter()
        .map(|(c, _)| c),
    );
    let on_moved = partition_of.values().filter(|&&p| p == moved).count() as i64;
    eventually("B applied the cancels", WAIT, || async {
        (offsets().await.get(&moved) == Some(&(on_moved * 3))).then_some(())
    })
    .await;
    // A's late batch may now try to commit; then B leaves and A gets the partition back.
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(2)).await;
    common::sigterm(&b);
    b.wait().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A ship now must fold onto the cancelled order (and be rejected), not onto A's memory.
    sent.extend(
        send(follow_up(CommandBody::ShipOrder(
            orderflow::domain::ShippingInput {
                carrier: "DHL".into(),
                tracking_number: "T1".into(),
            },
        )))
        .await
        .into_iter()
        .map(|(c, _)| c),
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("revoked partitions while a batch was still running"),
        "the batch outlived the drain timeout:\n{logged}"
    );
    common::oracle::verify(&env, &common::workload::Workload { commands: sent }, 0).await;
    a.start_kill().unwrap();
}
