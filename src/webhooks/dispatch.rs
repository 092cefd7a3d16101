//! The dispatcher's scheduler: one task that owns what is in flight. Deliveries come from the
//! events topic (`fanout`, attempted at once, their rows written with their first outcome) and
//! from PostgreSQL (`retry`: pending rows whose next attempt is due, leased). It keeps
//!
//! - per (endpoint, order) one delivery at a time: a later event waits in memory for the
//!   earlier one's outcome to be recorded; once an earlier one is pending in PostgreSQL
//!   (failed, waiting for its retry) the later ones are written as pending behind it, and the
//!   retry path sends them in sequence;
//! - per endpoint at most `max_in_flight` attempts, its own queue: a slow or dead endpoint
//!   holds back only its own deliveries;
//! - the events topic's offsets committed only up to the first event whose deliveries are not
//!   all recorded: a crash or SIGKILL consumes the rest again (at least once; a delivery whose
//!   row exists is not sent again).
//!
//! Every attempt is recorded (`Recorder`, in batches, one transaction each) with the delivery's
//! next state; retry state lives only in PostgreSQL.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::attempt::{Answer, Attempt, Failure, Sender, Target};
use super::endpoints::signing_keys;
use super::schedule::RetrySchedule;
use super::secrets::SealingKey;
use super::{Data, ENDPOINT_DISABLED, Payload};
use crate::store::Store;
use crate::store::postgres::{AttemptRecord, DisabledEndpoint, EndpointRow, NewDelivery, NextStep};

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub schedule: RetrySchedule,
    /// Longest an attempt waits for an answer.
    pub timeout: Duration,
    /// Most attempts in flight to one endpoint.
    pub max_in_flight: usize,
    /// An endpoint whose attempts all failed for this long is disabled.
    pub disable_after: Duration,
    /// How often due retries are looked for when nothing else wakes the dispatcher.
    pub poll_interval: Duration,
    pub allow_private: bool,
}

impl DispatchConfig {
    /// A lease outlives an attempt (its timeout) with room to record it.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }
}

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Most outcomes recorded as one transaction.
const RECORD_MAX: usize = 2000;
/// How often the endpoints (URLs, secrets) are read again.
const TARGETS_FRESH_FOR: Duration = Duration::from_secs(1);
/// How often the events topic's offsets are committed.
const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// Deliveries read from the events topic and not yet recorded, at most: the fan-out waits.
pub const MAX_UNRECORDED: usize = 20_000;
/// Fresh deliveries queued in memory for one endpoint, at most; beyond, they are written as
/// pending (a slow or dead endpoint does not take the whole budget).
const LANE_BACKLOG: usize = 1_000;

/// Where an event is on the events topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub partition: i32,
    pub offset: i64,
}

type Key = (Uuid, Uuid);

/// A delivery to attempt.
#[derive(Debug)]
pub struct Item {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub order_id: Option<Uuid>,
    pub body: Bytes,
    /// Attempts made in the current run of the schedule.
    pub step: i32,
    /// When the endpoint last changed, as the item's source saw it.
    pub endpoint_updated_at: DateTime<Utc>,
    /// Straight from the events topic: its row, written with its first outcome, and its
    /// event's place. None: a pending row leased from PostgreSQL.
    pub fresh: Option<(NewDelivery, Mark)>,
}

impl Item {
    fn key(&self) -> Option<Key> {
        self.order_id.map(|o| (self.endpoint_id, o))
    }
}

/// What the sources hand the scheduler.
pub enum Input {
    /// A batch of the events topic: deliveries to attempt, deliveries behind a pending one of
    /// their order (written as pending), and every event of the batch with its number of
    /// deliveries.
    Batch {
        fresh: Vec<Item>,
        behind: Vec<(NewDelivery, Mark)>,
        events: Vec<(Mark, usize)>,
        /// How many of them the fan-out took no permit for.
        unpermitted: usize,
    },
    /// Pending rows due now, leased.
    Leased(Vec<Item>),
}

/// What the scheduler shares: how busy each endpoint is (in flight and queued), for the retry
/// path to lease only what an endpoint can take now.
#[derive(Default)]
pub struct Load(Mutex<HashMap<Uuid, usize>>);

impl Load {
    pub fn of(&self, endpoint: Uuid) -> usize {
        self.0
            .lock()
            .expect("endpoint load")
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    pub fn busy(&self) -> Vec<(Uuid, usize)> {
        let load = self.0.lock().expect("endpoint load");
        load.iter().map(|(id, n)| (*id, *n)).collect()
    }

    fn set(&self, endpoint: Uuid, n: usize) {
        let mut load = self.0.lock().expect("endpoint load");
        if n == 0 {
            load.remove(&endpoint);
        } else {
            load.insert(endpoint, n);
        }
    }
}

/// One recorded outcome, handed back to the scheduler.
enum Job {
    Attempted {
        record: AttemptRecord,
        mark: Option<Mark>,
    },
    Queued {
        row: NewDelivery,
        mark: Mark,
    },
}

struct RecordedBatch {
    jobs: Vec<Job>,
    cleared: Vec<Key>,
}

#[derive(Default)]
struct KeyState {
    /// The delivery in flight (or ready, or being recorded) for this (endpoint, order).
    busy: Option<Uuid>,
    /// Pending rows of this key sent to the recorder and not yet written: until they are, a
    /// report that the key has no pending row left is out of date.
    queueing: usize,
    /// An earlier delivery of this (endpoint, order) is pending in PostgreSQL.
    blocked: bool,
    waiting: VecDeque<Item>,
}

#[derive(Default)]
struct Lane {
    in_flight: usize,
    ready: VecDeque<Item>,
}

/// Offsets of the events topic: committed up to the first event not fully recorded.
#[derive(Default)]
struct Offsets {
    open: HashMap<i32, BTreeMap<i64, usize>>,
    next: HashMap<i32, i64>,
    committed: HashMap<i32, i64>,
}

impl Offsets {
    fn read(&mut self, mark: Mark, deliveries: usize) {
        let next = self.next.entry(mark.partition).or_default();
        *next = (*next).max(mark.offset + 1);
        if deliveries > 0 {
            *self
                .open
                .entry(mark.partition)
                .or_default()
                .entry(mark.offset)
                .or_default() += deliveries;
        }
    }

    fn recorded(&mut self, mark: Mark) {
        if let Some(open) = self.open.get_mut(&mark.partition)
            && let Some(n) = open.get_mut(&mark.offset)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&mark.offset);
            }
        }
    }

    /// The positions to commit that moved since the last commit.
    fn advance(&mut self) -> Vec<(i32, i64)> {
        let mut moved = Vec::new();
        for (&partition, &next) in &self.next {
            let at = self
                .open
                .get(&partition)
                .and_then(|o| o.keys().next().copied())
                .unwrap_or(next);
            if self.committed.get(&partition) != Some(&at) {
                self.committed.insert(partition, at);
                moved.push((partition, at));
            }
        }
        moved
    }
}

/// The enabled endpoints as the dispatcher sends to them.
#[derive(Default)]
struct Targets {
    by_id: HashMap<Uuid, Result<Arc<Target>, String>>,
    updated: HashMap<Uuid, DateTime<Utc>>,
    read_at: Option<Instant>,
}

impl Targets {
    fn stale(&self) -> bool {
        self.read_at
            .is_none_or(|at| at.elapsed() >= TARGETS_FRESH_FOR)
    }

    /// Whether the copy of endpoint `id` is as it was at `updated_at` (or newer).
    fn current(&self, id: Uuid, updated_at: DateTime<Utc>) -> bool {
        self.updated.get(&id).is_some_and(|u| *u >= updated_at)
    }

    fn refresh(&mut self, key: &SealingKey, rows: Vec<EndpointRow>) {
        let now = Utc::now();
        self.updated = rows.iter().map(|r| (r.endpoint_id, r.updated_at)).collect();
        self.by_id = rows
            .into_iter()
            .map(|row| {
                let target = match (reqwest::Url::parse(&row.url), signing_keys(key, &row, now)) {
                    (Ok(url), Ok(keys)) => Ok(Arc::new(Target { url, keys })),
                    (Err(e), _) => Err(format!("the endpoint's URL does not parse: {e}")),
                    (_, Err(e)) => {
                        tracing::error!(endpoint_id = %row.endpoint_id, "{e}");
                        Err(e.to_string())
                    }
                };
                (row.endpoint_id, target)
            })
            .collect();
        self.read_at = Some(Instant::now());
    }
}

pub struct Scheduler {
    pub store: Store,
    pub key: SealingKey,
    pub config: DispatchConfig,
    pub consumer: Arc<StreamConsumer>,
    pub topic: String,
    /// Permits for deliveries read and not yet recorded (`MAX_UNRECORDED`).
    pub unrecorded: Arc<Semaphore>,
    pub load: Arc<Load>,
    /// Notified when pending rows were written (the retry path looks at once).
    pub due: Arc<Notify>,
}

struct State {
    keys: HashMap<Key, KeyState>,
    lanes: HashMap<Uuid, Lane>,
    offsets: Offsets,
    targets: Targets,
    /// Jobs sent to the recorder and not yet back, and attempts in flight.
    recording: usize,
    attempting: usize,
    /// Deliveries handed on beyond the permits the fan-out could take (a batch larger than
    /// the whole budget): their releases are not given back.
    unpermitted: usize,
}

impl Scheduler {
    pub async fn run(
        self,
        mut inputs: mpsc::Receiver<Input>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let sender = Sender::new(self.config.timeout, self.config.allow_private)?;
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<(Item, Attempt)>();
        let (jobs_tx, jobs) = mpsc::unbounded_channel::<Job>();
        let (recorded_tx, mut recorded) = mpsc::unbounded_channel::<RecordedBatch>();
        let recorder = tokio::spawn(
            Recorder {
                store: self.store.clone(),
                disable_after: self.config.disable_after,
                due: self.due.clone(),
            }
            .run(jobs, recorded_tx),
        );
        let mut s = State {
            keys: HashMap::new(),
            lanes: HashMap::new(),
            offsets: Offsets::default(),
            targets: Targets::default(),
            recording: 0,
            attempting: 0,
            unpermitted: 0,
        };
        let mut commit = tokio::time::interval(COMMIT_EVERY);
        let mut open = true;
        loop {
            if !open || shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                input = inputs.recv() => match input {
                    Some(input) => self.take(&mut s, input, &jobs_tx).await,
                    None => open = false,
                },
                Some((item, attempt)) = finished.recv() => {
                    s.attempting -= 1;
                    self.finished(&mut s, item, attempt, &jobs_tx);
                }
                Some(batch) = recorded.recv() => self.recorded(&mut s, batch, &jobs_tx),
                _ = commit.tick() => {
                    if s.targets.stale() {
                        self.refresh(&mut s).await;
                    }
                    self.commit(&mut s);
                }
            }
            self.pump(&mut s, &sender, &finished_tx);
        }
        // Stopping: nothing new is attempted; what is in flight finishes (each within the
        // timeout) and is recorded; then the offsets are committed once more.
        let deadline = tokio::time::Instant::now() + self.config.timeout + Duration::from_secs(5);
        while s.attempting + s.recording > 0 {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                Some((item, attempt)) = finished.recv() => {
                    s.attempting -= 1;
                    self.finished(&mut s, item, attempt, &jobs_tx);
                }
                Some(batch) = recorded.recv() => self.recorded(&mut s, batch, &jobs_tx),
            }
        }
        self.commit(&mut s);
        drop(jobs_tx);
        // The recorder retries while PostgreSQL is away; a stop does not wait for it for
        // ever (what it did not write is consumed again).
        let _ = tokio::time::timeout(Duration::from_secs(10), recorder).await;
        Ok(())
    }

    async fn refresh(&self, s: &mut State) {
        match self.store.enabled_webhook_endpoints().await {
            Ok(rows) => s.targets.refresh(&self.key, rows),
            Err(error) => tracing::warn!(%error, "reading webhook endpoints failed"),
        }
    }

    async fn take(&self, s: &mut State, input: Input, jobs: &mpsc::UnboundedSender<Job>) {
        let items = match input {
            Input::Batch {
                fresh,
                behind,
                events,
                unpermitted,
            } => {
                s.unpermitted += unpermitted;
                for (mark, n) in events {
                    s.offsets.read(mark, n);
                }
                for (row, mark) in behind {
                    let key = (row.endpoint_id, row.order_id.unwrap_or_default());
                    s.keys.entry(key).or_default().blocked = true;
                    self.queue(s, key, row, mark, jobs);
                }
                fresh
            }
            Input::Leased(items) => items,
        };
        if items
            .iter()
            .any(|i| !s.targets.current(i.endpoint_id, i.endpoint_updated_at))
        {
            self.refresh(s).await;
        }
        for item in items {
            self.admit(s, item, jobs);
        }
    }

    /// A delivery becomes ready for its endpoint, waits behind its order's earlier one, or
    /// (fresh, behind a pending one, or beyond its endpoint's backlog) is written as pending.
    fn admit(&self, s: &mut State, item: Item, jobs: &mpsc::UnboundedSender<Job>) {
        let Some(key) = item.key() else {
            self.ready(s, item);
            return;
        };
        let backlog = s.lanes.get(&item.endpoint_id).map_or(0, |l| l.ready.len());
        let state = s.keys.entry(key).or_default();
        if item.fresh.is_none()
            && (state.busy == Some(item.delivery_id)
                || state
                    .waiting
                    .iter()
                    .any(|w| w.delivery_id == item.delivery_id))
        {
            // Leased again while this dispatcher still holds it (its lease ran out): once.
            return;
        }
        if (state.blocked || (state.busy.is_none() && backlog >= LANE_BACKLOG))
            && let Some((row, mark)) = item.fresh
        {
            // Behind a pending delivery of its order, or its endpoint cannot keep up: the
            // retry path sends it (and, the key now having a pending row, its successors).
            state.blocked = true;
            self.queue(s, key, row, mark, jobs);
        } else if state.busy.is_some() {
            state.waiting.push_back(item);
        } else {
            state.busy = Some(item.delivery_id);
            self.ready(s, item);
        }
    }

    fn ready(&self, s: &mut State, item: Item) {
        let endpoint = item.endpoint_id;
        let lane = s.lanes.entry(endpoint).or_default();
        lane.ready.push_back(item);
        self.load.set(endpoint, lane.in_flight + lane.ready.len());
    }

    /// Writes `row` as pending, behind the earlier delivery of its order.
    fn queue(
        &self,
        s: &mut State,
        key: Key,
        row: NewDelivery,
        mark: Mark,
        jobs: &mpsc::UnboundedSender<Job>,
    ) {
        s.keys.entry(key).or_default().queueing += 1;
        s.recording += 1;
        let _ = jobs.send(Job::Queued { row, mark });
    }

    /// Starts what the endpoints can take.
    fn pump(
        &self,
        s: &mut State,
        sender: &Sender,
        finished: &mpsc::UnboundedSender<(Item, Attempt)>,
    ) {
        let cap = self.config.max_in_flight;
        let State {
            lanes,
            targets,
            attempting,
            ..
        } = s;
        for (endpoint, lane) in lanes.iter_mut() {
            let before = lane.in_flight + lane.ready.len();
            while lane.in_flight < cap {
                let Some(mut item) = lane.ready.pop_front() else {
                    break;
                };
                lane.in_flight += 1;
                *attempting += 1;
                let target = targets.by_id.get(endpoint).cloned();
                let (sender, finished) = (sender.clone(), finished.clone());
                tokio::spawn(async move {
                    let attempt = match target {
                        _ if item.body.is_empty() => unsendable(
                            "the delivery's event has no record to build its body from".to_owned(),
                        ),
                        Some(Ok(target)) => {
                            let body = std::mem::take(&mut item.body);
                            sender
                                .attempt(&target, &item.event_id.to_string(), body)
                                .await
                        }
                        Some(Err(why)) => unsendable(why),
                        None => unsendable("the endpoint is disabled or was deleted".to_owned()),
                    };
                    let _ = finished.send((item, attempt));
                });
            }
            if lane.in_flight + lane.ready.len() != before {
                self.load.set(*endpoint, lane.in_flight + lane.ready.len());
            }
        }
        lanes.retain(|_, l| l.in_flight > 0 || !l.ready.is_empty());
    }

    fn finished(
        &self,
        s: &mut State,
        item: Item,
        attempt: Attempt,
        jobs: &mpsc::UnboundedSender<Job>,
    ) {
        if let Some(lane) = s.lanes.get_mut(&item.endpoint_id) {
            lane.in_flight -= 1;
            self.load
                .set(item.endpoint_id, lane.in_flight + lane.ready.len());
        }
        let outcome = attempt.answer.outcome();
        metrics::counter!("orderflow_webhook_attempts_total", "outcome" => outcome).increment(1);
        metrics::histogram!("orderflow_webhook_attempt_seconds", "outcome" => outcome)
            .record(attempt.latency.as_secs_f64());
        let step = item.step + 1;
        let next = next_step(&self.config.schedule, step, &attempt.answer);
        let (new_row, mark) = match item.fresh {
            Some((row, mark)) => (Some(row), Some(mark)),
            None => (None, None),
        };
        let record = AttemptRecord {
            delivery_id: item.delivery_id,
            endpoint_id: item.endpoint_id,
            order_id: item.order_id,
            new_row,
            started_at: attempt.started_at,
            latency_ms: i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX),
            status_code: attempt.answer.status().map(i32::from),
            error: attempt.answer.error(),
            next,
            step,
        };
        s.recording += 1;
        let _ = jobs.send(Job::Attempted { record, mark });
    }

    fn recorded(&self, s: &mut State, batch: RecordedBatch, jobs: &mpsc::UnboundedSender<Job>) {
        s.recording -= batch.jobs.len();
        // Queued rows written by this batch are no longer outstanding; a key is unblocked
        // only if none is (a later batch may be writing one behind the settled head).
        for job in &batch.jobs {
            if let Job::Queued { row, .. } = job
                && let Some(state) = s
                    .keys
                    .get_mut(&(row.endpoint_id, row.order_id.unwrap_or_default()))
            {
                state.queueing -= 1;
            }
        }
        for key in batch.cleared {
            if let Some(state) = s.keys.get_mut(&key)
                && state.queueing == 0
            {
                state.blocked = false;
            }
        }
        let mut released = 0;
        for job in batch.jobs {
            let (key, mark, settled) = match &job {
                Job::Queued { mark, .. } => (None, Some(*mark), true),
                Job::Attempted { record, mark, .. } => (
                    record.order_id.map(|o| (record.endpoint_id, o)),
                    *mark,
                    matches!(record.next, NextStep::Delivered | NextStep::GiveUp),
                ),
            };
            if let Some(mark) = mark {
                s.offsets.recorded(mark);
                released += 1;
            }
            if let Job::Queued { row, .. } = &job {
                let key = (row.endpoint_id, row.order_id.unwrap_or_default());
                if s.keys.get(&key).is_some_and(|k| {
                    k.busy.is_none() && !k.blocked && k.queueing == 0 && k.waiting.is_empty()
                }) {
                    s.keys.remove(&key);
                }
            }
            let Job::Attempted { record, .. } = &job else {
                continue;
            };
            match record.next {
                NextStep::Delivered => {
                    metrics::counter!("orderflow_webhook_deliveries_total", "result" => "delivered")
                        .increment(1);
                }
                NextStep::GiveUp => {
                    metrics::counter!("orderflow_webhook_deliveries_total", "result" => "failed")
                        .increment(1);
                }
                NextStep::RetryAt(_) | NextStep::EndpointGone => {}
            }
            let Some(key) = key else { continue };
            let (drained, next) = {
                let Some(state) = s.keys.get_mut(&key) else {
                    continue;
                };
                state.busy = None;
                if !settled {
                    // Pending in PostgreSQL now: the order's later deliveries go behind it.
                    state.blocked = true;
                }
                if state.blocked {
                    (state.waiting.drain(..).collect::<Vec<_>>(), None)
                } else {
                    let next = state.waiting.pop_front();
                    state.busy = next.as_ref().map(|n| n.delivery_id);
                    (Vec::new(), next)
                }
            };
            // Fresh ones are written behind the pending one; leased ones (the retry path
            // orders those) take their turn.
            for item in drained {
                self.admit(s, item, jobs);
            }
            if let Some(next) = next {
                self.ready(s, next);
            }
            if s.keys.get(&key).is_some_and(|k| {
                k.busy.is_none() && !k.blocked && k.queueing == 0 && k.waiting.is_empty()
            }) {
                s.keys.remove(&key);
            }
        }
        let owed = released.min(s.unpermitted);
        s.unpermitted -= owed;
        self.unrecorded.add_permits(released - owed);
    }

    fn commit(&self, s: &mut State) {
        let moved = s.offsets.advance();
        if moved.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in moved {
            let _ = tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset));
        }
        // A partition revoked meanwhile fails to commit: its new owner consumes those events
        // again and finds their deliveries written.
        if let Err(error) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(%error, "committing webhook offsets failed");
        }
    }
}

/// What an attempt's answer makes of its delivery: delivered, retried (no sooner than a
/// `Retry-After`), given up once the schedule is spent, or waiting for a gone endpoint.
fn next_step(schedule: &RetrySchedule, step: i32, answer: &Answer) -> NextStep {
    match answer {
        Answer::Delivered { .. } => NextStep::Delivered,
        Answer::Gone => NextStep::EndpointGone,
        answer => {
            let retry_after = match answer {
                Answer::Throttled { retry_after, .. } => *retry_after,
                _ => None,
            };
            match schedule.delay_before(usize::try_from(step).unwrap_or(usize::MAX)) {
                None => NextStep::GiveUp,
                Some(delay) => {
                    let wait =
                        retry_after.map_or(delay, |after| delay.max(after.min(MAX_RETRY_AFTER)));
                    NextStep::RetryAt(
                        Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                    )
                }
            }
        }
    }
}

/// An attempt that could not be made: the endpoint's secret does not open (another
/// --webhooks-secret-key sealed it), or the endpoint was disabled or deleted meanwhile.
fn unsendable(why: String) -> Attempt {
    Attempt {
        started_at: Utc::now(),
        latency: Duration::ZERO,
        answer: Answer::Failed {
            status: None,
            failure: Failure::RefusedAddress,
            error: why,
        },
    }
}

/// Records outcomes in batches, until PostgreSQL takes each.
struct Recorder {
    store: Store,
    disable_after: Duration,
    due: Arc<Notify>,
}

impl Recorder {
    async fn run(
        self,
        mut jobs: mpsc::UnboundedReceiver<Job>,
        recorded: mpsc::UnboundedSender<RecordedBatch>,
    ) {
        let mut batch = Vec::new();
        while jobs.recv_many(&mut batch, RECORD_MAX).await > 0 {
            let mut queued = Vec::new();
            let mut records = Vec::new();
            for job in &batch {
                match job {
                    Job::Queued { row, .. } => queued.push(row.clone()),
                    Job::Attempted { record, .. } => records.push(record.clone()),
                }
            }
            let cleared = self.record(&queued, &records).await;
            let pending = !queued.is_empty()
                || records
                    .iter()
                    .any(|r| matches!(r.next, NextStep::RetryAt(_) | NextStep::EndpointGone));
            if pending {
                self.due.notify_one();
            }
            let _ = recorded.send(RecordedBatch {
                jobs: std::mem::take(&mut batch),
                cleared,
            });
        }
    }

    async fn record(&self, queued: &[NewDelivery], records: &[AttemptRecord]) -> Vec<Key> {
        let mut wait = Duration::from_millis(100);
        loop {
            match self
                .store
                .record_webhook_outcomes(
                    queued,
                    records,
                    self.disable_after,
                    ENDPOINT_DISABLED,
                    notice,
                )
                .await
            {
                Ok(done) => {
                    for d in done.disabled {
                        let reason = if d.disabled_reason.as_deref() == Some("gone") {
                            "gone"
                        } else {
                            "failing"
                        };
                        metrics::counter!("orderflow_webhook_endpoints_disabled_total", "reason" => reason)
                            .increment(1);
                        tracing::warn!(endpoint_id = %d.endpoint_id, storefront = %d.storefront_id,
                            reason, "webhook endpoint disabled");
                        self.due.notify_one();
                    }
                    return done.cleared;
                }
                Err(error) => {
                    tracing::warn!(%error, "recording webhook deliveries failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The `webhook.endpoint_disabled` notification about `d`: its event id and body.
fn notice(d: &DisabledEndpoint) -> (Uuid, Vec<u8>) {
    let body = Payload {
        kind: ENDPOINT_DISABLED,
        timestamp: Utc::now(),
        data: Data::EndpointDisabled {
            endpoint_id: d.endpoint_id,
            url: &d.url,
            reason: d.disabled_reason.as_deref().unwrap_or("failing"),
        },
    };
    (
        Uuid::now_v7(),
        serde_json::to_vec(&body).expect("the notice serializes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_committed_up_to_the_first_event_not_fully_recorded() {
        let mut o = Offsets::default();
        let at = |offset| Mark {
            partition: 0,
            offset,
        };
        o.read(at(10), 2);
        o.read(at(11), 0);
        o.read(at(12), 1);
        assert_eq!(o.advance(), [(0, 10)]);
        o.recorded(at(12));
        assert_eq!(o.advance(), []);
        o.recorded(at(10));
        assert_eq!(o.advance(), []);
        o.recorded(at(10));
        assert_eq!(o.advance(), [(0, 13)]);
    }

    #[test]
    fn failures_follow_the_schedule_and_retry_after() {
        let schedule: RetrySchedule = "0s,1s".parse().unwrap();
        let failed = Answer::Failed {
            status: Some(500),
            failure: Failure::Status,
            error: String::new(),
        };
        assert!(matches!(
            next_step(&schedule, 1, &failed),
            NextStep::RetryAt(_)
        ));
        assert_eq!(next_step(&schedule, 2, &failed), NextStep::GiveUp);
        let throttled = Answer::Throttled {
            status: 429,
            retry_after: Some(Duration::from_secs(30)),
        };
        let NextStep::RetryAt(at) = next_step(&schedule, 1, &throttled) else {
            panic!("not retried")
        };
        assert!(at - Utc::now() > chrono::Duration::seconds(28));
        assert_eq!(
            next_step(&schedule, 1, &Answer::Gone),
            NextStep::EndpointGone
        );
    }
}
