//! A shard snapshot is written and unpacked as a stream: the memory either takes
//! stays within a small budget however large the shard is. Its own test binary,
//! because it counts allocations with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use serde_json::json;
use tessera_engine::shard::{RestoredHistory, Shard};
use tessera_types::{
    CollectionConfig, CreateCollection, Distance, NamedVectors, Point, PointId, ShardOperation,
    VectorParams, VectorsConfig,
};

/// Counts the bytes allocated by the current thread, and their high-water mark; the
/// shard's own threads (its optimizer) are left out, so the figures are the call's.
struct PerThreadCounting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn add(delta: i64) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed unchanged to the system allocator; the counting
// beside it touches only thread-local cells and never allocates.
unsafe impl GlobalAlloc for PerThreadCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as i64);
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as i64));
        // SAFETY: `ptr` came from the system allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as i64 - layout.size() as i64);
        // SAFETY: `ptr` came from the system allocator with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PerThreadCounting = PerThreadCounting;

/// Bytes `f` allocated at its peak beyond what was live when it started.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let value = f();
    (value, (PEAK.with(Cell::get) - start).max(0) as u64)
}

const MIB: u64 = 1024 * 1024;
const BUDGET: u64 = 16 * MIB;
const DIM: usize = 4096;
const POINTS: u64 = 8_000;

/// A shard of `POINTS` points of `DIM` floats each (131 MB of vectors) with a
/// small payload each, flushed to disk; its vectors in memory or `on_disk`.
fn large_shard(dir: &Path, on_disk: Option<bool>) -> (Shard, CollectionConfig) {
    let config = CreateCollection {
        vectors: Some(VectorsConfig::Single(VectorParams {
            size: DIM as u64,
            distance: Distance::Dot,
            hnsw_config: None,
            quantization_config: None,
            on_disk,
            datatype: None,
            multivector_config: None,
        })),
        optimizers_config: Some(json!({"indexing_threshold": 0, "flush_interval_sec": 3600})),
        ..Default::default()
    }
    .into_config(1)
    .unwrap();
    let shard = Shard::open(&dir.join("shard"), config.clone()).unwrap();
    for first in (0..POINTS).step_by(500) {
        let points = (first..first + 500)
            .map(|id| Point {
                id: PointId::Num(id),
                vectors: NamedVectors::from([(
                    String::new(),
                    vec![id as f32 / POINTS as f32; DIM].into(),
                )]),
                payload: json!({"n": id}).as_object().unwrap().clone(),
            })
            .collect();
        shard.apply(ShardOperation::Upsert(points), false).unwrap();
    }
    shard.flush().unwrap();
    (shard, config)
}

#[test]
fn a_shard_larger_than_the_budget_snapshots_and_restores_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let (shard, config) = large_shard(dir.path(), Some(true));

    let snapshot = dir.path().join("shard.snapshot");
    let (written, write_peak) = peak_during(|| shard.snapshot(&snapshot));
    written.unwrap();
    let size = std::fs::metadata(&snapshot).unwrap().len();
    assert!(
        size > 6 * BUDGET,
        "the shard must dwarf the budget: {size} bytes"
    );
    assert!(
        write_peak < BUDGET,
        "writing a {size}-byte snapshot took {write_peak} bytes"
    );

    let restored = dir.path().join("restored");
    let (unpacked, restore_peak) =
        peak_during(|| Shard::restore_snapshot(&snapshot, &restored, RestoredHistory::Keep));
    unpacked.unwrap();
    eprintln!(
        "a {size}-byte shard snapshot: writing it took {write_peak} bytes at most, restoring it {restore_peak}"
    );
    assert!(
        restore_peak < BUDGET,
        "restoring a {size}-byte snapshot took {restore_peak} bytes"
    );
    let reopened = Shard::open(&restored, config).unwrap();
    assert_eq!(reopened.count(None).unwrap(), POINTS);
}

#[test]
fn a_records_view_of_a_shard_larger_than_the_budget_pages_through_it_within_it() {
    let dir = tempfile::tempdir().unwrap();
    // Vectors in memory in the shard itself: the view must not read them in.
    let (shard, config) = large_shard(dir.path(), None);
    let snapshot = dir.path().join("shard.snapshot");
    shard.snapshot(&snapshot).unwrap();
    let view_dir = dir.path().join("view");
    Shard::restore_snapshot(&snapshot, &view_dir, RestoredHistory::Keep).unwrap();

    let (streamed, peak) = peak_during(|| {
        let view = Shard::open_records_view(&view_dir, config).unwrap();
        let (mut from, mut streamed) = (None, Vec::new());
        loop {
            let (page, next) = view.records_page(from, 100);
            streamed.extend(page.iter().map(|(_, point)| {
                let expected = json!({"n": point.id.to_string().parse::<u64>().unwrap()});
                (point.id, point.payload == *expected.as_object().unwrap())
            }));
            view.release_resident();
            match next {
                Some(id) => from = Some(id),
                None => break streamed,
            }
        }
    });
    eprintln!("paging through a records view of {POINTS} points of {DIM} floats took {peak} bytes at most");
    assert_eq!(streamed.len() as u64, POINTS);
    assert!(streamed.iter().all(|(_, payload_intact)| *payload_intact));
    assert!(
        peak < BUDGET,
        "paging through a records view took {peak} bytes"
    );
}
