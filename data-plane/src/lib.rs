//! The data plane: holds shard replicas (WAL, points, HNSW) and serves point
//! operations to gateways over gRPC.

pub mod filter;
pub mod grpc;
pub mod index;
pub mod membership;
mod metrics;
mod payload_index;
pub mod quota;
pub mod registry;
pub mod replica_set;
mod segment;
pub mod shard;
pub mod snapshot;
pub mod wal;

mod instance;

pub use instance::{DataPlaneInstance, DataPlaneOptions};
