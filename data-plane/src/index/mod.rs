//! Vector indexing: distance kernels and the HNSW graph wrapper.

mod hnsw;
pub mod kernels;

pub use hnsw::{Graph, GraphParams};
