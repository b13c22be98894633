//! Vector indexing: distance kernels, the HNSW graph wrapper, quantized vectors, and
//! the inverted index of sparse vectors.

mod file;
mod hnsw;
pub mod kernels;
mod quantized;
mod sparse;

pub use file::IndexFileError;
pub use hnsw::{graph_distance, Graph, GraphParams, RowRenaming, WalkDistance};
pub use quantized::{PreparedQuery, QuantizedVectors};
pub(crate) use sparse::InvertedIndex;
