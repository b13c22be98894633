//! The node-wide resource quota (Qdrant 1.19 `/quotas`), enforced here because
//! the data node is the one whose memory and disk fill up. The config comes
//! with the topology; whether a limit has tripped is this node's own state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tessera_engine::host::{disk_usage_percent, resident_memory_percent};
use tessera_runtime::topology_watch::TopologyCache;
use tessera_types::quota::{NodeQuotaUsage, Resource};
use tessera_types::{QuotaConfig, ShardOperation, TesseraError};

/// This node's quota state: per resource, whether it tripped at the last check.
pub struct NodeQuota {
    dir: PathBuf,
    topology: TopologyCache,
    resident_memory: AtomicBool,
    disk_usage: AtomicBool,
}

impl NodeQuota {
    /// `dir` is the data directory, whose file system is the one that fills.
    pub fn new(dir: &Path, topology: TopologyCache) -> Self {
        NodeQuota {
            dir: dir.to_path_buf(),
            topology,
            resident_memory: AtomicBool::new(false),
            disk_usage: AtomicBool::new(false),
        }
    }

    /// Refuses an update that consumes quota while a limit holds, judged with
    /// the quota of `topology_version` (the one the sender routed with) or newer.
    pub async fn check_update(
        &self,
        topology_version: u64,
        op: &ShardOperation,
    ) -> Result<(), TesseraError> {
        if !op.consumes_quota() {
            return Ok(());
        }
        let topology = self.topology.wait_for_version(topology_version).await?;
        let config = topology.quota;
        for resource in Resource::ALL {
            if let Some(limit) = config.limit(resource) {
                let used = self.measure(resource);
                judge(
                    resource,
                    limit,
                    config.release_margin(),
                    self.tripped(resource),
                    used,
                )?;
            }
        }
        Ok(())
    }

    /// What `GET /quotas` and telemetry report for this node.
    pub async fn usage(&self, topology_version: u64) -> Result<NodeQuotaUsage, TesseraError> {
        let topology = self.topology.wait_for_version(topology_version).await?;
        let config: QuotaConfig = topology.quota;
        let memory = resident_memory_percent();
        let disk = disk_usage_percent(&self.dir);
        // Judged as a write would be, so the verdict says whether writes pass.
        let verdict = |resource, used: Option<u8>| {
            let limit = config.limit(resource)?;
            used?;
            let tripped = self.tripped(resource);
            Some(judge(resource, limit, config.release_margin(), tripped, used).is_err())
        };
        Ok(NodeQuotaUsage {
            resident_memory_percent: memory,
            disk_usage_percent: disk,
            resident_memory_exceeded: verdict(Resource::ResidentMemory, memory),
            disk_usage_exceeded: verdict(Resource::DiskUsage, disk),
        })
    }

    fn tripped(&self, resource: Resource) -> &AtomicBool {
        match resource {
            Resource::ResidentMemory => &self.resident_memory,
            Resource::DiskUsage => &self.disk_usage,
        }
    }

    fn measure(&self, resource: Resource) -> Option<u8> {
        match resource {
            Resource::ResidentMemory => resident_memory_percent(),
            Resource::DiskUsage => disk_usage_percent(&self.dir),
        }
    }
}

/// Compares `used` against the level `resource` is held to and records in
/// `tripped` whether it tripped.
fn judge(
    resource: Resource,
    limit: u8,
    margin: u8,
    tripped: &AtomicBool,
    used: Option<u8>,
) -> Result<(), TesseraError> {
    // An unreadable statistic lets writes through: a limit that cannot be
    // evaluated must not become a limit of zero.
    let Some(used) = used else {
        tripped.store(false, Ordering::Relaxed);
        return Ok(());
    };
    let threshold = threshold(limit, tripped.load(Ordering::Relaxed), margin);
    let exceeded = used >= threshold;
    tripped.store(exceeded, Ordering::Relaxed);
    if exceeded {
        return Err(resource.refusal(used, limit, threshold));
    }
    Ok(())
}

/// The level a resource is compared against: its limit, or once it tripped,
/// `margin` below it, so usage resting on the limit does not flip the node in
/// and out of service on every reading. Never below 1, or a margin wider than
/// the limit could never be cleared.
fn threshold(limit: u8, tripped: bool, margin: u8) -> u8 {
    if !tripped {
        return limit;
    }
    limit.saturating_sub(margin).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tripped_limit_holds_until_usage_clears_the_margin() {
        let tripped = AtomicBool::new(false);
        let judge = |used| judge(Resource::DiskUsage, 90, 5, &tripped, Some(used));
        assert!(judge(89).is_ok());
        let err = judge(90).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Insufficient storage: Disk usage is at 90% of total capacity, exceeding the \
             configured limit of 90%. Help: Reduce disk usage (e.g. delete points or drop \
             collections), or raise `max_disk_usage_percent` in the global quota config."
        );
        // Back under the limit but within the margin: still refused, and said so.
        let err = judge(87).unwrap_err();
        assert!(
            err.to_string().contains(
                "is at 87% of total capacity. It reached the configured limit of 90% and has \
                 to fall below 85% before this node takes writes again. Help:"
            ),
            "{err}"
        );
        assert!(judge(85).is_err());
        // Below the margin it clears, and the limit is the limit again.
        assert!(judge(84).is_ok());
        assert!(judge(89).is_ok());
        assert!(judge(90).is_err());
    }

    #[test]
    fn thresholds_never_fall_below_one() {
        assert_eq!(threshold(90, false, 5), 90);
        assert_eq!(threshold(90, true, 0), 90);
        assert_eq!(threshold(5, true, 5), 1);
        assert_eq!(threshold(1, true, 5), 1);
    }
}
