//! Strict mode's `max_resident_memory_percent` and `max_disk_usage_percent`: the
//! primary of a shard refuses writes that store data while its node's resident memory,
//! or the disk holding the shard, is past the limit. Checked here, not at the gateway,
//! because the data node is the one whose memory and disk fill up.

use std::path::Path;

use tessera_types::{CollectionConfig, ShardOperation};

use super::ShardError;

/// Refuses `op` when it stores data and a resource limit of `config` is exceeded.
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
    if let Some(max) = strict.max_resident_memory_percent {
        if let Some(used) = resident_memory_percent() {
            refuse_above("Resident memory", used, max)?;
        }
    }
    if let Some(max) = strict.max_disk_usage_percent {
        if let Some(used) = disk_usage_percent(dir) {
            refuse_above("Disk", used, max)?;
        }
    }
    Ok(())
}

fn refuse_above(what: &str, used: f64, max: u8) -> Result<(), ShardError> {
    if used > max as f64 {
        return Err(ShardError::BadInput(format!(
            "{what} usage is {used:.0}%, above the collection's limit of {max}%: writes are refused until it falls"
        )));
    }
    Ok(())
}

/// This process's resident memory as a share of the machine's (Linux `/proc`).
fn resident_memory_percent() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(resident_pages * page * 100.0 / (total_kb * 1024.0))
}

/// The used share of the file system holding `dir`.
fn disk_usage_percent(dir: &Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 || stat.f_blocks == 0 {
        return None;
    }
    let used = (stat.f_blocks - stat.f_bfree) as f64;
    Some(used * 100.0 / stat.f_blocks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_and_compared() {
        let memory = resident_memory_percent().expect("Linux /proc");
        assert!(memory > 0.0 && memory < 100.0);
        let disk = disk_usage_percent(Path::new("/")).expect("statvfs");
        assert!((0.0..=100.0).contains(&disk));
        assert!(refuse_above("Disk", 50.0, 40).is_err());
        assert!(refuse_above("Disk", 30.0, 40).is_ok());
    }
}
