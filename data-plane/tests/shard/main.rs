//! Shard storage engine tests, on real files in temporary directories.

mod common;
mod concurrency;
mod crud;
mod recovery;
mod search;
