//! An operator points every service at an OpenTelemetry collector. One search
//! through the gateway is then one trace: the gateway's request span, and
//! under it a span from every data node the search reached. A client that
//! sends its own `traceparent` finds the gateway's span inside its trace, and
//! a gRPC search is traced like a REST one.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use tessera_tests::otlp::{OtlpReceiver, ReceivedSpan};
use tessera_tests::wait::until;
use tessera_tests::{data, replicas, ProcessCluster, Standalone};

const COLLECTION: &str = "traced";
const DIM: usize = 4;
const SEARCH: &str = "POST /collections/{name}/points/search";
/// Services export in batches every few seconds.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

fn search_body() -> serde_json::Value {
    json!({ "vector": [0.1, 0.2, 0.3, 0.4], "limit": 3 })
}

async fn create_and_fill(rest: &tessera_tests::Rest, shards: u32) {
    let created = rest
        .put(
            &format!("/collections/{COLLECTION}"),
            &json!({
                "vectors": { "size": DIM, "distance": "Cosine" },
                "shard_number": shards,
                "replication_factor": 1,
            }),
        )
        .await;
    assert_eq!(created.result(), &json!(true), "create: {}", created.body);
    rest.upsert_vectors(COLLECTION, data::random_points(3, 200, DIM))
        .await;
}

/// Waits until the receiver holds a span that `wanted` picks, and returns
/// every span of that span's trace once the trace holds at least `spans`.
async fn trace_of(
    receiver: &OtlpReceiver,
    spans: usize,
    wanted: impl Fn(&ReceivedSpan) -> bool,
) -> (ReceivedSpan, Vec<ReceivedSpan>) {
    until("the trace's spans", EXPORT_TIMEOUT, || {
        let all = receiver.spans();
        let found = all.iter().find(|s| wanted(s)).cloned();
        async move {
            let root = found.ok_or("no such span yet")?;
            let trace: Vec<_> = all
                .into_iter()
                .filter(|s| s.trace_id == root.trace_id)
                .collect();
            if trace.len() < spans {
                return Err(format!("{} of {spans} spans: {trace:?}", trace.len()));
            }
            Ok((root, trace))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn parent_of<'a>(span: &ReceivedSpan, trace: &'a [ReceivedSpan]) -> Option<&'a ReceivedSpan> {
    trace.iter().find(|s| s.span_id == span.parent_span_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_search_is_one_trace_through_gateway_and_every_data_node() {
    let receiver = OtlpReceiver::start().await;
    let cluster = ProcessCluster::builder()
        .data_nodes(3)
        .cluster_setting("TELEMETRY__OTLP_ENDPOINT", receiver.endpoint())
        .start()
        .await;
    let rest = cluster.rest();
    create_and_fill(&rest, 3).await;
    let topology = replicas::topology(&cluster).await;
    let holders: BTreeSet<String> = topology.collections[COLLECTION]
        .shards
        .iter()
        .flat_map(|shard| &shard.replicas)
        .map(|replica| topology.peers[&replica.peer_id].uri.clone())
        .collect();
    assert_eq!(holders.len(), 3, "3 shards, one on each data node");

    rest.post(
        &format!("/collections/{COLLECTION}/points/search"),
        &search_body(),
    )
    .await
    .result();

    // The gateway's span and, per data node, the call and the node's span.
    let (root, trace) = trace_of(&receiver, 1 + 2 * holders.len(), |s| {
        s.service == "tessera-gateway" && s.name == SEARCH
    })
    .await;
    assert!(
        root.parent_span_id.is_empty(),
        "the gateway starts the trace"
    );
    let searched: Vec<_> = trace
        .iter()
        .filter(|s| s.service == "tessera-data-plane" && s.name == "DataPlane/Search")
        .collect();
    let reached: BTreeSet<String> = searched.iter().map(|s| s.instance.clone()).collect();
    assert_eq!(
        reached, holders,
        "every data node holding a shard: {trace:?}"
    );
    for span in searched {
        let call = parent_of(span, &trace)
            .unwrap_or_else(|| panic!("{span:?} has no parent in the trace {trace:?}"));
        assert_eq!(call.service, "tessera-gateway");
        assert_eq!(
            parent_of(call, &trace).map(|s| &s.span_id),
            Some(&root.span_id),
            "the gateway's call to {} hangs off its request span",
            span.instance
        );
    }
    let stray: Vec<_> = trace
        .iter()
        .filter(|s| s.service == "tessera-control-plane")
        .collect();
    assert!(
        stray.is_empty(),
        "a search never reaches the control plane: {stray:?}"
    );

    // A client's own trace context: the gateway's span joins it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let reply = reqwest::Client::new()
        .post(format!(
            "{}/collections/{COLLECTION}/points/search",
            cluster.http_url()
        ))
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&search_body())
        .send()
        .await
        .expect("a search");
    assert!(reply.status().is_success());
    let (joined, _) = trace_of(&receiver, 1, |s| s.trace_id == trace_id && s.name == SEARCH).await;
    assert_eq!(joined.parent_span_id, client_span);

    // A gRPC client's search is traced the same way.
    let grpc = qdrant_client::Qdrant::from_url(&cluster.grpc_url())
        .build()
        .expect("a gRPC client");
    grpc.search_points(qdrant_client::qdrant::SearchPointsBuilder::new(
        COLLECTION,
        vec![0.1, 0.2, 0.3, 0.4],
        3,
    ))
    .await
    .expect("a gRPC search");
    let (root, trace) = trace_of(&receiver, 1 + 2 * holders.len(), |s| {
        s.service == "tessera-gateway" && s.name == "Points/Search"
    })
    .await;
    let reached: BTreeSet<String> = trace
        .iter()
        .filter(|s| s.service == "tessera-data-plane" && s.name == "DataPlane/Search")
        .map(|s| s.instance.clone())
        .collect();
    assert_eq!(reached, holders, "under {root:?}: {trace:?}");

    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_search_traces_the_in_process_data_plane() {
    let receiver = OtlpReceiver::start().await;
    let mut standalone =
        Standalone::start_with(&[("TELEMETRY__OTLP_ENDPOINT", receiver.endpoint())]).await;
    let rest = standalone.rest();
    create_and_fill(&rest, 2).await;
    rest.post(
        &format!("/collections/{COLLECTION}/points/search"),
        &search_body(),
    )
    .await
    .result();
    let (root, trace) = trace_of(&receiver, 3, |s| s.name == SEARCH).await;
    assert_eq!(root.service, "tessera-standalone");
    let shards = trace
        .iter()
        .filter(|s| s.name == "DataPlane/Search" && s.parent_span_id == root.span_id)
        .count();
    assert_eq!(shards, 2, "one data-plane span per shard: {trace:?}");
    standalone.stop().await;
}
