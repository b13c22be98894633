//! The storage engine under SIGKILL: a data node is killed at random moments, during an
//! upload and while its optimizer seals, indexes, vacuums and merges segments, then
//! restarted on the same data dir. After every restart each acknowledged `wait=true`
//! write is there with its latest vector and payload, and no deleted point is back.
//!
//! One client sends one request at a time, so the acknowledged writes have a single
//! order that a model replays. A request that fails (the one in flight at the kill) may
//! or may not have been applied: the points it touched are unknown until a later
//! acknowledged upsert or delete settles them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use tessera_tests::{data, wait, ProcessCluster, Rest};

const COLLECTION: &str = "crash_engine";
const DIM: usize = 8;
const IDS: u64 = 1500;
const ROUNDS: usize = 24;
/// Bound on the whole test, so a hung node fails it instead of stalling CI.
const TEST_BUDGET: Duration = Duration::from_secs(170);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq)]
struct Stored {
    vector: Vec<f32>,
    payload: Value,
}

/// The state acknowledged writes imply.
#[derive(Default)]
struct Model {
    points: BTreeMap<u64, Stored>,
    deleted: BTreeSet<u64>,
    /// Touched by a request whose outcome is unknown.
    unknown: BTreeSet<u64>,
}

enum Op {
    Upsert(Vec<(u64, Stored)>),
    Delete(Vec<u64>),
    SetPayload(Vec<u64>, Value),
}

impl Op {
    fn ids(&self) -> Vec<u64> {
        match self {
            Op::Upsert(points) => points.iter().map(|(id, _)| *id).collect(),
            Op::Delete(ids) | Op::SetPayload(ids, _) => ids.clone(),
        }
    }

    async fn send(&self, rest: &Rest) -> bool {
        let (method, path, body) = match self {
            Op::Upsert(points) => {
                let points: Vec<Value> = points
                    .iter()
                    .map(|(id, p)| json!({"id": id, "vector": p.vector, "payload": p.payload}))
                    .collect();
                (Method::PUT, "points", json!({ "points": points }))
            }
            Op::Delete(ids) => (Method::POST, "points/delete", json!({ "points": ids })),
            Op::SetPayload(ids, payload) => (
                Method::POST,
                "points/payload",
                json!({ "points": ids, "payload": payload }),
            ),
        };
        let path = format!("/collections/{COLLECTION}/{path}?wait=true");
        matches!(rest.send(method, &path, Some(&body)).await, Ok(r) if r.status.is_success())
    }
}

impl Model {
    fn random_op(&self, rng: &mut StdRng, step: u64) -> Op {
        let ids = |rng: &mut StdRng, n: usize| -> Vec<u64> {
            let set: BTreeSet<u64> = (0..n).map(|_| rng.random_range(0..IDS)).collect();
            set.into_iter().collect()
        };
        match rng.random_range(0..10) {
            0..=5 => Op::Upsert(
                ids(rng, 40)
                    .into_iter()
                    .map(|id| {
                        let stored = Stored {
                            vector: data::random_vector(rng, DIM),
                            payload: json!({"id": id, "step": step, "tag": format!("t{}", step % 7)}),
                        };
                        (id, stored)
                    })
                    .collect(),
            ),
            6..=7 => Op::Delete(ids(rng, 25)),
            _ => Op::SetPayload(ids(rng, 10), json!({"touched": step})),
        }
    }

    fn acknowledged(&mut self, op: Op) {
        match op {
            Op::Upsert(points) => {
                for (id, stored) in points {
                    self.unknown.remove(&id);
                    self.deleted.remove(&id);
                    self.points.insert(id, stored);
                }
            }
            Op::Delete(ids) => {
                for id in ids {
                    self.unknown.remove(&id);
                    self.points.remove(&id);
                    self.deleted.insert(id);
                }
            }
            Op::SetPayload(ids, payload) => {
                for id in ids {
                    if let Some(p) = self.points.get_mut(&id) {
                        for (k, v) in payload.as_object().expect("object") {
                            p.payload[k] = v.clone();
                        }
                    }
                }
            }
        }
    }

    fn failed(&mut self, op: Op) {
        for id in op.ids() {
            self.points.remove(&id);
            self.deleted.remove(&id);
            self.unknown.insert(id);
        }
    }
}

/// Every id's record as the node has it now; retries while shards are loading.
async fn read_all(rest: &Rest) -> BTreeMap<u64, Stored> {
    let ids: Vec<u64> = (0..IDS).collect();
    let body = json!({"ids": ids, "with_payload": true, "with_vector": true});
    let path = format!("/collections/{COLLECTION}/points");
    wait::until("all points to be readable", READ_TIMEOUT, || {
        let rest = rest.clone();
        let body = body.clone();
        let path = path.clone();
        async move {
            let reply = rest
                .send(Method::POST, &path, Some(&body))
                .await
                .map_err(|e| e.to_string())?;
            if !reply.status.is_success() {
                return Err(format!("{}: {}", reply.status, reply.body));
            }
            let records = reply.body["result"].as_array().cloned().unwrap_or_default();
            Ok(records
                .into_iter()
                .map(|r| {
                    let id = r["id"].as_u64().expect("numeric id");
                    let vector = r["vector"]
                        .as_array()
                        .expect("vector")
                        .iter()
                        .map(|x| x.as_f64().expect("number") as f32)
                        .collect();
                    (
                        id,
                        Stored {
                            vector,
                            payload: r["payload"].clone(),
                        },
                    )
                })
                .collect())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn check(round: usize, model: &Model, found: &BTreeMap<u64, Stored>) {
    for (id, want) in &model.points {
        let got = found.get(id).unwrap_or_else(|| {
            panic!("round {round}: acknowledged point {id} is missing after the restart")
        });
        assert_eq!(
            got.payload, want.payload,
            "round {round}: payload of point {id}"
        );
        assert_eq!(
            got.vector, want.vector,
            "round {round}: vector of point {id}"
        );
    }
    for id in &model.deleted {
        assert!(
            !found.contains_key(id),
            "round {round}: deleted point {id} is back after the restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kills_during_upload_and_optimization() {
    let began = Instant::now();
    let mut cluster = ProcessCluster::start(1).await;
    let rest = cluster.rest();
    // Tiny thresholds keep the optimizer busy: a segment is sealed and indexed every
    // few dozen points, and deletes trip vacuums and merges.
    let created = rest
        .put(
            &format!("/collections/{COLLECTION}"),
            &json!({
                "vectors": {"size": DIM, "distance": "Euclid"},
                "shard_number": 2,
                "hnsw_config": {"m": 8, "ef_construct": 32, "full_scan_threshold": 1},
                "optimizers_config": {
                    "indexing_threshold": 2,
                    "deleted_threshold": 0.1,
                    "vacuum_min_vector_number": 10,
                    "default_segment_number": 2,
                    "flush_interval_sec": 1
                }
            }),
        )
        .await;
    assert_eq!(created.result(), &json!(true), "create collection");

    let mut rng = data::rng(77);
    let mut model = Model::default();
    let mut step = 0u64;
    for round in 0..ROUNDS {
        assert!(
            began.elapsed() < TEST_BUDGET,
            "only {round} of {ROUNDS} rounds within {TEST_BUDGET:?}"
        );
        // Even rounds: kill in the middle of the upload. Odd rounds: upload, then kill
        // shortly after the last acknowledgement, while the optimizer works on it.
        let during_upload = round % 2 == 0;
        let upload_for = Duration::from_millis(rng.random_range(300..1500));
        let started = Instant::now();
        let mut in_flight = None;
        let kill_at = if during_upload {
            Some(
                started
                    + Duration::from_millis(rng.random_range(100..upload_for.as_millis() as u64)),
            )
        } else {
            None
        };
        while started.elapsed() < upload_for {
            step += 1;
            let op = model.random_op(&mut rng, step);
            let request = {
                let rest = rest.clone();
                async move {
                    let ok = op.send(&rest).await;
                    (op, ok)
                }
            };
            let handle = tokio::spawn(request);
            if let Some(at) = kill_at.filter(|at| *at <= Instant::now() + Duration::from_millis(30))
            {
                tokio::time::sleep_until(at.into()).await;
                cluster.kill_data_node(0);
                in_flight = Some(handle);
                break;
            }
            let (op, ok) = handle.await.expect("request task");
            if ok {
                model.acknowledged(op);
            } else {
                model.failed(op);
            }
        }
        if !during_upload {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
            cluster.kill_data_node(0);
        }
        if let Some(handle) = in_flight {
            // Acknowledged before the kill landed, or failed: either is fine, if modelled.
            let (op, ok) = handle.await.expect("request task");
            if ok {
                model.acknowledged(op);
            } else {
                model.failed(op);
            }
        }
        cluster.restart_data_node(0).await;
        let found = read_all(&rest).await;
        check(round, &model, &found);
        eprintln!(
            "round {round:>2} ({}): {} points, {} deleted, {} unknown; {:.1} s so far",
            if during_upload { "upload" } else { "optimizer" },
            model.points.len(),
            model.deleted.len(),
            model.unknown.len(),
            began.elapsed().as_secs_f64()
        );
    }
    cluster.stop().await;
}
