//! Durable state (PostgreSQL: all SQL lives in `postgres.rs`) and the read cache (Redis).

pub mod cache;
pub mod postgres;

pub use cache::Cache;
pub use postgres::{
    BatchWrite, CommandStatus, DeadLetterRow, EventRow, MigrationReport, OffsetMove, OrderFilter,
    ProcessedRow, Replayed, Store, StoredDeadLetter, StoredEvent, WriteError,
};
