//! Strict mode's `max_resident_memory_percent` and `max_disk_usage_percent`: the
//! primary of a shard refuses writes that store data while its node's resident memory,
//! or the disk holding the shard, is at or past the limit. Checked here, not at the
//! gateway, because the data node is the one whose memory and disk fill up. The
//! node-wide quota (the data plane's `quota`) measures the same way and is checked separately.

use std::path::Path;

use tessera_types::{CollectionConfig, ShardOperation};

use super::ShardError;
use crate::host::{disk_usage_percent, resident_memory_percent};

/// Refuses `op` when it stores data and a resource limit of `config` is reached.
pub(super) fn check(
    config: &CollectionConfig,
    dir: &Path,
    op: &ShardOperation,
) -> Result<(), ShardError> {
    let Some(strict) = config.strict_mode() else {
        return Ok(());
    };
    let stores = op.carries_vectors()
        || matches!(
            op,
            ShardOperation::SetPayload { .. } | ShardOperation::OverwritePayload { .. }
        );
    if !stores {
        return Ok(());
    }
    // An unreadable statistic lets the write through rather than refusing all.
    if let Some(limit) = strict.max_resident_memory_percent {
        if let Some(used) = resident_memory_percent() {
            refuse_at(Limit::ResidentMemory, used, limit)?;
        }
    }
    if let Some(limit) = strict.max_disk_usage_percent {
        if let Some(used) = disk_usage_percent(dir) {
            refuse_at(Limit::DiskUsage, used, limit)?;
        }
    }
    Ok(())
}

enum Limit {
    ResidentMemory,
    DiskUsage,
}

/// Qdrant's refusal once `used >= limit`: 1.19's text for memory, and for disk
/// 1.18's (the last that had the setting).
fn refuse_at(what: Limit, used: u8, limit: u8) -> Result<(), ShardError> {
    if used < limit {
        return Ok(());
    }
    Err(ShardError::BadRequest(match what {
        Limit::ResidentMemory => format!(
            "Resident memory usage is at {used}% of total memory, exceeding the configured \
             limit of {limit}%. Help: Reduce memory usage (e.g. delete points or drop \
             collections), or raise `max_resident_memory_percent` in the strict mode config \
             of this collection."
        ),
        Limit::DiskUsage => format!(
            "Disk usage is at {used}% of total capacity, exceeding the configured limit of \
             {limit}%. Help: Reduce disk usage (e.g. delete points or drop collections) or \
             raise `max_disk_usage_percent` in strict mode."
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_trip_when_reached() {
        assert!(refuse_at(Limit::DiskUsage, 39, 40).is_ok());
        let err = refuse_at(Limit::ResidentMemory, 40, 40).unwrap_err();
        let err = tessera_types::TesseraError::from(err).to_string();
        assert!(
            err.starts_with(
                "Bad request: Resident memory usage is at 40% of total memory, exceeding the \
                 configured limit of 40%. Help: "
            ),
            "{err}"
        );
    }
}
