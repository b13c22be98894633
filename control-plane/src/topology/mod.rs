//! The replicated state machine's logic: the commands the Raft log carries and
//! how each one changes the topology. Everything here is deterministic, so every
//! control-plane node computes the same topology from the same log.

mod command;
#[cfg(test)]
pub(crate) mod fixtures;
mod placement;
mod replicas;
mod restore;
mod shard_keys;
mod transfers;
mod validation;

pub use command::{removed, Applied, CommandResponse, TopologyCommand};
pub use validation::{plan_collection, validate_collection_name};
