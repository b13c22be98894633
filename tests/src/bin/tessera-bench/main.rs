//! `tessera-bench`: upload throughput, search throughput and latency, and
//! HNSW recall of a running Tessera (or Qdrant) deployment, over gRPC with the
//! official Rust client.
//!
//! Start a deployment, e.g. `cargo run --release -p tessera -- standalone`
//! (gRPC on 6334), then:
//!
//! ```text
//! cargo run --release -p tessera-tests --bin tessera-bench -- --points 100000
//! ```
//!
//! It (re)creates the collection `--collection` (default `tessera_bench`;
//! an existing one of that name is deleted), uploads `--points` seeded vectors
//! of `--dim` dimensions drawn around `--clusters` Gaussian centres in batches
//! of `--batch` with `wait=true`, then runs `--queries` searches (limit 10) with
//! each number of concurrent clients in `--clients` and prints QPS and p50/p99
//! latency, and finally the recall@10 of default (HNSW) search against
//! `exact=true` search over `--recall-queries` queries. Every point carries the
//! payload `bucket` = id % 100; with `--filters` the searches are repeated with a
//! filter matching 1% of the points (`bucket == 0`) and one matching 50%
//! (`bucket < 50`), each with its own recall against exact filtered search, and
//! `--payload-index` first creates an integer index on `bucket`. With
//! `--transfers` (a one-shard collection on a cluster with two or more data
//! nodes, e.g. `tessera playground`), the shard is then moved between nodes
//! with each transfer method under a light write load (see `transfers.rs`).
//! `--quantization scalar|binary|product` keeps quantized codes in RAM
//! (`--oversampling` per search, `--on-disk` for the vectors) and the run ends
//! with the Tessera processes' resident memory; `--sparse` measures a sparse
//! corpus instead (see `sparse.rs`). `--wrk` measures REST search with `wrk`
//! at 1, 8 and 32 connections instead of the gRPC clients, and recall over the
//! same queries (see `wrk.rs`). `--data-dir` prints the server's disk use per
//! point and `--snapshot` times a collection snapshot and its recovery, with
//! the memory each takes (see `footprint.rs`). `--ef 32,64,128` then sweeps
//! `hnsw_ef`: QPS and p99 at 8 clients (or wrk connections) and recall@10 at
//! each, so runs of two systems can be compared at equal recall.
//! `--help` lists all flags.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::{
    quantization_config, BinaryQuantization, CollectionStatus, CompressionRatio, Condition,
    CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, Distance, FieldType, Filter,
    Memory, PointStruct, ProductQuantization, QuantizationSearchParamsBuilder, QuantizationType,
    Query, QueryPointsBuilder, Range, ScalarQuantization, ScoredPoint, SearchParamsBuilder,
    UpsertPointsBuilder, Value, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant};
use rand::rngs::StdRng;
use rand::Rng;
use tessera_tests::{data, Rest};

mod footprint;
mod memory;
mod sparse;
mod transfers;
mod wrk;

/// Searches return this many hits; recall is measured at the same depth.
pub(crate) const LIMIT: u64 = 10;
/// Standard deviation of each component around its cluster centre, whose
/// components are uniform in [-1, 1): clusters overlap little but are not points.
const CLUSTER_SPREAD: f32 = 0.15;

#[derive(Parser, Debug)]
#[command(about = "Upload, search and recall benchmark for a Tessera gateway (Qdrant gRPC API)")]
pub(crate) struct Args {
    /// gRPC URL of the gateway.
    /// REST URL of the gateway (used by --transfers).
    #[arg(long, default_value = "http://127.0.0.1:6333")]
    rest_url: String,
    /// Move the (single) shard between data nodes with each transfer method
    /// under a light write load, and print transfer throughput.
    #[arg(long)]
    transfers: bool,
    #[arg(long, default_value = "http://127.0.0.1:6334")]
    grpc_url: String,
    /// Collection to create; an existing one of this name is deleted first.
    #[arg(long, default_value = "tessera_bench")]
    collection: String,
    #[arg(long, default_value_t = 128)]
    dim: usize,
    #[arg(long, default_value_t = 100_000)]
    points: u64,
    /// Points per upsert request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Gaussian clusters the points are drawn around.
    #[arg(long, default_value_t = 100)]
    clusters: usize,
    /// Searches per concurrency level.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Concurrency levels to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    clients: Vec<usize>,
    /// Queries whose HNSW answer is compared with the exact one (default: 100,
    /// or every query with `--wrk`); at 10M points each exact search scans them all.
    #[arg(long)]
    recall_queries: Option<usize>,
    /// `hnsw_ef` values to sweep after the default search: QPS and p99 at 8
    /// clients (or wrk connections) and recall@10 at each, the recall/QPS curve.
    #[arg(long, value_delimiter = ',')]
    ef: Vec<u64>,
    /// Shards of the collection (default: the server's, one per data node).
    #[arg(long)]
    shards: Option<u32>,
    /// Copies of each shard (`replication_factor`); measure 1 and 2 against
    /// `tessera playground` to see what replication costs.
    #[arg(long, default_value_t = 1)]
    replication: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also measure searches filtered to 1% and to 50% of the points.
    #[arg(long)]
    filters: bool,
    /// Create an integer payload index on `bucket` before uploading.
    #[arg(long)]
    payload_index: bool,
    /// Keep quantized codes (in RAM) for indexed segments; searches walk them and
    /// re-score with the stored vectors.
    #[arg(long, value_enum, default_value_t = Quantization::None)]
    quantization: Quantization,
    /// Candidates the quantized walk gathers per result (Qdrant's `oversampling`).
    #[arg(long)]
    oversampling: Option<f64>,
    /// Keep the vectors on disk (`on_disk: true`), as one does with quantization.
    #[arg(long)]
    on_disk: bool,
    /// Benchmark sparse-vector search instead (see `sparse.rs`).
    #[arg(long)]
    sparse: bool,
    /// Measure REST `points/query` with `wrk` instead of gRPC clients, and
    /// recall over all of its queries.
    #[arg(long)]
    wrk: bool,
    /// wrk's connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    wrk_connections: Vec<usize>,
    /// Seconds wrk runs at each connection count.
    #[arg(long, default_value_t = 10)]
    wrk_seconds: u64,
    /// The server's data directory, on this machine: its size and the WAL's
    /// are printed per point once the collection is green.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Take a collection snapshot and recover it into a new collection,
    /// printing both times and the servers' peak memory above steady state.
    #[arg(long)]
    snapshot: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Quantization {
    None,
    Scalar,
    Binary,
    Product,
}

impl Quantization {
    /// The collection setting, codes pinned in RAM.
    fn config(self) -> Option<quantization_config::Quantization> {
        let pinned = Some(Memory::Pinned as i32);
        Some(match self {
            Quantization::None => return None,
            Quantization::Scalar => quantization_config::Quantization::Scalar(ScalarQuantization {
                r#type: QuantizationType::Int8 as i32,
                memory: pinned,
                ..Default::default()
            }),
            Quantization::Binary => quantization_config::Quantization::Binary(BinaryQuantization {
                memory: pinned,
                ..Default::default()
            }),
            Quantization::Product => {
                quantization_config::Quantization::Product(ProductQuantization {
                    compression: CompressionRatio::X16 as i32,
                    memory: pinned,
                    ..Default::default()
                })
            }
        })
    }
}

/// Points per bucket value: `bucket` = id % BUCKETS.
const BUCKETS: u64 = 100;

/// The filters `--filters` measures: a label and the filter.
fn filters() -> Vec<(&'static str, Filter)> {
    vec![
        (
            "1% (bucket == 0)",
            Filter::must([Condition::matches("bucket", 0i64)]),
        ),
        (
            "50% (bucket < 50)",
            Filter::must([Condition::range(
                "bucket",
                Range {
                    lt: Some(50.0),
                    ..Default::default()
                },
            )]),
        ),
    ]
}

/// Standard normal samples by the Box-Muller transform.
fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Vectors scattered around fixed random centres, like embeddings of a corpus
/// with topics, which is harder for HNSW than uniform noise.
struct Clusters {
    centres: Vec<Vec<f32>>,
}

impl Clusters {
    fn new(rng: &mut StdRng, count: usize, dim: usize) -> Clusters {
        Clusters {
            centres: (0..count).map(|_| data::random_vector(rng, dim)).collect(),
        }
    }

    /// A vector and the index of the cluster it was drawn from.
    fn sample(&self, rng: &mut StdRng) -> (Vec<f32>, usize) {
        let cluster = rng.random_range(0..self.centres.len());
        let vector = self.centres[cluster]
            .iter()
            .map(|c| c + CLUSTER_SPREAD * gaussian(rng))
            .collect();
        (vector, cluster)
    }
}

pub(crate) fn ids(points: &[ScoredPoint]) -> Vec<u64> {
    points
        .iter()
        .filter_map(|p| match p.id.as_ref()?.point_id_options.as_ref()? {
            PointIdOptions::Num(n) => Some(*n),
            PointIdOptions::Uuid(_) => None,
        })
        .collect()
}

/// How searches run: exact or not, the walk's `hnsw_ef` (the server's
/// default when unset) and the quantized walk's oversampling.
#[derive(Clone, Copy)]
struct SearchMode {
    exact: bool,
    hnsw_ef: Option<u64>,
    oversampling: Option<f64>,
}

async fn search(
    client: &Qdrant,
    collection: &str,
    query: &[f32],
    mode: SearchMode,
    filter: Option<&Filter>,
) -> anyhow::Result<Vec<u64>> {
    let mut params = SearchParamsBuilder::default().exact(mode.exact);
    if let Some(ef) = mode.hnsw_ef {
        params = params.hnsw_ef(ef);
    }
    if let Some(oversampling) = mode.oversampling {
        params = params
            .quantization(QuantizationSearchParamsBuilder::default().oversampling(oversampling));
    }
    let mut request = QueryPointsBuilder::new(collection)
        .query(Query::new_nearest(query.to_vec()))
        .limit(LIMIT)
        .params(params);
    if let Some(filter) = filter {
        request = request.filter(filter.clone());
    }
    Ok(ids(&client.query(request).await.context("search")?.result))
}

async fn upload(
    client: &Qdrant,
    args: &Args,
    clusters: &Clusters,
    rng: &mut StdRng,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let report_every = (args.points / 10).max(1);
    let mut next_report = report_every;
    let mut id = 0u64;
    while id < args.points {
        let end = (id + args.batch as u64).min(args.points);
        let batch: Vec<PointStruct> = (id..end)
            .map(|id| {
                let (vector, cluster) = clusters.sample(rng);
                let payload = Payload::from([
                    ("cluster", Value::from(cluster as i64)),
                    ("bucket", Value::from((id % BUCKETS) as i64)),
                ]);
                PointStruct::new(id, vector, payload)
            })
            .collect();
        client
            .upsert_points(UpsertPointsBuilder::new(&args.collection, batch).wait(true))
            .await
            .with_context(|| format!("upsert of points {id}..{end}"))?;
        id = end;
        if id >= next_report || id == args.points {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "  uploaded {id:>9} / {} points  {:>9.0} points/s",
                args.points,
                id as f64 / secs
            );
            next_report += report_every;
        }
    }
    Ok(started.elapsed())
}

struct Measurement {
    filter: &'static str,
    clients: usize,
    queries: usize,
    qps: f64,
    p50: Duration,
    p99: Duration,
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs every query once, spread round-robin over `clients` concurrent tasks.
async fn measure(
    client: &Qdrant,
    collection: &str,
    queries: &[Vec<f32>],
    clients: usize,
    filter: Option<(&'static str, Filter)>,
    mode: SearchMode,
) -> anyhow::Result<Measurement> {
    let filter_only = filter.as_ref().map(|(_, f)| f.clone());
    let (latencies, wall) = run_clients(queries, clients, |query| {
        let (client, collection, filter) =
            (client.clone(), collection.to_string(), filter_only.clone());
        async move {
            search(&client, &collection, &query, mode, filter.as_ref()).await?;
            Ok(())
        }
    })
    .await?;
    Ok(Measurement {
        filter: filter.map_or("none", |(label, _)| label),
        clients,
        queries: latencies.len(),
        qps: latencies.len() as f64 / wall.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    })
}

/// Sends every query once, spread round-robin over `clients` concurrent tasks; returns
/// each request's latency, sorted, and the wall time of the whole run.
pub(crate) async fn run_clients<Q, F, Fut>(
    queries: &[Q],
    clients: usize,
    send: F,
) -> anyhow::Result<(Vec<Duration>, Duration)>
where
    Q: Clone + Send + 'static,
    F: Fn(Q) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..clients {
        let mine: Vec<Fut> = queries
            .iter()
            .skip(worker)
            .step_by(clients)
            .map(|q| send(q.clone()))
            .collect();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(mine.len());
            for request in mine {
                let sent = Instant::now();
                request.await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(queries.len());
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.context("search task panicked")??);
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    Ok((latencies, wall))
}

/// The exact top-k of each query, the reference recall is measured against.
async fn exact_answers(
    client: &Qdrant,
    collection: &str,
    queries: &[Vec<f32>],
    filter: Option<&Filter>,
) -> anyhow::Result<Vec<Vec<u64>>> {
    let exact_mode = SearchMode {
        exact: true,
        hnsw_ef: None,
        oversampling: None,
    };
    let mut answers = Vec::with_capacity(queries.len());
    for query in queries {
        let exact = search(client, collection, query, exact_mode, filter).await?;
        anyhow::ensure!(!exact.is_empty(), "exact search returned nothing");
        answers.push(exact);
    }
    Ok(answers)
}

/// Mean fraction of the exact top-k (`exact`, one per query) that searches in
/// `mode` find.
async fn recall(
    client: &Qdrant,
    collection: &str,
    queries: &[Vec<f32>],
    exact: &[Vec<u64>],
    filter: Option<&Filter>,
    mode: SearchMode,
) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for (query, exact) in queries.iter().zip(exact) {
        let approximate = search(client, collection, query, mode, filter).await?;
        let found = approximate.iter().filter(|id| exact.contains(id)).count();
        total += found as f64 / exact.len() as f64;
    }
    Ok(total / queries.len() as f64)
}

/// Concurrency of the `--ef` sweep's throughput runs.
const EF_SWEEP_CLIENTS: usize = 8;

/// One point of the recall/QPS curve.
struct EfPoint {
    ef: u64,
    qps: f64,
    p99_ms: f64,
    recall: f64,
}

/// QPS, p99 and recall at each `--ef`, unfiltered, against the exact answers
/// of `recall_sample`.
async fn ef_sweep(
    client: &Qdrant,
    args: &Args,
    queries: &[Vec<f32>],
    recall_sample: &[Vec<f32>],
    exact: &[Vec<u64>],
    mode: SearchMode,
) -> anyhow::Result<Vec<EfPoint>> {
    let mut curve = Vec::with_capacity(args.ef.len());
    for &ef in &args.ef {
        let mode = SearchMode {
            hnsw_ef: Some(ef),
            ..mode
        };
        let (qps, p99_ms) = if args.wrk {
            let script_dir = tempfile::tempdir()?;
            let figures = wrk::run(
                &args.rest_url,
                &args.collection,
                &wrk::Requests {
                    queries,
                    limit: LIMIT,
                    hnsw_ef: Some(ef),
                },
                &[EF_SWEEP_CLIENTS],
                args.wrk_seconds,
                script_dir.path(),
            )?;
            (figures[0].qps, figures[0].p99_ms)
        } else {
            let m = measure(
                client,
                &args.collection,
                queries,
                EF_SWEEP_CLIENTS,
                None,
                mode,
            )
            .await?;
            (m.qps, m.p99.as_secs_f64() * 1e3)
        };
        let recall = recall(client, &args.collection, recall_sample, exact, None, mode).await?;
        println!("  ef {ef:>5}  {qps:>9.1} QPS  p99 {p99_ms:>7.2} ms  recall {recall:.4}");
        curve.push(EfPoint {
            ef,
            qps,
            p99_ms,
            recall,
        });
    }
    Ok(curve)
}

/// Waits until the collection is green: the optimizers have built the indexes,
/// so searches measure the steady state rather than a build in progress.
pub(crate) async fn wait_until_green(
    client: &Qdrant,
    collection: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let info = client
            .collection_info(collection)
            .await?
            .result
            .context("collection info has no result")?;
        if info.status == CollectionStatus::Green as i32 {
            return Ok(started.elapsed());
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            println!(
                "  optimizing: {} of {} vectors indexed",
                info.indexed_vectors_count.unwrap_or_default(),
                info.points_count.unwrap_or_default()
            );
            last_report = Instant::now();
        }
        anyhow::ensure!(
            // 10M points index for most of an hour on two cores.
            started.elapsed() < Duration::from_secs(4 * 3600),
            "the collection did not turn green within 4 hours"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.points > 0 && args.batch > 0 && args.dim > 0,
        "--points, --batch and --dim must be positive"
    );
    anyhow::ensure!(
        args.clusters > 0 && args.queries > 0,
        "--clusters and --queries must be positive"
    );
    anyhow::ensure!(
        args.clients.iter().all(|c| *c > 0),
        "--clients must be positive"
    );
    anyhow::ensure!(
        !args.transfers || args.shards == Some(1),
        "--transfers moves one shard: add --shards 1"
    );
    anyhow::ensure!(
        !(args.wrk && args.filters),
        "--wrk measures unfiltered searches: drop --filters"
    );

    let client = Qdrant::from_url(&args.grpc_url)
        .timeout(Duration::from_secs(120))
        .build()
        .with_context(|| format!("cannot connect to {}", args.grpc_url))?;
    if args.sparse {
        return sparse::run(&client, &args).await;
    }
    println!(
        "tessera-bench: {} points x {} dims around {} clusters, replication factor {}, collection `{}` at {}",
        args.points, args.dim, args.clusters, args.replication, args.collection, args.grpc_url
    );

    if client.collection_exists(&args.collection).await? {
        client.delete_collection(&args.collection).await?;
        println!("  deleted the existing collection `{}`", args.collection);
    }
    let mut create = CreateCollectionBuilder::new(&args.collection).vectors_config(
        VectorParamsBuilder::new(args.dim as u64, Distance::Cosine).on_disk(args.on_disk),
    );
    if let Some(quantization) = args.quantization.config() {
        create = create.quantization_config(quantization);
    }
    if let Some(shards) = args.shards {
        create = create.shard_number(shards);
    }
    if args.replication > 1 {
        create = create.replication_factor(args.replication);
    }
    client
        .create_collection(create)
        .await
        .context("create collection")?;
    if args.payload_index {
        client
            .create_field_index(
                CreateFieldIndexCollectionBuilder::new(
                    &args.collection,
                    "bucket",
                    FieldType::Integer,
                )
                .wait(true),
            )
            .await
            .context("create the payload index on `bucket`")?;
        println!("  created an integer payload index on `bucket`");
    }

    let mut rng = data::rng(args.seed);
    let clusters = Clusters::new(&mut rng, args.clusters, args.dim);
    let upload_time = upload(&client, &args, &clusters, &mut rng).await?;
    println!(
        "  upload took {:.1} s; waiting until the collection is green",
        upload_time.as_secs_f64()
    );
    let optimize_time = wait_until_green(&client, &args.collection).await?;
    println!(
        "  green {:.1} s after the upload; searching",
        optimize_time.as_secs_f64()
    );
    let info = client.collection_info(&args.collection).await?.result;
    let stored = info
        .as_ref()
        .and_then(|i| i.points_count)
        .unwrap_or_default();
    let indexed = info
        .as_ref()
        .and_then(|i| i.indexed_vectors_count)
        .unwrap_or_default();
    anyhow::ensure!(
        stored == args.points,
        "the collection holds {stored} points, {} were uploaded",
        args.points
    );

    let queries: Vec<Vec<f32>> = (0..args.queries)
        .map(|_| clusters.sample(&mut rng).0)
        .collect();
    let mut cases: Vec<Option<(&'static str, Filter)>> = vec![None];
    if args.filters {
        cases.extend(filters().into_iter().map(Some));
    }
    // wrk's figures come with the recall of every query it sent, unless told.
    let recall_queries = args
        .recall_queries
        .unwrap_or(if args.wrk { queries.len() } else { 100 });
    let recall_sample = &queries[..recall_queries.min(queries.len())];
    let mode = SearchMode {
        exact: false,
        hnsw_ef: None,
        oversampling: args.oversampling,
    };
    let mut measurements = Vec::new();
    let mut recalls = Vec::new();
    let mut ef_curve = Vec::new();
    let wrk_figures = if args.wrk {
        let script_dir = tempfile::tempdir()?;
        wrk::run(
            &args.rest_url,
            &args.collection,
            &wrk::Requests {
                queries: &queries,
                limit: LIMIT,
                hnsw_ef: None,
            },
            &args.wrk_connections,
            args.wrk_seconds,
            script_dir.path(),
        )?
    } else {
        Vec::new()
    };
    for case in &cases {
        for clients in args.clients.iter().filter(|_| !args.wrk) {
            measurements.push(
                measure(
                    &client,
                    &args.collection,
                    &queries,
                    *clients,
                    case.clone(),
                    mode,
                )
                .await?,
            );
        }
        let filter = case.as_ref().map(|(_, f)| f);
        let exact = exact_answers(&client, &args.collection, recall_sample, filter).await?;
        recalls.push((
            case.as_ref().map_or("none", |(label, _)| *label),
            recall(
                &client,
                &args.collection,
                recall_sample,
                &exact,
                filter,
                mode,
            )
            .await?,
        ));
        if case.is_none() && !args.ef.is_empty() {
            ef_curve = ef_sweep(&client, &args, &queries, recall_sample, &exact, mode).await?;
        }
    }

    println!();
    println!(
        "upload   {} points in {:.1} s = {:.0} points/s (batches of {}, wait=true); {indexed} vectors indexed",
        args.points,
        upload_time.as_secs_f64(),
        args.points as f64 / upload_time.as_secs_f64(),
        args.batch
    );
    println!(
        "optimize {:.1} s after the upload until the collection was green (searches below run after it)",
        optimize_time.as_secs_f64()
    );
    println!();
    println!(
        "search   limit {LIMIT}, default (HNSW) parameters, quantization {:?}{}, vectors {}",
        args.quantization,
        args.oversampling
            .map_or(String::new(), |o| format!(" (oversampling {o})")),
        if args.on_disk { "on disk" } else { "in memory" }
    );
    if !measurements.is_empty() {
        println!(
            "  {:<18}  {:>7}  {:>7}  {:>9}  {:>8}  {:>8}",
            "filter", "clients", "queries", "QPS", "p50 ms", "p99 ms"
        );
    }
    for m in &measurements {
        println!(
            "  {:<18}  {:>7}  {:>7}  {:>9.1}  {:>8.2}  {:>8.2}",
            m.filter,
            m.clients,
            m.queries,
            m.qps,
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3
        );
    }
    for f in &wrk_figures {
        println!(
            "  wrk REST points/query  {:>4} connections  {:>9.1} QPS  p50 {:>6.2} ms  p99 {:>6.2} ms",
            f.connections, f.qps, f.p50_ms, f.p99_ms
        );
    }
    println!();
    for (filter, recall) in recalls {
        println!(
            "recall@{LIMIT} of default search vs exact=true over {} queries, filter {filter}: {recall:.4}",
            recall_sample.len()
        );
    }
    if !ef_curve.is_empty() {
        println!();
        println!(
            "hnsw_ef  QPS and p99 at {EF_SWEEP_CLIENTS} {}, recall@{LIMIT} over {} queries",
            if args.wrk {
                "wrk connections (REST)"
            } else {
                "gRPC clients"
            },
            recall_sample.len()
        );
        for point in &ef_curve {
            println!(
                "  ef {:>5}  {:>9.1} QPS  p99 {:>7.2} ms  recall {:.4}",
                point.ef, point.qps, point.p99_ms, point.recall
            );
        }
    }
    memory::report(Some(args.points as usize * args.dim * 4));
    if let Some(dir) = &args.data_dir {
        footprint::report_disk(dir, args.points);
    }
    if args.snapshot {
        footprint::measure_snapshot(&args.rest_url, &args.collection, args.points).await?;
    }
    if args.transfers {
        let rest = Rest::new(&args.rest_url);
        println!();
        println!(
            "transfer  the shard moved to another node under a write load of 10 points every 20 ms"
        );
        println!(
            "  {:<14}  {:>8}  {:>9}  {:>10}  {:>11}  {:>7}  {:>14}  {:>12}  {:>12}  last progress",
            "method",
            "points",
            "seconds",
            "points/s",
            "vector MB/s",
            "writes",
            "slowest write",
            "peak rise MB",
            "transient MB"
        );
        for method in ["wal_delta", "snapshot", "stream_records"] {
            // A snapshot waits for a running optimization: start from green.
            wait_until_green(&client, &args.collection).await?;
            let (f, resident) = footprint::sampled(transfers::measure(
                &rest,
                &args.collection,
                args.dim,
                method,
            ))
            .await;
            let f = f?;
            let seconds = f.elapsed.as_secs_f64();
            // The vectors' bytes moved; payloads and indexes come on top.
            let vector_mb = f.points as f64 * args.dim as f64 * 4.0 / 1e6;
            println!(
                "  {:<14}  {:>8}  {:>9.2}  {:>10.0}  {:>11.1}  {:>7}  {:>11.0} ms  {:>12.0}  {:>12.0}  {}",
                f.method,
                f.points,
                seconds,
                f.points as f64 / seconds,
                vector_mb / seconds,
                f.writes,
                f.slowest_write.as_secs_f64() * 1e3,
                resident.rise(),
                resident.transient(),
                f.last_comment
            );
        }
    }
    Ok(())
}
