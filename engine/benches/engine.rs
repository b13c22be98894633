//! Engine benchmark: prints figures, asserts nothing about speed.
//!
//! ```text
//! cargo bench -p tessera-engine --bench engine                      # 100k x 128
//! cargo bench -p tessera-engine --bench engine -- --points 1000000
//! cargo bench -p tessera-engine --bench engine --features simdeez   # anndists' simdeez_f
//! cargo bench -p tessera-engine --bench engine -- --on-disk         # resident memory
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
//! 3. `--on-disk` (instead of 1 and 2): resident memory of a shard holding the points with
//!    a ~100-byte payload each, vectors and payloads in memory against `on_disk: true` and
//!    `on_disk_payload: true`, without a graph (exact search) and with HNSW. Each figure
//!    comes from a fresh child process: one uploads and optimizes, the next reopens the
//!    shard and searches; both print VmRSS, its anonymous and file-backed parts, and VmHWM.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hnsw_rs::prelude::{DistDot, DistL1, DistL2, Distance as _, Hnsw};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use tessera_engine::index::kernels;
use tessera_engine::shard::Shard;
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
                vectors: NamedVectors::from([(String::new(), v.clone().into())]),
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
            vector: q.to_vec().into(),
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

/// `VmRSS`, `RssAnon`, `RssFile` and `VmHWM` of this process, in MiB.
fn memory() -> [f64; 4] {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    ["VmRSS:", "RssAnon:", "RssFile:", "VmHWM:"].map(|key| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    })
}

fn print_memory(label: &str, extra: &str) {
    let [rss, anon, file, hwm] = memory();
    println!(
        "  {label:<34} VmRSS {rss:>6.0} MiB (anon {anon:>6.0}, file {file:>5.0})  VmHWM {hwm:>6.0} MiB  {extra}"
    );
}

/// The points of the on-disk benchmark, generated chunk by chunk from a seed so that no
/// process holds them all.
fn on_disk_chunks(points: usize, dim: usize) -> impl Iterator<Item = Vec<Point>> {
    let mut rng = StdRng::seed_from_u64(42);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    (0..points).step_by(1000).map(move |start| {
        let end = (start + 1000).min(points);
        clustered(&mut rng, &centres, end - start)
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let id = start + i;
                let payload = serde_json::json!({
                    "group": id % 100,
                    "tag": format!("tag-{}", id % 7),
                    "text": format!("point {id} with a short description of about a hundred bytes"),
                });
                Point {
                    id: PointId::Num(id as u64),
                    vectors: NamedVectors::from([(String::new(), v.into())]),
                    payload: payload.as_object().expect("object").clone(),
                }
            })
            .collect()
    })
}

fn on_disk_config(dim: usize, on_disk: bool, hnsw: bool) -> tessera_types::CollectionConfig {
    let mut config = CreateCollection {
        vectors: Some(VectorsConfig::Single(VectorParams {
            size: dim as u64,
            distance: Distance::Cosine,
            hnsw_config: None,
            quantization_config: None,
            on_disk: Some(on_disk),
            datatype: None,
            multivector_config: None,
        })),
        hnsw_config: Some(HnswConfigDiff {
            m: Some(M),
            ef_construct: Some(EF_CONSTRUCT),
            // Without HNSW no segment ever reaches the threshold for a graph.
            full_scan_threshold: (!hnsw).then_some(usize::MAX / 2048),
            ..Default::default()
        }),
        optimizers_config: Some(serde_json::json!({
            "default_segment_number": 2,
            "flush_interval_sec": 3600,
        })),
        ..Default::default()
    }
    .into_config(1)
    .expect("valid config");
    config.params.on_disk_payload = on_disk;
    config
}

/// One child process of `--on-disk`: `build` uploads and optimizes, `open` reopens the
/// shard and searches.
fn on_disk_child(args: &Args, dir: &str, storage: &str, index: &str, phase: &str) {
    let config = on_disk_config(args.dim, storage == "on_disk", index == "hnsw");
    let label = format!("{storage}, {index}, {phase}");
    let started = Instant::now();
    let shard = Shard::open(std::path::Path::new(dir), config).expect("open shard");
    if phase == "build" {
        for batch in on_disk_chunks(args.points, args.dim) {
            shard
                .apply(ShardOperation::Upsert(batch), false)
                .expect("upsert");
        }
        shard.optimize().expect("optimize");
        let stats = shard.stats();
        print_memory(
            &label,
            &format!(
                "{:.1} s, {} segments, {} indexed",
                started.elapsed().as_secs_f64(),
                stats.segments_count,
                stats.indexed_vectors_count
            ),
        );
        return;
    }
    shard.optimize().expect("optimize");
    print_memory(
        &format!("{label} (opened)"),
        &format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    let mut rng = StdRng::seed_from_u64(7);
    let queries: Vec<Vec<f32>> = (0..args.queries.min(200))
        .map(|_| normalized((0..args.dim).map(|_| rng.random_range(-1.0..1.0)).collect()))
        .collect();
    let request = |q: &[f32], filter: Option<tessera_types::Filter>| SearchRequest {
        vector: q.to_vec().into(),
        using: String::new(),
        filter,
        limit: K,
        offset: 0,
        with_payload: WithPayload::Enable(true),
        with_vector: WithVector::Enable(false),
        score_threshold: None,
        params: SearchParams {
            hnsw_ef: Some(64),
            ..Default::default()
        },
    };
    let started = Instant::now();
    for q in &queries {
        black_box(shard.search(&request(q, None)).expect("search"));
    }
    let qps = queries.len() as f64 / started.elapsed().as_secs_f64();
    print_memory(
        &format!("{label} ({} searches)", queries.len()),
        &format!("{qps:.0} QPS"),
    );
    // A filter on an unindexed payload field reads every payload.
    let filter: tessera_types::Filter = serde_json::from_value(
        serde_json::json!({"must": [{"key": "group", "match": {"value": 3}}]}),
    )
    .expect("filter");
    let started = Instant::now();
    for q in queries.iter().take(10) {
        black_box(
            shard
                .search(&request(q, Some(filter.clone())))
                .expect("search"),
        );
    }
    let ms = started.elapsed().as_secs_f64() * 100.0;
    print_memory(
        &format!("{label} (10 filtered)"),
        &format!("{ms:.0} ms per filtered search"),
    );
}

/// `--on-disk`: runs the children and prints their figures.
fn on_disk(args: &Args) {
    println!(
        "{} points x {} dims (cosine) with ~100-byte payloads; memory per fresh process",
        args.points, args.dim
    );
    let exe = std::env::current_exe().expect("current exe");
    for index in ["exact", "hnsw"] {
        for storage in ["memory", "on_disk"] {
            let dir = tempfile::tempdir().expect("temp dir");
            for phase in ["build", "open"] {
                let status = std::process::Command::new(&exe)
                    .args([
                        "--on-disk-child",
                        &dir.path().to_string_lossy(),
                        storage,
                        index,
                        phase,
                        "--points",
                        &args.points.to_string(),
                        "--dim",
                        &args.dim.to_string(),
                        "--queries",
                        &args.queries.to_string(),
                    ])
                    .status()
                    .expect("run child");
                assert!(status.success(), "{storage} {index} {phase} failed");
            }
        }
    }
}

fn main() {
    let args = args();
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--on-disk-child") {
        let child = &argv[i + 1..i + 5];
        on_disk_child(&args, &child[0], &child[1], &child[2], &child[3]);
        return;
    }
    if argv.iter().any(|a| a == "--on-disk") {
        on_disk(&args);
        return;
    }
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
