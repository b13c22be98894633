//! Errors and the quota cross services intact: what a data node refuses with
//! reaches the gateway as the same error.

use tessera_proto::control_plane as cp;
use tessera_proto::convert::{error_to_status, status_to_error};
use tessera_types::{QuotaConfig, TesseraError, Topology};

#[test]
fn a_full_node_is_told_apart_from_a_rate_limit() {
    let full = TesseraError::InsufficientStorage("Disk usage is at 95% ...".into());
    let status = error_to_status(full.clone());
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    // Qdrant's gRPC message carries the prefix, as its REST one does.
    assert_eq!(
        status.message(),
        "Insufficient storage: Disk usage is at 95% ..."
    );
    assert_eq!(status_to_error(status), full);

    let limited = TesseraError::RateLimited {
        description: "Write rate limit exceeded".into(),
        retry_after: Some(3),
    };
    assert_eq!(status_to_error(error_to_status(limited.clone())), limited);
}

#[test]
fn the_quota_travels_with_the_topology() {
    let topology = Topology {
        quota: QuotaConfig {
            enabled: true,
            max_resident_memory_percent: Some(90),
            ..Default::default()
        },
        ..Default::default()
    };
    let streamed = cp::Topology::from(&topology);
    assert_eq!(Topology::try_from(streamed).unwrap(), topology);
    // A topology from before quotas has none.
    let old = cp::Topology::default();
    assert_eq!(
        Topology::try_from(old).unwrap().quota,
        QuotaConfig::default()
    );
}
