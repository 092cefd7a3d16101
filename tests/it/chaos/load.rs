//! The HTTP load: customers creating orders and sending follow-up commands, and what each
//! of them saw answered.

use super::*;

/// What the HTTP load saw.
#[derive(Default)]
pub(super) struct Seen {
    /// Command ids answered 202.
    pub(super) accepted: Vec<Uuid>,
    /// Answers by status code ("error" for no answer at all).
    pub(super) statuses: BTreeMap<String, usize>,
    /// The same, while the broker was down.
    pub(super) during_broker_outage: BTreeMap<String, usize>,
}

/// One order's life: a create and a seeded choice of follow-ups (some invalid, e.g. a
/// delivery before the shipment, which the processor rejects).
pub(super) fn script(rng: &mut StdRng, order: Uuid) -> Vec<(Method, String, Value)> {
    let at = |suffix: &str| format!("/v1/orders/{order}{suffix}");
    let mut create = order_body();
    create["order_id"] = json!(order);
    let update =
        json!({"items": [{"sku": "SKU-9", "quantity": rng.random_range(1..9), "unit_price": 700}]});
    let ship = json!({"carrier": "DHL", "tracking_number": format!("T{}", rng.random::<u32>())});
    let mut steps = vec![(Method::POST, "/v1/orders".to_owned(), create)];
    let follow_ups: &[(Method, &str)] = match rng.random_range(0..5) {
        0 => &[
            (Method::PATCH, ""),
            (Method::POST, "/confirm"),
            (Method::POST, "/ship"),
            (Method::POST, "/deliver"),
        ],
        1 => &[(Method::POST, "/confirm"), (Method::POST, "/cancel")],
        2 => &[
            (Method::PATCH, ""),
            (Method::PATCH, ""),
            (Method::DELETE, ""),
        ],
        3 => &[
            (Method::POST, "/confirm"),
            (Method::POST, "/ship"),
            (Method::PUT, "/shipping"),
            (Method::POST, "/deliver"),
        ],
        _ => &[(Method::POST, "/deliver"), (Method::POST, "/confirm")],
    };
    for (method, suffix) in follow_ups {
        let body = match *suffix {
            "" if *method == Method::PATCH => update.clone(),
            "/ship" | "/shipping" => ship.clone(),
            "/cancel" => json!({"reason": "changed my mind"}),
            _ => json!({}),
        };
        steps.push((method.clone(), at(suffix), body));
    }
    steps
}

/// Sends orders' lives one command at a time until `stop`, each command retried under its
/// Idempotency-Key until it is accepted (so a retry is never a second command).
pub(super) async fn customer(
    url: String,
    key: String,
    seed: u64,
    stop: CancellationToken,
    load: Arc<Load>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    while !stop.is_cancelled() {
        let order = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        for (method, path, body) in script(&mut rng, order) {
            let idempotency_key = Uuid::from_u128(rng.random()).to_string();
            loop {
                let sent = client
                    .request(method.clone(), format!("{url}{path}"))
                    .bearer_auth(&key)
                    .header("idempotency-key", &idempotency_key)
                    .json(&body)
                    .send()
                    .await;
                let status = sent
                    .as_ref()
                    .map_or("error".to_owned(), |r| r.status().as_u16().to_string());
                load.saw(&status);
                if status == "202" {
                    let answer: Value = sent.unwrap().json().await.unwrap();
                    let id = answer["command_id"].as_str().unwrap().parse().unwrap();
                    load.seen.lock().unwrap().accepted.push(id);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(100..300))).await;
            }
            if stop.is_cancelled() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub(super) struct Load {
    pub(super) seen: Mutex<Seen>,
    pub(super) broker_down: AtomicBool,
}

impl Load {
    pub(super) fn saw(&self, status: &str) {
        let mut seen = self.seen.lock().unwrap();
        *seen.statuses.entry(status.to_owned()).or_default() += 1;
        if self.broker_down.load(Ordering::SeqCst) {
            *seen
                .during_broker_outage
                .entry(status.to_owned())
                .or_default() += 1;
        }
    }
}
