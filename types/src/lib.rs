//! Domain types shared by Tessera's three services.
//!
//! The REST edge deserializes straight into these types (their serde shapes follow
//! Qdrant's REST contract); the gRPC edges convert to and from them once.

pub mod collection;
pub mod error;
pub mod filter;
pub mod point;
pub mod search;
pub mod topology;

pub use collection::*;
pub use error::TesseraError;
pub use filter::*;
pub use point::*;
pub use search::*;
pub use topology::*;

/// The Qdrant API version whose REST and gRPC surface Tessera implements.
/// Clients compare it with their own version on connect.
pub const QDRANT_COMPATIBLE_VERSION: &str = "1.18.3";
