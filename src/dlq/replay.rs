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

use super::{DeadLetter, Position, ReplayArgs, Selection, scan};
use crate::codec::Codec;
use crate::kafka::producer::{Outgoing, Producer};
use crate::kafka::{KafkaSettings, Topics, dlq_headers, order_key};
use crate::store::{Replayed, Store};

/// Letters sent before their replays are recorded.
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
        anyhow::ensure!(
            !fixes.iter().any(|f: &Fix| f.position == position),
            "{}: {position} is fixed twice",
            at()
        );
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

/// A letter to send.
struct Planned {
    letter: DeadLetter,
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
    let mut letters = Vec::new();
    scan(settings, &topics.dlq, &selection, |letter| {
        letters.push(letter);
        Ok(())
    })
    .await?;
    if !as_is {
        let found: HashSet<Position> = letters.iter().map(|l| l.position).collect();
        if let Some(missing) = fixes.keys().find(|p| !found.contains(p)) {
            anyhow::bail!("no dead letter at {missing} of {}", topics.dlq);
        }
    }
    let positions: Vec<(i32, i64)> = letters
        .iter()
        .map(|l| (l.position.partition, l.position.offset))
        .collect();
    let before = store
        .replayed(&topics.dlq, &positions)
        .await
        .context("reading what was replayed")?;

    let mut outcome = ReplayOutcome {
        dry_run: options.dry_run,
        ..ReplayOutcome::default()
    };
    let mut planned = Vec::new();
    for letter in letters {
        let position = letter.position;
        let skip = if !options.again && before.contains(&(position.partition, position.offset)) {
            outcome.replayed_before += 1;
            Some("replayed_before")
        } else if letter.replay_count() >= options.max_replays {
            outcome.capped += 1;
            Some("replay_cap")
        } else if as_is && (letter.truncated() || letter.key.is_none()) {
            outcome.unreplayable += 1;
            Some(if letter.key.is_none() {
                "no_key"
            } else {
                "truncated"
            })
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
        let (key, payload, fixed) = match fixes.remove(&position) {
            Some((key, payload)) => (key.into_bytes(), payload, true),
            None => (
                letter.key.clone().unwrap_or_default(),
                letter.payload.clone().unwrap_or_default(),
                false,
            ),
        };
        planned.push(Planned {
            letter,
            key,
            payload,
            fixed,
        });
    }
    if options.dry_run {
        for p in &planned {
            let line = serde_json::json!({
                "dlq": p.letter.position.to_string(), "action": "would_replay", "fixed": p.fixed,
                "replay_count": p.letter.replay_count() + 1,
            });
            crate::tail::write_line(out, &line)?;
        }
        outcome.replayed = planned.len() as u64;
        return Ok(outcome);
    }

    let producer = Producer::new(settings, options.delivery_timeout)?;
    for chunk in planned.chunks(CHUNK) {
        let sends = chunk.iter().map(|p| {
            let count = (p.letter.replay_count() + 1).to_string();
            let of = format!(
                "{}/{}/{}",
                topics.dlq, p.letter.position.partition, p.letter.position.offset
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
        for (p, result) in chunk.iter().zip(results) {
            match result {
                Ok((partition, offset)) => acknowledged.push(Replayed {
                    dlq_partition: p.letter.position.partition,
                    dlq_offset: p.letter.position.offset,
                    command_partition: partition,
                    command_offset: offset,
                    fixed: p.fixed,
                }),
                Err(error) => {
                    failure.get_or_insert((p.letter.position, error));
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
        if let Some((position, error)) = failure {
            anyhow::bail!(
                "sending {position} failed ({error}); {} replayed and recorded, run it again to go on",
                outcome.replayed
            );
        }
    }
    Ok(outcome)
}
