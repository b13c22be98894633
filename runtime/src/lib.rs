//! What every Tessera service runs on, whichever role it plays: the internal
//! channel (TLS, the internal token, trace propagation), the metrics and
//! health server, request statistics, the pool of channels to data nodes, the
//! remote shard (the shard interface over gRPC) and the control plane's
//! topology, cached and kept current.
//!
//! It sits between `tessera-proto` (the contracts) and the service crates,
//! which never depend on one another.

pub mod internal_auth;
pub mod metrics;
pub mod peers;
pub mod remote_shard;
pub mod request_stats;
pub mod tls;
pub mod topology_watch;
pub mod trace_context;
pub mod transport;
