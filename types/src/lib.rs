//! Domain types shared by Tessera's three services.
//!
//! The REST edge deserializes straight into these types (their serde shapes follow
//! Qdrant's REST contract); the gRPC edges convert to and from them once.

pub mod alias;
pub mod collection;
pub mod consistency;
pub mod error;
pub mod filter;
pub mod formula;
pub mod geo;
pub mod json_path;
pub mod point;
pub mod quantization;
pub mod quota;
pub mod routing;
pub mod search;
pub mod shard_client;
pub mod sharding;
pub mod snapshot;
pub mod strict_mode;
pub mod text;
pub mod text_query;
pub mod time;
pub mod topology;
pub mod transfer;
pub mod vector;

pub use alias::*;
pub use collection::*;
pub use consistency::ReadConsistency;
pub use error::TesseraError;
pub use filter::*;
pub use point::*;
pub use quantization::{QuantizationConfig, QuantizationConfigDiff, QuantizationSearchParams};
pub use quota::QuotaConfig;
pub use routing::{ShardRouter, ShardRouting};
pub use search::*;
pub use sharding::*;
pub use snapshot::*;
pub use strict_mode::{FilterShape, StrictModeConfig};
pub use topology::*;
pub use transfer::*;
pub use vector::*;

/// The Qdrant version Tessera reports to clients, which warn on connect when
/// their minor version differs from the server's by more than one. Tessera
/// implements the REST contract of Qdrant 1.18 and the gRPC protos shipped with
/// qdrant-client 1.20, so it reports 1.19: clients 1.18 to 1.20 connect quietly.
pub const QDRANT_COMPATIBLE_VERSION: &str = "1.19.0";
