//! What the run showed beyond the oracle: stalls (and the fault behind each), orders Redis
//! held stale, and the summary line.

use super::*;

/// A partition with commands waiting that did not move, from `since`, for `lasted`.
pub(super) struct Stall {
    pub(super) since: Instant,
    pub(super) lasted: Duration,
}

/// Samples, every 500 ms, each partition's stored next offset against the topic's end, and
/// returns every stall longer than a second.
pub(super) async fn stalls(env: TestEnv, stop: CancellationToken) -> Vec<Stall> {
    let db = env.db().await;
    let topic = env.topic("orders.commands");
    let reader: Arc<BaseConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &env.kafka)
            .create()
            .unwrap(),
    );
    let mut last: HashMap<i32, (i64, Instant)> = HashMap::new();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut found = Vec::new();
    let mut note = |since: Instant, now: Instant| {
        let lasted = now - since;
        if lasted > Duration::from_secs(1) {
            found.push(Stall { since, lasted });
        }
    };
    while !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (reader, topic) = (reader.clone(), topic.clone());
        let fetched = tokio::task::spawn_blocking(move || {
            (0..PARTITIONS)
                .map(|p| {
                    reader
                        .fetch_watermarks(&topic, p, Duration::from_millis(500))
                        .map(|(_, high)| (p, high))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
        if let Ok(fetched) = fetched {
            ends.extend(fetched); // while the broker is down, the last known ends
        }
        let stored: Vec<(i32, i64)> =
            sqlx::query_as("SELECT partition, next_offset FROM consumer_offsets")
                .fetch_all(&db)
                .await
                .unwrap();
        let stored: HashMap<i32, i64> = stored.into_iter().collect();
        let now = Instant::now();
        for p in 0..PARTITIONS {
            let next = stored.get(&p).copied().unwrap_or(0);
            let end = ends.get(&p).copied().unwrap_or(0);
            let entry = last.entry(p).or_insert((next, now));
            if next != entry.0 || next >= end {
                note(entry.1, now);
                *entry = (next, now);
            }
        }
    }
    let now = Instant::now();
    for (_, since) in last.into_values() {
        note(since, now);
    }
    found
}

/// The longest stall each kind of fault caused: a stall is put down to the first fault
/// inflicted while it lasted (its partition's last progress may be a little earlier).
pub(super) fn stalls_by_fault(
    stalls: &[Stall],
    inflicted: &[(Instant, Fault)],
) -> BTreeMap<String, f64> {
    let mut longest = BTreeMap::new();
    for stall in stalls {
        let cause = inflicted
            .iter()
            .find(|(at, _)| {
                *at + Duration::from_secs(1) >= stall.since && *at <= stall.since + stall.lasted
            })
            .map_or("none".to_owned(), |(_, fault)| kind(*fault));
        let entry = longest.entry(cause).or_insert(0.0f64);
        *entry = entry.max(stall.lasted.as_secs_f64());
    }
    longest
}

pub(super) fn kind(fault: Fault) -> String {
    let name = format!("{fault:?}");
    name.split('(').next().unwrap().to_owned()
}

/// Orders Redis holds at an older version than PostgreSQL (a missing entry is a miss, fine).
pub(super) async fn stale_in_redis(env: &TestEnv) -> usize {
    let db = env.db().await;
    let rows: Vec<(Uuid, i64)> = sqlx::query_as("SELECT order_id, version FROM orders")
        .fetch_all(&db)
        .await
        .unwrap();
    let mut redis = redis::Client::open(env.redis.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut stale = 0;
    for chunk in rows.chunks(500) {
        let mut pipe = redis::pipe();
        for (id, _) in chunk {
            pipe.hget(format!("orderflow:order:{id}"), "v");
        }
        let cached: Vec<Option<i64>> = pipe.query_async(&mut redis).await.unwrap();
        stale += chunk
            .iter()
            .zip(cached)
            .filter(|((_, version), cached)| cached.is_some_and(|v| v < *version))
            .count();
    }
    stale
}

/// What the run's history says, counted (before the oracle's assertions).
pub(super) struct Summary {
    pub(super) accepted: usize,
    pub(super) applied: usize,
    pub(super) lost: usize,
    pub(super) double_applied: i64,
    pub(super) out_of_order: usize,
    pub(super) dlq: i64,
    pub(super) dlq_valid: usize,
}

pub(super) async fn summarize(
    env: &TestEnv,
    accepted: &[Uuid],
    on_topic: &HashSet<Uuid>,
) -> Summary {
    let db = env.db().await;
    let processed: Vec<(Uuid,)> = sqlx::query_as("SELECT command_id FROM processed_commands")
        .fetch_all(&db)
        .await
        .unwrap();
    let processed: HashSet<Uuid> = processed.into_iter().map(|(id,)| id).collect();
    let accepted: HashSet<Uuid> = accepted.iter().copied().collect();
    let applied = accepted.intersection(&processed).count();
    let lost = accepted
        .iter()
        .filter(|id| !processed.contains(id) || !on_topic.contains(id))
        .count();
    let double_applied = scalar(
        &db,
        "SELECT count(*) FROM (SELECT causation_id FROM order_events
                               GROUP BY causation_id HAVING count(*) > 1) twice",
    )
    .await;

    // First copies of each order's events on the topic, in topic order.
    let events = env.topic("orders.events");
    let total = records_on(&env.kafka, &events).await;
    let records = consume_from(&env.kafka, &events, total, Duration::from_secs(120)).await;
    let codec = Codec::single_object();
    let mut first = HashSet::new();
    let mut versions: HashMap<OrderId, Vec<u64>> = HashMap::new();
    for record in &records {
        let event = codec.decode_event(&record.payload).await.unwrap();
        if !matches!(event.body, EventBody::CommandRejected { .. }) && first.insert(event.event_id)
        {
            versions
                .entry(event.order_id)
                .or_default()
                .push(event.version);
        }
    }
    let out_of_order = versions.values().filter(|v| !v.is_sorted()).count();

    let dead: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT payload FROM dead_letters")
        .fetch_all(&db)
        .await
        .unwrap();
    let mut dlq_valid = 0;
    for (payload,) in &dead {
        if codec.decode_command(payload).await.is_ok() {
            dlq_valid += 1;
        }
    }
    Summary {
        accepted: accepted.len(),
        applied,
        lost,
        double_applied,
        out_of_order,
        dlq: dead.len() as i64,
        dlq_valid,
    }
}
