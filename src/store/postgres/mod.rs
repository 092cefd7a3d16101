//! PostgreSQL: the processor's source of truth. Every statement the service runs is in this
//! folder, one file per job: `batch`, `offsets`, `outbox`, `payments`, `shipments`, `reads`,
//! `api_keys`, `webhooks`, `replays`.

mod api_keys;
mod batch;
mod offsets;
mod outbox;
mod payments;
mod reads;
mod replays;
mod shipments;
mod webhooks;

pub use batch::{BatchWrite, DeadLetterRow, EventRow, ProcessedRow};
pub use offsets::OffsetMove;
pub use outbox::{StoredDeadLetter, StoredEvent};
pub use reads::{CommandStatus, OrderFilter};
pub use replays::Replayed;
pub use webhooks::{
    AttemptRecord, AttemptRow, ClaimedDelivery, DeliveryRow, DisabledEndpoint, EndpointChanges,
    EndpointRow, NewDelivery, NextStep, Recorded,
};

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub type Result<T, E = sqlx::Error> = std::result::Result<T, E>;

/// What `migrate` did: the migrations it applied (`<version> <description>`), and how many
/// had been applied before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    pub already: usize,
}

/// Why a batch could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A stored offset was not where this consumer left it: another member owns the
    /// partition now. Nothing was written.
    #[error("stored offsets moved under this batch: the partition assignment was lost")]
    Fenced,
    /// An order's row was not at the version the batch folded from (or a new order's row
    /// existed already). Nothing was written.
    #[error("an order's row is not at the version the batch folded from")]
    StaleOrder,
    /// An idempotency key of the batch was stored by another batch meanwhile.
    #[error("an idempotency key was stored by another batch meanwhile")]
    IdempotencyRace,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The LISTEN/NOTIFY channel a batch's commit notifies when it handled commands: long-polls
/// of `GET /v1/commands/{id}` wake on it instead of polling.
pub const COMMANDS_HANDLED: &str = "orderflow_commands_handled";

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// The pool, for SQL that is not the service's: the benchmark's I/O ceiling (`loadgen`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `password`, when given, replaces the one in `url`.
    pub async fn connect(
        url: &SecretString,
        password: Option<&SecretString>,
        max_connections: u32,
    ) -> Result<Self> {
        let mut options: PgConnectOptions = url.expose_secret().parse()?;
        if let Some(password) = password {
            options = options.password(password.expose_secret());
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// A listener of `COMMANDS_HANDLED` on its own connection.
    pub async fn listen_commands_handled(&self) -> Result<sqlx::postgres::PgListener> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(COMMANDS_HANDLED).await?;
        Ok(listener)
    }

    /// Answers when PostgreSQL does.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Applies the embedded migrations in `migrations/`; says which it applied now and how
    /// many were applied before.
    pub async fn migrate(&self) -> Result<MigrationReport, sqlx::migrate::MigrateError> {
        let migrator = sqlx::migrate!("./migrations");
        // Absent before the first run: nothing applied yet.
        let before: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
        migrator.run(&self.pool).await?;
        let applied = migrator
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        Ok(MigrationReport {
            applied,
            already: before.len(),
        })
    }
}
