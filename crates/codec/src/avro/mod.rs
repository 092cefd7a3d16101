//! Domain values <-> Avro `Value`s shaped like the schemas in `schemas/`.
//!
//! Built by hand rather than through serde so that logical types (uuid, timestamp-micros),
//! enum symbols and union branches are exactly what the schemas say.

mod command;
mod event;
mod json;
mod order;
mod shipments;
mod value;

pub use command::{COMMAND_BRANCHES, command_from_value, command_to_value};
pub use event::{EVENT_BRANCHES, event_from_value, event_to_value};
pub use json::{from_json, to_json};
pub use order::{order_from_value, order_to_value};
