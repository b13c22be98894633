//! The gateway: stateless, Qdrant-compatible REST and gRPC for clients; routes
//! point operations to data-plane shard replicas using a cached topology.

pub mod aliases;
pub mod auth;
pub mod cluster;
pub mod grpc;
pub mod inference;
pub mod quotas;
pub mod replica_set;
pub mod rest;
pub mod routing;
pub mod service;
pub mod snapshots;
pub mod telemetry;

mod instance;

pub use auth::ApiKeys;
pub use instance::{ClientTls, GatewayInstance, GatewayOptions};
pub use service::Gateway;
