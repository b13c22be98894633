//! Test harness for Tessera's end-to-end tests and benchmark.
//!
//! Two tiers start the same deployment shapes:
//!
//! * the **process tier** ([`Standalone`], [`ProcessCluster`]) spawns the real
//!   `tessera` binary (from `TESSERA_BIN`, else the workspace's
//!   `target/debug/tessera`), so it tests what users run, including signals,
//!   restarts and crashes;
//! * the **in-process tier** ([`InProcessCluster`]) composes the control plane,
//!   data planes and gateway inside the test's tokio runtime, which is faster
//!   and needs no prebuilt binary.
//!
//! Every deployment listens on free loopback ports, keeps its data in a
//! temporary directory and offers `http_url()`, `grpc_url()` and `rest()`.
//! Process-tier deployments print the tail of each process's log when a test
//! panics, so a failure shows what the servers said.

pub mod data;
pub mod docker;
pub mod history;
pub mod in_process;
pub mod netns;
pub mod otlp;
pub mod process;
pub mod replicas;
pub mod rest;
pub mod tls;
pub mod wait;
pub mod writer;

pub use in_process::InProcessCluster;
pub use process::{tessera_bin, Node, ProcessCluster, Standalone};
pub use rest::{Reply, Rest};
