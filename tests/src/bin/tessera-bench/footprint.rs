//! `--data-dir` and `--snapshot`: what a collection costs on disk, and what a
//! snapshot of it costs in time and memory, in figures comparable with Qdrant's
//! (same REST calls; its process is found by name as Tessera's is).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

/// Bytes of the files under `dir`, and of those in a `wal` directory.
fn disk_bytes(dir: &Path) -> (u64, u64) {
    let (mut all, mut wal) = (0, 0);
    let mut stack = vec![(dir.to_path_buf(), false)];
    while let Some((dir, in_wal)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push((entry.path(), in_wal || entry.file_name() == "wal"));
            } else {
                all += meta.len();
                if in_wal {
                    wal += meta.len();
                }
            }
        }
    }
    (all, wal)
}

/// Prints the data directory's size and the WAL's, in all and per point.
pub fn report_disk(dir: &Path, points: u64) {
    let (all, wal) = disk_bytes(dir);
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "disk     data directory {:.0} MB ({:.0} bytes/point), of which WAL {:.0} MB ({:.0} bytes/point)",
        mb(all),
        all as f64 / points as f64,
        mb(wal),
        wal as f64 / points as f64
    );
}

/// Resident kilobytes of each process named `tessera` or `qdrant`, by pid.
fn server_rss_kb() -> HashMap<u32, u64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| matches!(c.trim(), "tessera" | "qdrant"))
        })
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            Some((pid, crate::memory::field_kb(&status, "VmRSS")))
        })
        .collect()
}

/// The servers' resident memory around some work: when it began, its peak
/// (sampled every 20 ms) and when it ended, per process in kilobytes.
pub(crate) struct Resident {
    before: HashMap<u32, u64>,
    peak_sum: u64,
    peak: HashMap<u32, u64>,
    after: HashMap<u32, u64>,
}

impl Resident {
    /// The summed peak above the summed start, in MB.
    pub(crate) fn rise(&self) -> f64 {
        self.peak_sum.saturating_sub(self.before.values().sum()) as f64 / 1024.0
    }

    /// The largest rise of one process above both its ends, in MB: what the work held
    /// only while it ran. A shard moved in stays on its new node and leaves the old
    /// one; the buffers that carried it should not stay anywhere.
    pub(crate) fn transient(&self) -> f64 {
        let at = |map: &HashMap<u32, u64>, pid: &u32| map.get(pid).copied().unwrap_or(0);
        self.peak
            .iter()
            .map(|(pid, peak)| peak.saturating_sub(at(&self.before, pid).max(at(&self.after, pid))))
            .max()
            .unwrap_or(0) as f64
            / 1024.0
    }
}

/// Runs `work` while sampling the servers' resident memory.
pub(crate) async fn sampled<T>(work: impl std::future::Future<Output = T>) -> (T, Resident) {
    let before = server_rss_kb();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, before) = (done.clone(), before.clone());
        std::thread::spawn(move || {
            let mut peak_sum: u64 = before.values().sum();
            let mut peak = before;
            while !done.load(Ordering::Acquire) {
                let now = server_rss_kb();
                peak_sum = peak_sum.max(now.values().sum());
                for (pid, kb) in now {
                    let seen = peak.entry(pid).or_default();
                    *seen = (*seen).max(kb);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (peak_sum, peak)
        })
    };
    let value = work.await;
    done.store(true, Ordering::Release);
    let (peak_sum, peak) = sampler.join().unwrap_or_default();
    let after = server_rss_kb();
    let resident = Resident {
        before,
        peak_sum,
        peak,
        after,
    };
    (value, resident)
}

async fn with_peak<T>(work: impl std::future::Future<Output = T>) -> (T, f64) {
    let (value, resident) = sampled(work).await;
    (value, resident.rise())
}

async fn call(request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
    let response = request.send().await.with_context(|| what.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| what.to_string())?;
    anyhow::ensure!(status.is_success(), "{what}: {status} {body}");
    Ok(body["result"].clone())
}

/// Takes a collection snapshot, then recovers it into a new collection from
/// its download URL, timing both and sampling the servers' memory.
pub async fn measure_snapshot(rest_url: &str, collection: &str, points: u64) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    let started = Instant::now();
    let (created, create_peak) = with_peak(call(
        http.post(format!(
            "{rest_url}/collections/{collection}/snapshots?wait=true"
        )),
        "create a collection snapshot",
    ))
    .await;
    let created = created?;
    let create_time = started.elapsed();
    let name = created["name"]
        .as_str()
        .context("the snapshot has no name")?;
    let size = created["size"].as_u64().unwrap_or(0);

    let restored = format!("{collection}_restored");
    let _ = http
        .delete(format!("{rest_url}/collections/{restored}"))
        .send()
        .await;
    let started = Instant::now();
    let location = format!("{rest_url}/collections/{collection}/snapshots/{name}");
    let (recovered, recover_peak) = with_peak(call(
        http.put(format!(
            "{rest_url}/collections/{restored}/snapshots/recover?wait=true"
        ))
        .json(&json!({ "location": location })),
        "recover the snapshot into a new collection",
    ))
    .await;
    recovered?;
    let recover_time = started.elapsed();
    let count = call(
        http.post(format!("{rest_url}/collections/{restored}/points/count"))
            .json(&json!({ "exact": true })),
        "count the recovered collection",
    )
    .await?;
    anyhow::ensure!(
        count["count"].as_u64() == Some(points),
        "the recovered collection holds {} points, not {points}",
        count["count"]
    );
    let _ = http
        .delete(format!("{rest_url}/collections/{restored}"))
        .send()
        .await;
    let _ = http
        .delete(format!(
            "{rest_url}/collections/{collection}/snapshots/{name}"
        ))
        .send()
        .await;
    println!(
        "snapshot {:.0} MB created in {:.1} s (peak +{create_peak:.0} MB resident); recovered into a new collection in {:.1} s (peak +{recover_peak:.0} MB)",
        size as f64 / 1e6,
        create_time.as_secs_f64(),
        recover_time.as_secs_f64(),
    );
    Ok(())
}
