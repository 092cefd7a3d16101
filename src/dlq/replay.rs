//! `orderflow dlq replay`: dead letters back onto the commands topic, through the same
//! processor paths as any command.
//!
//! Each replayed command carries `orderflow.replay.count` (the letter's count plus one) and
//! `orderflow.replay.of`; a command refused again comes back to the DLQ with that count, and
//! a letter at `--max-replays` is not replayed, so a record that can never apply stops. What
//! was sent is recorded (`dlq_replays`) after the broker acknowledged it, so a replay run
//! again skips it; one that stopped between the two sends it twice, and the processor applies
//! a command id once.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rdkafka::message::{Header, OwnedHeaders};

use super::{DeadLetter, Letters, Position, ReplayArgs, Selection};
use crate::codec::Codec;
use crate::kafka::producer::{Outgoing, Producer};
use crate::kafka::{KafkaSettings, Topics, dlq_headers, order_key};
use crate::store::{Replayed, Store};

/// Letters read, sent and recorded at a time.
const CHUNK: usize = 500;

/// What is sent for each selected letter.
#[derive(Debug, Clone)]
pub enum ReplaySource {
    /// The letter's key and payload as they are.
    AsIs,
    /// Corrected commands, one per letter, as JSON (see `ReplayArgs::fix`).
    Fix(Vec<Fix>),
}

/// One line of a `--fix` file.
#[derive(Debug, Clone)]
pub struct Fix {
    pub line: usize,
    pub position: Position,
    pub value: serde_json::Value,
}

impl ReplaySource {
    pub fn of(args: &ReplayArgs) -> anyhow::Result<Self> {
        match &args.fix {
            Some(path) => Ok(Self::Fix(read_fixes(path)?)),
            None => Ok(Self::AsIs),
        }
    }
}

fn read_fixes(path: &Path) -> anyhow::Result<Vec<Fix>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut fixes = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line_no = i + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{line_no}", path.display());
        let mut json: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not JSON", at()))?;
        let position = json["dlq"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("{}: no \"dlq\": \"<partition>:<offset>\"", at()))?
            .parse::<Position>()
            .map_err(|e| anyhow::anyhow!("{}: dlq: {e}", at()))?;
        let value = json["value"].take();
        anyhow::ensure!(
            value.is_object(),
            "{}: no \"value\": {{<the corrected command>}}",
            at()
        );
        anyhow::ensure!(seen.insert(position), "{}: {position} is fixed twice", at());
        fixes.push(Fix {
            line: line_no,
            position,
            value,
        });
    }
    Ok(fixes)
}

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Ignored with `ReplaySource::Fix`: the file names the letters.
    pub selection: Selection,
    pub source: ReplaySource,
    pub max_replays: u32,
    pub again: bool,
    pub dry_run: bool,
    pub delivery_timeout: Duration,
}

/// How many letters went which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    pub replayed: u64,
    /// Replayed by an earlier run (and not `--again`).
    pub replayed_before: u64,
    /// At `--max-replays`.
    pub capped: u64,
    /// Sent as they are, these would be refused the same way (payload cut short, no key).
    pub unreplayable: u64,
    pub dry_run: bool,
}

impl fmt::Display for ReplayOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}, {} skipped as replayed before (--again replays them), {} at the replay cap, {} not replayable as they are (--fix them)",
            self.replayed,
            if self.dry_run {
                "would be replayed (dry run: nothing sent)"
            } else {
                "replayed"
            },
            self.replayed_before,
            self.capped,
            self.unreplayable
        )
    }
}

/// A letter to send: its key and payload (its own or a fix's), with its replay count raised.
struct Planned {
    position: Position,
    replay_count: u32,
    key: Vec<u8>,
    payload: Vec<u8>,
    fixed: bool,
}

/// Replays the selected letters; writes a JSON line per letter to `out`.
pub async fn replay(
    settings: &KafkaSettings,
    topics: &Topics,
    codec: &Codec,
    store: &Store,
    options: &ReplayOptions,
    out: &mut impl Write,
) -> anyhow::Result<ReplayOutcome> {
    // Every correction must read before anything is sent.
    let mut fixes = BTreeMap::new();
    let as_is = matches!(options.source, ReplaySource::AsIs);
    if let ReplaySource::Fix(list) = &options.source {
        anyhow::ensure!(!list.is_empty(), "the fix file holds no corrections");
        for fix in list {
            let command = codec
                .command_from_json(&fix.value)
                .map_err(|e| anyhow::anyhow!("line {} ({}): value.{e}", fix.line, fix.position))?;
            let payload = codec
                .encode_command(&topics.commands, &command)
                .await
                .with_context(|| format!("line {} ({})", fix.line, fix.position))?;
            fixes.insert(fix.position, (order_key(command.order_id), payload));
        }
    }
    let selection = if as_is {
        options.selection.clone()
    } else {
        Selection {
            at: fixes.keys().copied().collect(),
            ..Selection::default()
        }
    };
    let mut selected = Letters::open(settings, &topics.dlq, &selection)?;
    // The letters a fix file names (as many as its lines) are all found before anything is
    // sent; other selections are read and replayed a chunk at a time.
    let mut fixed_letters = Vec::new();
    if !as_is {
        while let Some(letter) = selected.next().await? {
            fixed_letters.push(letter);
        }
        let found: HashSet<Position> = fixed_letters.iter().map(|l| l.position).collect();
        if let Some(missing) = fixes.keys().find(|p| !found.contains(p)) {
            anyhow::bail!("no dead letter at {missing} of {}", topics.dlq);
        }
    }
    let mut fixed_letters = fixed_letters.into_iter();
    let producer = if options.dry_run {
        None
    } else {
        Some(Producer::new(
            settings,
            options.delivery_timeout,
            "dlq_replay",
        )?)
    };
    let mut outcome = ReplayOutcome {
        dry_run: options.dry_run,
        ..ReplayOutcome::default()
    };
    loop {
        let mut chunk: Vec<DeadLetter> = fixed_letters.by_ref().take(CHUNK).collect();
        while as_is && chunk.len() < CHUNK {
            match selected.next().await? {
                Some(letter) => chunk.push(letter),
                None => break,
            }
        }
        if chunk.is_empty() {
            return Ok(outcome);
        }
        let planned = plan(store, topics, options, chunk, &mut fixes, &mut outcome, out).await?;
        match &producer {
            None => {
                for p in &planned {
                    let line = serde_json::json!({
                        "dlq": p.position.to_string(), "action": "would_replay", "fixed": p.fixed,
                        "replay_count": p.replay_count,
                    });
                    crate::tail::write_line(out, &line)?;
                }
                outcome.replayed += planned.len() as u64;
            }
            Some(producer) => send(producer, store, topics, &planned, &mut outcome, out).await?,
        }
    }
}

/// Which of `letters` to send, and what; writes a line for each one skipped.
async fn plan(
    store: &Store,
    topics: &Topics,
    options: &ReplayOptions,
    letters: Vec<DeadLetter>,
    fixes: &mut BTreeMap<Position, (String, Vec<u8>)>,
    outcome: &mut ReplayOutcome,
    out: &mut impl Write,
) -> anyhow::Result<Vec<Planned>> {
    let positions: Vec<(i32, i64)> = letters
        .iter()
        .map(|l| (l.position.partition, l.position.offset))
        .collect();
    let before = store
        .replayed(&topics.dlq, &positions)
        .await
        .context("reading what was replayed")?;
    let as_is = matches!(options.source, ReplaySource::AsIs);
    let mut planned = Vec::with_capacity(letters.len());
    for letter in letters {
        let position = letter.position;
        let skip = if !options.again && before.contains(&(position.partition, position.offset)) {
            outcome.replayed_before += 1;
            Some("replayed_before")
        } else if letter.replay_count() >= options.max_replays {
            outcome.capped += 1;
            Some("replay_cap")
        } else if as_is && letter.key.is_none() {
            outcome.unreplayable += 1;
            Some("no_key")
        } else if as_is && letter.truncated() {
            outcome.unreplayable += 1;
            Some("truncated")
        } else {
            None
        };
        if let Some(reason) = skip {
            let line = serde_json::json!({
                "dlq": position.to_string(), "action": "skip", "reason": reason,
                "replay_count": letter.replay_count(),
            });
            crate::tail::write_line(out, &line)?;
            continue;
        }
        let replay_count = letter.replay_count() + 1;
        let (key, payload, fixed) = match fixes.remove(&position) {
            Some((key, payload)) => (key.into_bytes(), payload, true),
            None => (
                letter.key.unwrap_or_default(),
                letter.payload.unwrap_or_default(),
                false,
            ),
        };
        planned.push(Planned {
            position,
            replay_count,
            key,
            payload,
            fixed,
        });
    }
    Ok(planned)
}

/// Sends `planned`, then records what the broker acknowledged; fails after recording if a
/// send failed.
async fn send(
    producer: &Producer,
    store: &Store,
    topics: &Topics,
    planned: &[Planned],
    outcome: &mut ReplayOutcome,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let sends = planned.iter().map(|p| {
        let count = p.replay_count.to_string();
        let of = format!(
            "{}/{}/{}",
            topics.dlq, p.position.partition, p.position.offset
        );
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: dlq_headers::REPLAY_COUNT,
                value: Some(&count),
            })
            .insert(Header {
                key: dlq_headers::REPLAY_OF,
                value: Some(&of),
            });
        producer.send(Outgoing {
            topic: &topics.commands,
            key: &p.key,
            payload: Some(&p.payload),
            headers: Some(headers),
        })
    });
    let results = futures::future::join_all(sends).await;
    let mut acknowledged = Vec::new();
    let mut failure = None;
    for (p, result) in planned.iter().zip(results) {
        match result {
            Ok((partition, offset)) => acknowledged.push(Replayed {
                dlq_partition: p.position.partition,
                dlq_offset: p.position.offset,
                command_partition: partition,
                command_offset: offset,
                fixed: p.fixed,
            }),
            Err(error) => {
                failure.get_or_insert((p.position, error));
            }
        }
    }
    store
        .record_replays(&topics.dlq, &acknowledged)
        .await
        .context("recording what was replayed")?;
    outcome.replayed += acknowledged.len() as u64;
    for r in &acknowledged {
        let line = serde_json::json!({
            "dlq": format!("{}:{}", r.dlq_partition, r.dlq_offset), "action": "replayed",
            "fixed": r.fixed, "command": format!("{}:{}", r.command_partition, r.command_offset),
        });
        crate::tail::write_line(out, &line)?;
    }
    match failure {
        Some((position, error)) => anyhow::bail!(
            "sending {position} failed ({error}); {} replayed and recorded, run it again to go on",
            outcome.replayed
        ),
        None => Ok(()),
    }
}
