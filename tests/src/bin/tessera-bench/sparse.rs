//! `--sparse`: a seeded sparse-vector corpus (word-like dimensions, a few frequent
//! and many rare), searched through the named sparse vector `text`; prints QPS and
//! p50/p99 per concurrency level and how many of the brute-force top-10 (inner
//! product) each search returns.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use qdrant_client::qdrant::{
    CreateCollectionBuilder, NamedVectors, PointStruct, Query, QueryPointsBuilder,
    SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPointsBuilder, Vector,
    VectorInput,
};
use qdrant_client::{Payload, Qdrant};
use rand::rngs::StdRng;
use rand::Rng;
use tessera_tests::data;

use super::{ids, percentile, run_clients, wait_until_green, Args, LIMIT};

/// Dimensions of the vocabulary.
const VOCABULARY: u32 = 30_000;
const VECTOR_NAME: &str = "text";

/// A sparse vector of `min..max` distinct dimensions, skewed towards small indices
/// (frequent words), with weights in (0, 1].
fn sparse_vector(rng: &mut StdRng, min: usize, max: usize) -> (Vec<u32>, Vec<f32>) {
    let count = rng.random_range(min..max);
    let mut weights: HashMap<u32, f32> = HashMap::with_capacity(count);
    while weights.len() < count {
        let u: f64 = rng.random();
        let dim = (u * u * u * VOCABULARY as f64) as u32;
        weights.insert(dim, rng.random_range(0.01f32..1.0));
    }
    let mut pairs: Vec<(u32, f32)> = weights.into_iter().collect();
    pairs.sort_unstable_by_key(|(d, _)| *d);
    pairs.into_iter().unzip()
}

fn dot(a: &(Vec<u32>, Vec<f32>), b: &(Vec<u32>, Vec<f32>)) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.0.len() && j < b.0.len() {
        match a.0[i].cmp(&b.0[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a.1[i] * b.1[j];
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

async fn search(
    client: &Qdrant,
    collection: &str,
    query: &(Vec<u32>, Vec<f32>),
) -> anyhow::Result<Vec<u64>> {
    let request = QueryPointsBuilder::new(collection)
        .query(Query::new_nearest(VectorInput::new_sparse(
            query.0.clone(),
            query.1.clone(),
        )))
        .using(VECTOR_NAME)
        .limit(LIMIT);
    Ok(ids(&client
        .query(request)
        .await
        .context("sparse search")?
        .result))
}

pub async fn run(client: &Qdrant, args: &Args) -> anyhow::Result<()> {
    println!(
        "tessera-bench --sparse: {} documents over {VOCABULARY} dimensions, collection `{}` at {}",
        args.points, args.collection, args.grpc_url
    );
    if client.collection_exists(&args.collection).await? {
        client.delete_collection(&args.collection).await?;
    }
    let mut sparse = SparseVectorsConfigBuilder::default();
    sparse.add_named_vector_params(VECTOR_NAME, SparseVectorParamsBuilder::default());
    let mut create = CreateCollectionBuilder::new(&args.collection).sparse_vectors_config(sparse);
    if let Some(shards) = args.shards {
        create = create.shard_number(shards);
    }
    client.create_collection(create).await?;

    let mut rng = data::rng(args.seed);
    let documents: Vec<(Vec<u32>, Vec<f32>)> = (0..args.points)
        .map(|_| sparse_vector(&mut rng, 20, 60))
        .collect();
    let started = Instant::now();
    for (start, batch) in documents.chunks(args.batch).enumerate() {
        let first = (start * args.batch) as u64;
        let points: Vec<PointStruct> = batch
            .iter()
            .enumerate()
            .map(|(i, (indices, values))| {
                let vectors = NamedVectors::default().add_vector(
                    VECTOR_NAME,
                    Vector::new_sparse(indices.clone(), values.clone()),
                );
                PointStruct::new(first + i as u64, vectors, Payload::new())
            })
            .collect();
        client
            .upsert_points(UpsertPointsBuilder::new(&args.collection, points).wait(true))
            .await?;
    }
    let upload = started.elapsed();
    let green = wait_until_green(client, &args.collection).await?;
    println!(
        "upload   {} documents in {:.1} s = {:.0} points/s; green {:.1} s later",
        args.points,
        upload.as_secs_f64(),
        args.points as f64 / upload.as_secs_f64(),
        green.as_secs_f64()
    );

    let queries: Vec<(Vec<u32>, Vec<f32>)> = (0..args.queries)
        .map(|_| sparse_vector(&mut rng, 5, 12))
        .collect();
    println!(
        "  {:>7}  {:>7}  {:>9}  {:>8}  {:>8}",
        "clients", "queries", "QPS", "p50 ms", "p99 ms"
    );
    for clients in &args.clients {
        let (latencies, wall) = run_clients(&queries, *clients, |query| {
            let (client, collection) = (client.clone(), args.collection.clone());
            async move {
                search(&client, &collection, &query).await?;
                Ok(())
            }
        })
        .await?;
        println!(
            "  {:>7}  {:>7}  {:>9.1}  {:>8.2}  {:>8.2}",
            clients,
            latencies.len(),
            latencies.len() as f64 / wall.as_secs_f64(),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3
        );
    }

    // Exactness: the brute-force top-10, ties at the cut counted as found.
    let sample = &queries[..args.recall_queries.unwrap_or(100).min(queries.len())];
    let (mut found, mut wanted) = (0, 0);
    for query in sample {
        let mut scores: Vec<(f32, u64)> = documents
            .iter()
            .enumerate()
            .map(|(id, d)| (dot(query, d), id as u64))
            .filter(|(s, _)| *s > 0.0)
            .collect();
        scores.sort_by(|a, b| b.0.total_cmp(&a.0));
        let cut = scores.get(LIMIT as usize - 1).map_or(0.0, |s| s.0);
        let got = search(client, &args.collection, query).await?;
        wanted += scores.len().min(LIMIT as usize);
        found += got
            .iter()
            .filter(|id| {
                let s = dot(query, &documents[**id as usize]);
                s >= cut - data::SCORE_TOLERANCE
            })
            .count()
            .min(scores.len().min(LIMIT as usize));
    }
    println!(
        "exactness@{LIMIT} against brute force over {} queries: {:.4}",
        sample.len(),
        found as f64 / wanted.max(1) as f64
    );
    super::memory::report(None);
    Ok(())
}
