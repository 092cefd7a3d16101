//! `orderflow dlq`: the dead-letter topic for operators — list and show what the processor
//! refused, and replay it onto the commands topic, as it was or corrected (see `replay`).

mod letter;
mod replay;

use std::io::Write;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};

use crate::args::{DbArgs, KafkaArgs};
use crate::codec::Codec;
use crate::kafka::KafkaSettings;
use crate::kafka::reader::{Start, TopicReader};

pub use letter::{DeadLetter, Position};
pub use replay::{Fix, ReplayOptions, ReplayOutcome, ReplaySource, replay};

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, at start
pub enum DlqCommand {
    /// Dead letters as JSON lines (or a table): position, time, error, key, decoded value.
    List {
        #[command(flatten)]
        selection: Selection,
        /// `json`: one object per line; `table`: a line per letter for people.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// One dead letter in full, as JSON: headers, payload (text or hex), decoded value.
    Show {
        /// Where it is on the DLQ topic, `<partition>:<offset>` (as `list` prints).
        position: Position,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Put dead letters back on the commands topic, as they were (`--as-is`) or re-encoded
    /// from a corrected JSON file (`--fix`). What was replayed is recorded in PostgreSQL, so
    /// running it again goes on where it stopped.
    Replay {
        #[command(flatten)]
        options: ReplayArgs,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Table,
}

/// Which dead letters: every one that passes every filter given.
#[derive(Debug, Clone, Default, Args)]
pub struct Selection {
    /// Only letters with this error kind (repeatable), e.g. `bad_magic`, `key_mismatch`.
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
    /// Only letters written at or after this time: RFC 3339, or a duration ago (`2h`).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<SystemTime>,
    /// Only letters written before this time: RFC 3339, or a duration ago.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<SystemTime>,
    /// Only letters under this record key (an order id).
    #[arg(long)]
    pub key: Option<String>,
    /// Only these letters, `<partition>:<offset>` (repeatable).
    #[arg(long = "at")]
    pub at: Vec<Position>,
}

impl Selection {
    fn matches(&self, letter: &DeadLetter) -> bool {
        let time = letter.timestamp_ms.unwrap_or(0);
        (self.kinds.is_empty() || self.kinds.iter().any(|k| Some(k.as_str()) == letter.kind()))
            && self.since.is_none_or(|t| time >= epoch_millis(t))
            && self.until.is_none_or(|t| time < epoch_millis(t))
            && self
                .key
                .as_ref()
                .is_none_or(|k| letter.key.as_deref() == Some(k.as_bytes()))
            && (self.at.is_empty() || self.at.contains(&letter.position))
    }

    fn start(&self) -> Start {
        self.since
            .map_or(Start::Beginning, |t| Start::Time(epoch_millis(t)))
    }
}

fn epoch_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `--since 2h` or `--since 2026-12-04T10:00:00Z`.
fn parse_time(text: &str) -> Result<SystemTime, String> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(SystemTime::now() - ago);
    }
    humantime::parse_rfc3339_weak(text)
        .map_err(|_| format!("{text:?} is neither an RFC 3339 time nor a duration like 2h"))
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Send each selected letter's key and payload as they are (after the cause was fixed
    /// elsewhere, say a schema or a processor bug).
    #[arg(long, required_unless_present = "fix", conflicts_with = "fix")]
    pub as_is: bool,
    /// Send corrected commands instead: a JSON-lines file, each line
    /// `{"dlq": "<partition>:<offset>", "value": {<the command, as list prints it>}}`.
    /// The file is the selection; every line must read before anything is sent.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kinds", "since", "until", "key", "at"])]
    pub fix: Option<std::path::PathBuf>,
    /// A letter replayed this many times already is not replayed again.
    #[arg(long, default_value_t = 3)]
    pub max_replays: u32,
    /// Replay letters that were replayed before, too.
    #[arg(long)]
    pub again: bool,
    /// Print what would be replayed, and send and record nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The letters of the DLQ that `selection` selects, read from where it can start, in
/// offset order within each partition.
pub(crate) struct Letters<'s> {
    reader: TopicReader,
    selection: &'s Selection,
}

impl<'s> Letters<'s> {
    pub(crate) fn open(
        settings: &KafkaSettings,
        dlq_topic: &str,
        selection: &'s Selection,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            reader: TopicReader::open(settings, dlq_topic, selection.start(), false)?,
            selection,
        })
    }

    /// The next selected letter; None at the end of the topic.
    pub(crate) async fn next(&mut self) -> anyhow::Result<Option<DeadLetter>> {
        while let Some(message) = self.reader.next().await? {
            let letter = DeadLetter::of(&message);
            if self.selection.matches(&letter) {
                return Ok(Some(letter));
            }
        }
        Ok(None)
    }
}

/// `orderflow dlq list`: writes the selected letters to `out`; returns how many.
pub async fn list(
    settings: &KafkaSettings,
    dlq_topic: &str,
    codec: &Codec,
    selection: &Selection,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut letters = Letters::open(settings, dlq_topic, selection)?;
    if format == Format::Table {
        writeln!(
            out,
            "{:<12} {:<24} {:<18} {:<36} {:>7}  MESSAGE",
            "POSITION", "WRITTEN", "KIND", "KEY", "REPLAYS"
        )?;
    }
    let mut listed = 0;
    while let Some(letter) = letters.next().await? {
        let written = match format {
            Format::Json => crate::tail::write_line(out, &letter.summary(codec).await),
            Format::Table => writeln!(out, "{}", letter.table_row()),
        };
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            result => result?,
        }
        listed += 1;
    }
    Ok(listed)
}

/// `orderflow dlq show`: the letter at `position` in full.
pub async fn show(
    settings: &KafkaSettings,
    dlq_topic: &str,
    codec: &Codec,
    position: Position,
) -> anyhow::Result<serde_json::Value> {
    let mut reader = TopicReader::open(
        settings,
        dlq_topic,
        Start::At(position.partition, position.offset),
        false,
    )?;
    let message = tokio::time::timeout(Duration::from_secs(30), reader.next())
        .await
        .map_err(|_| anyhow::anyhow!("reading {position} of {dlq_topic} timed out"))??;
    let letter = message.map(|m| DeadLetter::of(&m));
    match letter {
        Some(letter) if letter.position == position => Ok(letter.full(codec).await),
        // Compaction or retention removed it; the next record is another letter.
        _ => anyhow::bail!("no record at {position} of {dlq_topic}"),
    }
}

/// Runs a `dlq` subcommand, printing to stdout.
pub async fn run(command: DlqCommand) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        DlqCommand::List {
            selection,
            format,
            kafka,
        } => {
            let n = list(
                &kafka.settings(),
                &kafka.topics().dlq,
                &kafka.codec()?,
                &selection,
                format,
                &mut stdout,
            )
            .await?;
            eprintln!("dlq: {n} dead letters");
        }
        DlqCommand::Show { position, kafka } => {
            let letter = show(
                &kafka.settings(),
                &kafka.topics().dlq,
                &kafka.codec()?,
                position,
            )
            .await?;
            serde_json::to_writer_pretty(&mut stdout, &letter)?;
            writeln!(stdout)?;
        }
        DlqCommand::Replay { options, kafka, db } => {
            let store = crate::app::connect_store(&db).await?;
            let source = ReplaySource::of(&options)?;
            let options = ReplayOptions {
                selection: options.selection,
                source,
                max_replays: options.max_replays,
                again: options.again,
                dry_run: options.dry_run,
                delivery_timeout: kafka.delivery_timeout,
            };
            let outcome = replay(
                &kafka.settings(),
                &kafka.topics(),
                &kafka.codec()?,
                &store,
                &options,
                &mut stdout,
            )
            .await?;
            eprintln!("dlq replay: {outcome}");
        }
    }
    Ok(())
}
