//! An HNSW graph over one named vector of one immutable segment.
//!
//! hnsw_rs can neither delete nor replace a node, which suits immutable segments: the
//! graph's data ids are the segment's rows, and rows deleted after the build are masked
//! during traversal through the search filter. The optimizer rebuilds segments whose
//! deleted rows pile up.
//!
//! A built graph is saved beside its segment with hnsw_rs's own dump (`{name}.hnsw.graph`
//! and `{name}.hnsw.data`) plus `{name}.json`, written last, with the build parameters and
//! both files' CRC32: a graph without its `.json`, or with a file that does not match it,
//! is ignored (and rebuilt). Reloaded graphs keep their vectors in memory, or, for vectors
//! stored `on_disk`, read them through hnsw_rs's memory map of the data file, so an
//! indexed segment's vectors need not be resident.

use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::NonNull;

use hnsw_rs::prelude::{
    AnnT, Distance as GraphDistance, FilterT, Hnsw, HnswIo, Neighbour, ReloadOptions,
};
use serde::{Deserialize, Serialize};
use tessera_types::Distance;

use super::kernels;
use crate::segment::crc_of_reader;
use crate::wal::sync_dir;

/// hnsw_rs caps the number of layers at 16.
const MAX_LAYERS: usize = 16;

/// Rows inserted between checks for cancellation and progress reports.
const BUILD_CHUNK: usize = 4096;

/// The build parameters of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphParams {
    pub m: usize,
    pub ef_construct: usize,
}

/// The graph's notion of distance: non-negative (hnsw_rs asserts it) and smaller-is-closer,
/// ordering candidates exactly as the user-facing score does.
fn graph_distance(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    let d = match distance {
        // Vectors are stored normalized, so 1 - cos is in [0, 2] up to rounding.
        Distance::Cosine => 1.0 - kernels::dot(a, b),
        // A positive map that decreases monotonically with the inner product.
        Distance::Dot => {
            let ip = kernels::dot(a, b);
            if ip >= 0.0 {
                1.0 / (1.0 + ip)
            } else {
                1.0 - ip
            }
        }
        Distance::Euclid => kernels::l2_squared(a, b),
        Distance::Manhattan => kernels::l1(a, b),
    };
    // NaN from overflowing sums would trip hnsw_rs's assertions; treat it as far away.
    if d.is_nan() {
        f32::MAX
    } else {
        d.max(0.0)
    }
}

/// A distance as a type: hnsw_rs reloads a memory-mapped graph only for a metric it can
/// construct by `Default`, and checks it against the metric's type name in the dump.
trait Kernel: Send + Sync + 'static {
    const DISTANCE: Distance;
}

struct CosineKernel;
struct DotKernel;
struct EuclidKernel;
struct ManhattanKernel;

impl Kernel for CosineKernel {
    const DISTANCE: Distance = Distance::Cosine;
}
impl Kernel for DotKernel {
    const DISTANCE: Distance = Distance::Dot;
}
impl Kernel for EuclidKernel {
    const DISTANCE: Distance = Distance::Euclid;
}
impl Kernel for ManhattanKernel {
    const DISTANCE: Distance = Distance::Manhattan;
}

struct Metric<K>(PhantomData<K>);

impl<K> Default for Metric<K> {
    fn default() -> Self {
        Metric(PhantomData)
    }
}

impl<K: Kernel> GraphDistance<f32> for Metric<K> {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        graph_distance(K::DISTANCE, a, b)
    }
}

/// What a graph does, whatever its metric type.
trait Index: Send + Sync {
    fn search(
        &self,
        query: &[f32],
        knbn: usize,
        ef: usize,
        filter: Option<&dyn FilterT>,
    ) -> Vec<Neighbour>;
    /// Dumps the graph as `{basename}.hnsw.graph` and `{basename}.hnsw.data` in `dir`.
    fn dump(&self, dir: &Path, basename: &str) -> Result<(), String>;
}

/// An hnsw_rs graph, built here or reloaded from a dump. A graph reloaded with its data
/// mapped borrows the mapping its loader owns: the loader is boxed, outlives the graph
/// and is freed only after it.
struct Owned<K: Kernel> {
    hnsw: ManuallyDrop<Hnsw<'static, f32, Metric<K>>>,
    loader: Option<NonNull<HnswIo>>,
}

// SAFETY: the loader is only read through the graph (its paths, options and a read-only
// mapping), and HnswIo is itself Send and Sync (asserted below); the graph is Send + Sync.
unsafe impl<K: Kernel> Send for Owned<K> {}
unsafe impl<K: Kernel> Sync for Owned<K> {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<HnswIo>();
};

impl<K: Kernel> Owned<K> {
    fn new(hnsw: Hnsw<'static, f32, Metric<K>>) -> Self {
        Owned {
            hnsw: ManuallyDrop::new(hnsw),
            loader: None,
        }
    }

    /// Reloads the dump `{basename}.*` in `dir`, mapping its data when `mmap`. hnsw_rs
    /// asserts on some malformed dumps: a panic is reported as an error.
    fn load(dir: &Path, basename: &str, mmap: bool) -> Result<Self, String> {
        let loader = NonNull::from(Box::leak(Box::new(HnswIo::new_with_options(
            dir,
            basename,
            ReloadOptions::new(mmap),
        ))));
        // SAFETY: the loader is heap-allocated and freed only by `Drop` below, after the
        // graph borrowing it; nothing else refers to it.
        let loaded = catch_unwind(AssertUnwindSafe(|| unsafe {
            (*loader.as_ptr()).load_hnsw::<f32, Metric<K>>()
        }));
        match loaded {
            Ok(Ok(hnsw)) => Ok(Owned {
                hnsw: ManuallyDrop::new(hnsw),
                loader: Some(loader),
            }),
            failed => {
                // SAFETY: no graph borrows the loader: loading failed.
                drop(unsafe { Box::from_raw(loader.as_ptr()) });
                Err(match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "the graph loader panicked".to_string(),
                })
            }
        }
    }
}

impl<K: Kernel> Drop for Owned<K> {
    fn drop(&mut self) {
        // SAFETY: the graph is dropped once, here, before the loader it may borrow.
        unsafe { ManuallyDrop::drop(&mut self.hnsw) };
        if let Some(loader) = self.loader.take() {
            // SAFETY: allocated by `Box::leak` in `load`, and no longer borrowed.
            drop(unsafe { Box::from_raw(loader.as_ptr()) });
        }
    }
}

impl<K: Kernel> Index for Owned<K> {
    fn search(
        &self,
        query: &[f32],
        knbn: usize,
        ef: usize,
        filter: Option<&dyn FilterT>,
    ) -> Vec<Neighbour> {
        self.hnsw.search_filter(query, knbn, ef, filter)
    }

    fn dump(&self, dir: &Path, basename: &str) -> Result<(), String> {
        self.hnsw
            .file_dump(dir, basename)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// `{basename}.json`: what the dump was built with, and its files' checksums.
#[derive(Debug, Serialize, Deserialize)]
struct GraphMeta {
    params: GraphParams,
    rows: usize,
    graph_crc: u32,
    data_crc: u32,
}

fn file_crc(path: &Path) -> io::Result<u32> {
    crc_of_reader(&mut File::open(path)?)
}

fn dump_files(basename: &str) -> [String; 2] {
    [
        format!("{basename}.hnsw.graph"),
        format!("{basename}.hnsw.data"),
    ]
}

pub struct Graph {
    index: Box<dyn Index>,
    params: GraphParams,
    /// Rows inserted.
    len: usize,
}

/// Runs `$body` with `$K` bound to the kernel type of `$distance`.
macro_rules! with_kernel {
    ($distance:expr, $K:ident => $body:expr) => {
        match $distance {
            Distance::Cosine => {
                type $K = CosineKernel;
                $body
            }
            Distance::Dot => {
                type $K = DotKernel;
                $body
            }
            Distance::Euclid => {
                type $K = EuclidKernel;
                $body
            }
            Distance::Manhattan => {
                type $K = ManhattanKernel;
                $body
            }
        }
    };
}

impl Graph {
    /// A graph over `items` (row, vector), inserted in parallel. Returns None when
    /// `cancelled` turns true during the build. `progress` is told the rows inserted so far.
    pub fn build(
        distance: Distance,
        params: GraphParams,
        items: &[(&[f32], usize)],
        cancelled: &dyn Fn() -> bool,
        progress: &dyn Fn(usize),
    ) -> Option<Graph> {
        let index: Box<dyn Index> = with_kernel!(distance, K => {
            let hnsw = Self::insert_all::<K>(params, items, cancelled, progress)?;
            Box::new(Owned::<K>::new(hnsw))
        });
        Some(Graph {
            index,
            params,
            len: items.len(),
        })
    }

    fn insert_all<K: Kernel>(
        params: GraphParams,
        items: &[(&[f32], usize)],
        cancelled: &dyn Fn() -> bool,
        progress: &dyn Fn(usize),
    ) -> Option<Hnsw<'static, f32, Metric<K>>> {
        // hnsw_rs exits the process above 256 connections and needs ln(m) > 0.
        let m = params.m.clamp(2, 256);
        let hnsw = Hnsw::new(
            m,
            items.len().max(1),
            MAX_LAYERS,
            params.ef_construct.max(4),
            Metric::<K>::default(),
        );
        let mut done = 0;
        for chunk in items.chunks(BUILD_CHUNK) {
            if cancelled() {
                return None;
            }
            hnsw.parallel_insert_slice(&chunk.to_vec());
            done += chunk.len();
            progress(done);
        }
        Some(hnsw)
    }

    /// Saves the graph as `{basename}.*` in `dir`: dumped in `scratch` (an empty directory
    /// on the same file system), made durable, moved into `dir`, and `{basename}.json`
    /// written last. An empty graph is not saved (hnsw_rs cannot dump one).
    pub fn save(&self, dir: &Path, basename: &str, scratch: &Path) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        self.index
            .dump(scratch, basename)
            .map_err(|e| io::Error::other(format!("dumping the HNSW graph failed: {e}")))?;
        let files = dump_files(basename);
        let mut crcs = [0u32; 2];
        for (file, crc) in files.iter().zip(&mut crcs) {
            File::open(scratch.join(file))?.sync_all()?;
            *crc = file_crc(&scratch.join(file))?;
        }
        for file in &files {
            std::fs::rename(scratch.join(file), dir.join(file))?;
        }
        let meta = GraphMeta {
            params: self.params,
            rows: self.len,
            graph_crc: crcs[0],
            data_crc: crcs[1],
        };
        let json = serde_json::to_vec(&meta).map_err(io::Error::other)?;
        let tmp = dir.join(format!("{basename}.json.tmp"));
        {
            use std::io::Write;
            let mut file = File::create(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, dir.join(format!("{basename}.json")))?;
        sync_dir(dir)
    }

    /// The graph saved as `{basename}.*` in `dir`, with its vectors mapped when `mmap`.
    /// None when no complete save is there; an error when one is there but damaged.
    pub fn open(
        dir: &Path,
        basename: &str,
        distance: Distance,
        mmap: bool,
    ) -> Result<Option<Graph>, String> {
        let meta: GraphMeta = match std::fs::read(dir.join(format!("{basename}.json"))) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| e.to_string())?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let files = dump_files(basename);
        for (file, want) in files.iter().zip([meta.graph_crc, meta.data_crc]) {
            if file_crc(&dir.join(file)).map_err(|e| format!("{file}: {e}"))? != want {
                return Err(format!("{file}: checksum mismatch"));
            }
        }
        let index: Box<dyn Index> =
            with_kernel!(distance, K => Box::new(Owned::<K>::load(dir, basename, mmap)?));
        Ok(Some(Graph {
            index,
            params: meta.params,
            len: meta.rows,
        }))
    }

    pub fn params(&self) -> GraphParams {
        self.params
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Up to `k` nearest rows that `accept` lets through (all rows without it), nearest
    /// first. Rejected rows are still traversed, so the graph stays connected.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<usize> {
        // hnsw_rs preallocates `ef` entries: keep both within the graph's size.
        let k = k.min(self.len);
        if k == 0 {
            return Vec::new();
        }
        let ef = ef.clamp(k, self.len.max(k));
        let hits = match accept {
            Some(accept) => {
                let filter = |row: &usize| accept(*row);
                // hnsw_rs cuts its candidates to the number asked for before it drops the
                // rejected ones: ask for all `ef`, so a rejected entry point or neighbour
                // does not cost a result.
                let mut hits = self.index.search(query, ef, ef, Some(&filter));
                hits.truncate(k);
                hits
            }
            None => self.index.search(query, k, ef, None),
        };
        hits.into_iter().map(|n| n.d_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Vec<Vec<f32>> {
        (0..200u64)
            .map(|i| vec![(i % 20) as f32, (i / 20) as f32])
            .collect()
    }

    fn build(points: &[Vec<f32>]) -> Graph {
        let items: Vec<(&[f32], usize)> = points
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), i))
            .collect();
        let params = GraphParams {
            m: 8,
            ef_construct: 32,
        };
        Graph::build(Distance::Euclid, params, &items, &|| false, &|_| {}).unwrap()
    }

    #[test]
    fn finds_exact_match_and_respects_the_filter() {
        let points = grid();
        let graph = build(&points);
        assert_eq!(graph.len(), 200);
        assert_eq!(graph.search(&[3.0, 4.0], 1, 32, None), vec![83]);
        // Oversized requests are clamped to the graph instead of allocating for them.
        assert_eq!(
            graph
                .search(&[3.0, 4.0], usize::MAX, usize::MAX, None)
                .len(),
            200
        );
        let odd = |row: usize| row % 2 == 1;
        let hits = graph.search(&[0.0, 0.0], 10, 64, Some(&odd));
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|row| row % 2 == 1));
        // Rejecting the nearest rows (the entry of the search among them) still gives k.
        let far = |row: usize| row % 20 >= 5 || row / 20 >= 5;
        let hits = graph.search(&[0.0, 0.0], 10, 40, Some(&far));
        assert_eq!(hits.len(), 10, "{hits:?}");
        assert!(hits.iter().all(|row| far(*row)));
        let not_83 = |row: usize| row != 83;
        assert!(!graph
            .search(&[3.0, 4.0], 5, 64, Some(&not_83))
            .contains(&83));
    }

    #[test]
    fn saved_graphs_reopen_in_memory_or_mapped_and_damage_is_refused() {
        let dir = std::env::temp_dir().join(format!("tessera-graph-test-{}", std::process::id()));
        let scratch = dir.join("scratch");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&scratch).unwrap();
        assert!(Graph::open(&dir, "graph-0", Distance::Euclid, false)
            .unwrap()
            .is_none());
        let points = grid();
        let graph = build(&points);
        graph.save(&dir, "graph-0", &scratch).unwrap();
        let odd = |row: usize| row % 2 == 1;
        for mmap in [false, true] {
            let back = Graph::open(&dir, "graph-0", Distance::Euclid, mmap)
                .unwrap()
                .unwrap();
            assert_eq!((back.len(), back.params()), (200, graph.params()));
            assert_eq!(back.search(&[3.0, 4.0], 1, 32, None), vec![83]);
            assert_eq!(
                back.search(&[0.0, 0.0], 10, 64, Some(&odd)),
                graph.search(&[0.0, 0.0], 10, 64, Some(&odd))
            );
        }
        // A dump of another metric, or a damaged file, is refused.
        assert!(Graph::open(&dir, "graph-0", Distance::Dot, false).is_err());
        let data = dir.join("graph-0.hnsw.data");
        let mut bytes = std::fs::read(&data).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&data, bytes).unwrap();
        assert!(Graph::open(&dir, "graph-0", Distance::Euclid, true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn build_can_be_cancelled() {
        let points = grid();
        let items: Vec<(&[f32], usize)> = points
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), i))
            .collect();
        let params = GraphParams {
            m: 8,
            ef_construct: 32,
        };
        assert!(Graph::build(Distance::Euclid, params, &items, &|| true, &|_| {}).is_none());
    }

    #[test]
    fn graph_metric_is_non_negative_and_ordered_like_the_score() {
        let dot = |a: &[f32], b: &[f32]| graph_distance(Distance::Dot, a, b);
        let q = [1.0, 2.0];
        let (near, mid, far) = ([5.0, 5.0], [0.1, 0.1], [-3.0, -3.0]);
        let (a, b, c) = (dot(&q, &near), dot(&q, &mid), dot(&q, &far));
        assert!(a >= 0.0 && a < b && b < c);
        assert_eq!(
            graph_distance(Distance::Cosine, &[1.0, 0.0], &[1.0, 0.0]),
            0.0
        );
        assert_eq!(
            graph_distance(Distance::Euclid, &[f32::MAX, 0.0], &[-f32::MAX, 0.0]),
            f32::INFINITY
        );
    }
}
