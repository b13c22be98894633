//! Engine benchmark: prints figures, asserts nothing about speed.
//!
//! ```text
//! cargo bench -p tessera-data-plane --bench engine                      # 100k x 128
//! cargo bench -p tessera-data-plane --bench engine -- --points 1000000
//! cargo bench -p tessera-data-plane --bench engine --features simdeez   # anndists' simdeez_f
//! ```
//!
//! 1. Distance kernels: Tessera's (AVX2 when the CPU has it, else the portable loops) and
//!    its portable loops against anndists' (scalar, or `simdeez_f` with `--features simdeez`).
//! 2. On seeded clustered data (cosine), one thread: search QPS and recall@10 of the
//!    engine (`Shard::search` over an optimized shard) and of raw hnsw_rs (`Hnsw` with
//!    anndists' `DistDot` on the same normalized vectors) with the same m and
//!    ef_construct, over a range of `ef`; the index build time of each; peak memory
//!    (VmHWM) after each stage. `--mode engine` or
//!    `--mode raw` runs one side only, for a clean peak-memory figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hnsw_rs::prelude::{DistDot, DistL1, DistL2, Distance as _, Hnsw};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use tessera_data_plane::index::kernels;
use tessera_data_plane::shard::Shard;
use tessera_types::{
    CreateCollection, Distance, HnswConfigDiff, NamedVectors, Point, PointId, SearchParams,
    SearchRequest, ShardOperation, VectorParams, VectorsConfig, WithPayload, WithVector,
};

const M: usize = 16;
const EF_CONSTRUCT: usize = 100;
const K: usize = 10;
const CLUSTERS: usize = 100;
const SPREAD: f32 = 0.15;
const EFS: [usize; 8] = [16, 32, 48, 64, 96, 128, 192, 256];
const TARGET_RECALL: f64 = 0.95;

struct Args {
    points: usize,
    dim: usize,
    queries: usize,
    mode: String,
}

fn args() -> Args {
    let mut a = Args {
        points: 100_000,
        dim: 128,
        queries: 1000,
        mode: "both".into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--points" => a.points = value.parse().expect("--points N"),
            "--dim" => a.dim = value.parse().expect("--dim N"),
            "--queries" => a.queries = value.parse().expect("--queries N"),
            "--mode" => a.mode = value,
            // cargo bench passes --bench; anything else unknown is ignored too.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    kernels::normalize(&mut v);
    v
}

/// Points around fixed random centres, the same shape tessera-bench uploads.
fn clustered(rng: &mut StdRng, centres: &[Vec<f32>], n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let c = &centres[rng.random_range(0..centres.len())];
            normalized(c.iter().map(|x| x + SPREAD * gaussian(rng)).collect())
        })
        .collect()
}

fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn time_kernel(name: &str, a: &[Vec<f32>], f: &dyn Fn(&[f32], &[f32]) -> f32) -> f64 {
    let rounds = 2_000_000 / a.len();
    let started = Instant::now();
    let mut sink = 0.0;
    for _ in 0..rounds {
        for pair in a.windows(2) {
            sink += f(black_box(&pair[0]), black_box(&pair[1]));
        }
    }
    black_box(sink);
    let ns = started.elapsed().as_nanos() as f64 / (rounds * (a.len() - 1)) as f64;
    println!("  {name:<34} {ns:>7.2} ns/call");
    ns
}

fn kernels_bench(dim: usize) {
    let mut rng = StdRng::seed_from_u64(1);
    // Normalized: anndists' DistDot asserts 1 - dot >= 0.
    let data: Vec<Vec<f32>> = (0..1000)
        .map(|_| normalized((0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()))
        .collect();
    println!(
        "distance kernels, dim {dim} (anndists built {}):",
        if cfg!(feature = "simdeez") {
            "with simdeez_f"
        } else {
            "without simdeez_f"
        }
    );
    time_kernel("tessera dot (dispatched)", &data, &kernels::dot);
    time_kernel("tessera dot (portable)", &data, &kernels::portable::dot);
    time_kernel("anndists DistDot", &data, &|a, b| DistDot.eval(a, b));
    time_kernel("tessera l2 (dispatched)", &data, &kernels::l2_squared);
    time_kernel(
        "tessera l2 (portable)",
        &data,
        &kernels::portable::l2_squared,
    );
    time_kernel("anndists DistL2", &data, &|a, b| DistL2.eval(a, b));
    time_kernel("tessera l1 (dispatched)", &data, &kernels::l1);
    time_kernel("tessera l1 (portable)", &data, &kernels::portable::l1);
    time_kernel("anndists DistL1", &data, &|a, b| DistL1.eval(a, b));
}

/// Exact top-k ids by cosine (all vectors normalized).
fn ground_truth(points: &[Vec<f32>], queries: &[Vec<f32>]) -> Vec<Vec<usize>> {
    queries
        .par_iter()
        .map(|q| {
            let mut scored: Vec<(f32, usize)> = points
                .iter()
                .enumerate()
                .map(|(i, p)| (kernels::dot(q, p), i))
                .collect();
            scored.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(K);
            scored.iter().map(|(_, i)| *i).collect()
        })
        .collect()
}

struct Run {
    ef: usize,
    qps: f64,
    recall: f64,
}

fn measure(
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
    search: &dyn Fn(&[f32], usize) -> Vec<usize>,
) -> Vec<Run> {
    EFS.iter()
        .map(|&ef| {
            let started = Instant::now();
            let answers: Vec<Vec<usize>> = queries.iter().map(|q| search(q, ef)).collect();
            let elapsed = started.elapsed();
            let found: usize = answers
                .iter()
                .zip(truth)
                .map(|(a, t)| a.iter().filter(|id| t.contains(id)).count())
                .sum();
            Run {
                ef,
                qps: queries.len() as f64 / elapsed.as_secs_f64(),
                recall: found as f64 / (truth.len() * K) as f64,
            }
        })
        .collect()
}

fn report(label: &str, build: Duration, runs: &[Run]) -> Option<(usize, f64, f64)> {
    println!(
        "{label}: index build {:.1} s; peak memory so far (VmHWM) {:.0} MiB",
        build.as_secs_f64(),
        vm_hwm_mb()
    );
    println!("  {:>4}  {:>9}  {:>8}", "ef", "QPS", "recall");
    for r in runs {
        println!("  {:>4}  {:>9.0}  {:>8.4}", r.ef, r.qps, r.recall);
    }
    runs.iter()
        .find(|r| r.recall >= TARGET_RECALL)
        .map(|r| (r.ef, r.qps, r.recall))
}

fn engine(
    points: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
) -> Option<(usize, f64, f64)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let dim = points[0].len();
    let config = |indexing_threshold: usize| {
        CreateCollection {
            vectors: Some(VectorsConfig::Single(VectorParams {
                size: dim as u64,
                distance: Distance::Cosine,
                hnsw_config: None,
                quantization_config: None,
                on_disk: None,
                datatype: None,
                multivector_config: None,
            })),
            hnsw_config: Some(HnswConfigDiff {
                m: Some(M),
                ef_construct: Some(EF_CONSTRUCT),
                ..Default::default()
            }),
            optimizers_config: Some(serde_json::json!({
                "indexing_threshold": indexing_threshold,
                "default_segment_number": 1,
                "flush_interval_sec": 3600,
            })),
            ..Default::default()
        }
        .into_config(1)
        .expect("valid config")
    };
    // Upload with indexing held back, then index everything as one segment, like raw
    // hnsw_rs's single graph.
    let shard = Shard::open(dir.path(), config(usize::MAX / 2048)).expect("open shard");
    for (chunk_no, chunk) in points.chunks(1000).enumerate() {
        let batch = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| Point {
                id: PointId::Num((chunk_no * 1000 + i) as u64),
                vectors: NamedVectors::from([(String::new(), v.clone())]),
                payload: Default::default(),
            })
            .collect();
        shard
            .apply(ShardOperation::Upsert(batch), false)
            .expect("upsert");
    }
    shard.update_config(config(1));
    let started = Instant::now();
    shard.optimize().expect("optimize");
    let build = started.elapsed();
    let stats = shard.stats();
    assert_eq!(
        stats.indexed_vectors_count,
        points.len() as u64,
        "all indexed"
    );
    let search = |q: &[f32], ef: usize| -> Vec<usize> {
        let req = SearchRequest {
            vector: q.to_vec(),
            using: String::new(),
            filter: None,
            limit: K,
            offset: 0,
            with_payload: WithPayload::Enable(false),
            with_vector: WithVector::Enable(false),
            score_threshold: None,
            params: SearchParams {
                hnsw_ef: Some(ef),
                ..Default::default()
            },
        };
        shard
            .search(&req)
            .expect("search")
            .into_iter()
            .map(|p| match p.id {
                PointId::Num(n) => n as usize,
                PointId::Uuid(_) => unreachable!("numeric ids only"),
            })
            .collect()
    };
    let runs = measure(queries, truth, &search);
    report(
        &format!(
            "engine (Shard::search, {} segment(s))",
            stats.segments_count
        ),
        build,
        &runs,
    )
}

fn raw(
    points: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
) -> Option<(usize, f64, f64)> {
    let started = Instant::now();
    let hnsw: Hnsw<f32, DistDot> = Hnsw::new(M, points.len(), 16, EF_CONSTRUCT, DistDot {});
    let items: Vec<(&[f32], usize)> = points
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_slice(), i))
        .collect();
    hnsw.parallel_insert_slice(&items);
    let build = started.elapsed();
    let search = |q: &[f32], ef: usize| -> Vec<usize> {
        hnsw.search(q, K, ef).into_iter().map(|n| n.d_id).collect()
    };
    let runs = measure(queries, truth, &search);
    report(
        "raw hnsw_rs (Hnsw<f32, DistDot> on normalized vectors)",
        build,
        &runs,
    )
}

fn main() {
    let args = args();
    kernels_bench(args.dim);
    let mut rng = StdRng::seed_from_u64(42);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| (0..args.dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let points = clustered(&mut rng, &centres, args.points);
    let queries = clustered(&mut rng, &centres, args.queries);
    println!();
    println!(
        "{} points x {} dims around {CLUSTERS} clusters (cosine), {} queries, k = {K}, m = {M}, ef_construct = {EF_CONSTRUCT}, one search thread",
        args.points, args.dim, args.queries
    );
    let truth = ground_truth(&points, &queries);
    let mut engine_best = None;
    let mut raw_best = None;
    if args.mode != "raw" {
        engine_best = engine(&points, &queries, &truth);
    }
    if args.mode != "engine" {
        raw_best = raw(&points, &queries, &truth);
    }
    println!();
    for (label, best) in [("engine", engine_best), ("raw hnsw_rs", raw_best)] {
        match best {
            Some((ef, qps, recall)) => println!(
                "{label:<12} first ef reaching recall@{K} >= {TARGET_RECALL}: ef {ef}, {qps:.0} QPS (recall {recall:.4})"
            ),
            None if args.mode == "both" || label.starts_with(&args.mode) => {
                println!("{label:<12} no ef in {EFS:?} reached recall@{K} >= {TARGET_RECALL}")
            }
            None => {}
        }
    }
    if let (Some((_, e, _)), Some((_, r, _))) = (engine_best, raw_best) {
        println!(
            "engine / raw QPS at the target recall: {:.0}%",
            100.0 * e / r
        );
    }
}
