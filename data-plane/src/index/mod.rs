//! Vector indexing: distance kernels, the HNSW graph wrapper, and the inverted
//! index of sparse vectors.

mod hnsw;
pub mod kernels;
mod sparse;

pub use hnsw::{Graph, GraphParams};
pub(crate) use sparse::InvertedIndex;
