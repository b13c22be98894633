//! An operator points Prometheus at every service of a split deployment (1
//! control plane, 2 data nodes, 1 gateway): the gateway counts and times each
//! REST and gRPC operation, the control plane shows Raft, peers and replica
//! states, each data node shows its shards; probes answer on the same port,
//! and a data node that dies shows as down.

use serde_json::json;
use tessera_tests::wait::{until, READY_TIMEOUT};
use tessera_tests::{data, Node, ProcessCluster};

const COLLECTION: &str = "metrics_story";
const POINTS: u64 = 300;
const DIM: usize = 4;
const DATA_NODES: usize = 2;

/// The samples of `name` in Prometheus text whose labels include every pair
/// of `labels`.
fn samples(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let wanted = series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")));
            wanted.then(|| value.parse().expect("a sample value"))
        })
        .collect()
}

fn total(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text, name, labels).iter().sum()
}

async fn get(url: &str) -> (reqwest::StatusCode, String) {
    let reply = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = reply.status();
    (status, reply.text().await.expect("a text body"))
}

async fn scrape(url: &str) -> String {
    let (status, body) = get(&format!("{url}/metrics")).await;
    assert!(status.is_success(), "GET {url}/metrics -> {status}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_reports_metrics_and_answers_probes() {
    let mut cluster = ProcessCluster::builder()
        .data_nodes(DATA_NODES)
        .metrics()
        .start()
        .await;
    let rest = cluster.rest();
    let created = rest
        .put(
            &format!("/collections/{COLLECTION}"),
            &json!({ "vectors": { "size": DIM, "distance": "Cosine" }, "shard_number": 4 }),
        )
        .await;
    assert_eq!(created.result(), &json!(true), "create: {}", created.body);
    rest.upsert_vectors(COLLECTION, data::random_points(7, POINTS, DIM))
        .await;
    let query = json!({ "query": [0.1, 0.2, 0.3, 0.4], "limit": 5 });
    for _ in 0..3 {
        rest.post(&format!("/collections/{COLLECTION}/points/query"), &query)
            .await
            .result();
    }
    let grpc = qdrant_client::Qdrant::from_url(&cluster.grpc_url())
        .build()
        .expect("a gRPC client");
    grpc.collection_info(COLLECTION)
        .await
        .expect("collection info over gRPC");

    // The gateway, on its REST port.
    let gateway = scrape(&cluster.http_url()).await;
    let queries = [
        ("api", "rest"),
        ("operation", "POST /collections/{name}/points/query"),
        ("status", "200"),
    ];
    assert_eq!(total(&gateway, "tessera_requests_total", &queries), 3.0);
    assert_eq!(
        total(
            &gateway,
            "tessera_request_duration_seconds_count",
            &[
                ("api", "rest"),
                ("operation", "POST /collections/{name}/points/query")
            ]
        ),
        3.0
    );
    assert_eq!(
        total(
            &gateway,
            "tessera_requests_total",
            &[
                ("api", "grpc"),
                ("operation", "Collections/Get"),
                ("status", "0")
            ]
        ),
        1.0,
        "{gateway}"
    );

    // The control plane: Raft, peers, replicas.
    let control_plane_url = cluster.metrics_url(Node::ControlPlane(0));
    let control_plane = scrape(&control_plane_url).await;
    assert_eq!(
        total(&control_plane, "tessera_raft_role", &[("role", "leader")]),
        1.0
    );
    assert!(total(&control_plane, "tessera_raft_term", &[]) >= 1.0);
    assert!(total(&control_plane, "tessera_raft_applied_index", &[]) >= 1.0);
    assert_eq!(
        samples(&control_plane, "tessera_peer_up", &[]),
        vec![1.0; DATA_NODES],
        "{control_plane}"
    );
    assert_eq!(
        total(
            &control_plane,
            "tessera_shard_replicas",
            &[("collection", COLLECTION), ("state", "Active")]
        ),
        4.0
    );

    // The data nodes: their shards hold every point between them.
    let mut stored = 0.0;
    for i in 0..DATA_NODES {
        let node = scrape(&cluster.metrics_url(Node::Data(i))).await;
        stored += total(&node, "tessera_shard_points", &[("collection", COLLECTION)]);
        assert!(
            total(
                &node,
                "tessera_shard_wal_bytes",
                &[("collection", COLLECTION)]
            ) > 0.0,
            "data node {i}: {node}"
        );
        assert!(
            total(
                &node,
                "tessera_requests_total",
                &[("api", "data_plane"), ("operation", "DataPlane/Update")]
            ) >= 1.0,
            "data node {i}: {node}"
        );
    }
    assert_eq!(stored, POINTS as f64);

    // Probes answer beside the metrics.
    for node in [Node::ControlPlane(0), Node::Data(0), Node::Data(1)] {
        let url = cluster.metrics_url(node);
        for probe in ["livez", "readyz", "healthz"] {
            let (status, body) = get(&format!("{url}/{probe}")).await;
            assert!(status.is_success(), "{node:?} /{probe} -> {status}: {body}");
        }
    }

    // A data node that dies shows as down on the control plane.
    cluster.kill_data_node(1);
    until(
        "the control plane to report a peer down",
        READY_TIMEOUT,
        || {
            let url = control_plane_url.clone();
            async move {
                let text = scrape(&url).await;
                let up = samples(&text, "tessera_peer_up", &[]);
                if up.iter().filter(|v| **v == 0.0).count() == 1 {
                    Ok(())
                } else {
                    Err(format!("tessera_peer_up samples {up:?}"))
                }
            }
        },
    )
    .await
    .unwrap();
    cluster.stop().await;
}
