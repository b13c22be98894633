//! `--data-dir` and `--snapshot`: what a collection costs on disk, and what a
//! snapshot of it costs in time and memory, in figures comparable with Qdrant's
//! (same REST calls; its process is found by name as Tessera's is).

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

/// Summed resident kilobytes of the processes named `tessera` or `qdrant`.
fn server_rss_kb() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| matches!(c.trim(), "tessera" | "qdrant"))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .map(|status| crate::memory::field_kb(&status, "VmRSS"))
        .sum()
}

/// Runs `work` while sampling the servers' resident memory every 20 ms;
/// returns its result and the peak above the memory when it started, in MB.
async fn with_peak<T>(work: impl std::future::Future<Output = T>) -> (T, f64) {
    let before = server_rss_kb();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Acquire) {
                peak = peak.max(server_rss_kb());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let value = work.await;
    done.store(true, Ordering::Release);
    let peak = sampler.join().unwrap_or(0);
    (value, peak.saturating_sub(before) as f64 / 1024.0)
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
