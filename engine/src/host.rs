//! What the machine around the engine has left: this process's resident
//! memory and a file system's used share, as shard limits (strict mode) and
//! the node's quota both measure them.

use std::path::Path;

/// This process's resident memory as a share of the machine's (Linux `/proc`),
/// rounded down so a limit trips only once fully reached.
pub fn resident_memory_percent() -> Option<u8> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    percent_of(resident_pages * page, total_kb * 1024)
}

/// The used share of the file system holding `dir`, rounded down.
pub fn disk_usage_percent(dir: &Path) -> Option<u8> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is a plain C struct of integers, for which all zeroes is a valid value.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let blocks = stat.f_blocks as u64;
    percent_of(blocks.saturating_sub(stat.f_bfree as u64), blocks)
}

/// `used` as a percentage of `total`, clamped to 100; none for a zero total.
fn percent_of(used: u64, total: u64) -> Option<u8> {
    if total == 0 {
        return None;
    }
    Some((u128::from(used) * 100 / u128::from(total)).min(100) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_measured() {
        let memory = resident_memory_percent().expect("Linux /proc");
        assert!(memory < 100);
        assert!(disk_usage_percent(Path::new("/")).is_some_and(|d| d <= 100));
        assert_eq!(percent_of(999, 1000), Some(99));
        assert_eq!(percent_of(0, 0), None);
    }
}
