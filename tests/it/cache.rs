//! The Redis read cache against a real Redis: the ingress's in-process copy is served
//! without a round trip and evicted by Redis's invalidation messages when a processor
//! (another connection) writes or deletes the order.

use crate::common;

use std::time::Duration;

use common::{REDIS, command, create, eventually};
use orderflow::domain::{CommandBody, Order, OrderId, decide};
use orderflow::store::Cache;

const TTL: Duration = Duration::from_secs(3600);
const WAIT: Duration = Duration::from_secs(5);

fn apply(order: &Order, body: CommandBody) -> Order {
    decide(Some(order), &command(order.order_id, body))
        .expect("a valid transition")
        .expect("a change")
        .order
}

async fn cached_version(cache: &Cache, id: OrderId) -> Option<u64> {
    cache
        .get_order_json(id)
        .await
        .expect("redis answers")
        .map(|c| c.version)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_copy_is_served_without_redis_and_evicted_when_a_processor_writes() {
    let reader = Cache::connect(REDIS, None, TTL, 100).unwrap();
    let writer = Cache::connect(REDIS, None, TTL, 0).unwrap();
    assert!(writer.local_statistics().is_none());
    let id = OrderId::new_random();
    let created = decide(None, &create(id)).unwrap().unwrap().order;
    writer
        .put_orders(std::slice::from_ref(&created))
        .await
        .unwrap();

    assert_eq!(cached_version(&reader, id).await, Some(1));
    let before = reader.local_statistics().expect("a local cache");
    for _ in 0..5 {
        assert_eq!(cached_version(&reader, id).await, Some(1));
    }
    let after = reader.local_statistics().unwrap();
    assert_eq!(after.hit - before.hit, 5, "repeated reads are local hits");

    let confirmed = apply(&created, CommandBody::ConfirmOrder);
    writer
        .put_orders(std::slice::from_ref(&confirmed))
        .await
        .unwrap();
    eventually("the new version read through", WAIT, || async {
        (cached_version(&reader, id).await == Some(2)).then_some(())
    })
    .await;

    // Deleting needs a pending order: the delete of version 1 (version 2) evicts version 2.
    let deleted = apply(&created, CommandBody::DeleteOrder);
    writer.put_orders(&[deleted]).await.unwrap();
    eventually("the deleted order gone", WAIT, || async {
        cached_version(&reader, id).await.is_none().then_some(())
    })
    .await;
    assert!(reader.local_statistics().unwrap().invalidate >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_write_of_an_older_version_cannot_bring_a_deleted_order_back() {
    let cache = Cache::connect(REDIS, None, TTL, 0).unwrap();
    let id = OrderId::new_random();
    let created = decide(None, &create(id)).unwrap().unwrap().order;
    let deleted = apply(&created, CommandBody::DeleteOrder);
    cache
        .put_orders(std::slice::from_ref(&created))
        .await
        .unwrap();
    cache.put_orders(&[deleted]).await.unwrap();
    assert_eq!(cached_version(&cache, id).await, None);

    // A member that lost the partition writes its version 1 through late.
    cache.put_orders(&[created]).await.unwrap();
    assert_eq!(
        cached_version(&cache, id).await,
        None,
        "the tombstone of version 2 stops the older write"
    );
    let mut redis = redis::Client::open(REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("orderflow:order:{id}"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= TTL.as_millis() as i64,
        "the tombstone expires: {ttl}"
    );
}
