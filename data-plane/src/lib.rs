//! The data plane: the node that holds shard replicas (each a
//! `tessera_engine` shard), keeps them in line with the control plane's
//! topology, replicates writes in each shard's order and serves point
//! operations to gateways over gRPC.

pub mod grpc;
pub mod membership;
mod metrics;
pub mod quota;
pub mod registry;
pub mod replica_set;
mod service;
mod snapshots;

mod instance;

pub use instance::{DataPlaneInstance, DataPlaneOptions};
pub use tessera_engine::shard::WalRetention;
