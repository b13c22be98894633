//! A new user starts `deploy/docker-compose.yaml` (3 control-plane nodes, 3
//! data nodes, 2 gateways, each a container on a private network) and writes
//! through both gateways to a collection with two copies of each shard, while
//! the cluster suffers what containers do: a data node is killed and comes
//! back, another is cut off the network and reconnected, the control-plane
//! leader is killed while a collection is created, and a fourth data node
//! joins. Every write a gateway acknowledged must be readable at the end, and
//! `docker-compose down -v` must leave nothing behind.
//!
//! Skipped, saying so, where no Docker engine answers.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;
use tessera_tests::docker::{self, ComposeCluster};
use tessera_tests::replicas::states;
use tessera_tests::wait::{until, READY_TIMEOUT};
use tessera_tests::writer::{create_collection, missing, wait_for_points, Writer};
use tessera_tests::Rest;

const COLLECTION: &str = "compose_story";
const SHARDS: u32 = 3;
const COPIES: usize = 2;

async fn wait_all_active(rest: &Rest, why: &str) {
    until(why, READY_TIMEOUT * 2, || async {
        let states = states(rest, COLLECTION).await;
        let shards: BTreeSet<u64> = states.iter().map(|s| s.0).collect();
        if states.len() == shards.len() * COPIES && states.iter().all(|s| s.2 == "Active") {
            Ok(())
        } else {
            Err(format!("replica states {states:?}"))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The peer id a data node registered under, from its service name.
async fn peer_of(rest: &Rest, service: &str) -> u64 {
    let cluster = rest.get("/cluster").await;
    let uri = format!("http://{service}:6335");
    cluster.result()["peers"]
        .as_object()
        .expect("peers")
        .iter()
        .find(|(_, peer)| peer["uri"] == json!(uri))
        .and_then(|(id, _)| id.parse().ok())
        .unwrap_or_else(|| panic!("no peer at {uri} in {}", cluster.body))
}

/// Waits until the writers' collection counts `more` points beyond now.
async fn writes_continue(rest: &Rest, more: u64) {
    let now = rest.count(COLLECTION).await;
    wait_for_points(rest, COLLECTION, now + more).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_cluster_keeps_every_acknowledged_write_through_container_faults() {
    if let Some(why) = docker::unavailable() {
        assert!(
            std::env::var("TESSERA_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "TESSERA_REQUIRE_DOCKER=1 but the compose test cannot run: {why}"
        );
        eprintln!("SKIPPED: the Docker compose tests need a Docker engine: {why}");
        return;
    }
    let mut cluster = ComposeCluster::up().await;
    let (first, second) = (cluster.rest(0), cluster.rest(1));
    create_collection(&first, COLLECTION, SHARDS, COPIES as u32).await;
    wait_all_active(&first, "the new collection's replicas").await;
    let writers = [
        Writer::start(first.clone(), COLLECTION, 0, 10),
        Writer::start(second.clone(), COLLECTION, 1_000_000, 10),
    ];
    writes_continue(&first, 100).await;
    let mut faults = 0;

    // A data node dies under the write load and comes back.
    cluster.kill("data-2");
    faults += 1;
    writes_continue(&second, 100).await;
    cluster.start("data-2");
    wait_all_active(&first, "data-2's replicas to catch up after its restart").await;

    // A data node is cut off: its replicas leave the in-sync set while writes
    // go on, and it catches up once reconnected.
    let isolated = peer_of(&first, "data-3").await;
    cluster.disconnect("data-3");
    faults += 1;
    until(
        "data-3's replicas to leave the in-sync set",
        READY_TIMEOUT,
        || async {
            let states = states(&first, COLLECTION).await;
            states
                .iter()
                .any(|s| s.1 == isolated && s.2 != "Active")
                .then_some(())
                .ok_or_else(|| format!("replica states {states:?}"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    writes_continue(&first, 100).await;
    cluster.connect("data-3");
    wait_all_active(&first, "data-3's replicas to catch up after reconnecting").await;

    // The control-plane leader dies; a collection can still be created.
    let leader = cluster.control_plane_leader().await;
    cluster.kill(&leader);
    faults += 1;
    until(
        "a collection created without the old leader",
        READY_TIMEOUT,
        || async {
            let body = json!({ "vectors": { "size": 4, "distance": "Dot" } });
            match second
                .send(
                    reqwest::Method::PUT,
                    "/collections/after_leader",
                    Some(&body),
                )
                .await
            {
                Ok(reply) if reply.status == StatusCode::OK => Ok(()),
                Ok(reply) => Err(format!("{} {}", reply.status, reply.body)),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    cluster.start(&leader);

    // A fourth data node joins and both gateways see it.
    cluster.add_data_node().await;
    writes_continue(&second, 50).await;

    let mut acked = Vec::new();
    let mut failed = 0;
    for writer in writers {
        let written = writer.stop().await;
        eprintln!(
            "writer: {} acknowledged, {} batches failed {:?}",
            written.acked.len(),
            written.failed,
            written.errors
        );
        acked.extend(written.acked);
        failed += written.failed;
    }
    let lost_first = missing(&first, COLLECTION, &acked).await;
    let lost_second = missing(&second, COLLECTION, &acked).await;
    eprintln!(
        "compose faults: {faults} injected, {} writes acknowledged, {failed} batches failed, \
         {} lost through gateway 1, {} through gateway 2",
        acked.len(),
        lost_first.len(),
        lost_second.len()
    );
    assert!(
        lost_first.is_empty(),
        "lost acknowledged writes: {lost_first:?}"
    );
    assert!(
        lost_second.is_empty(),
        "lost acknowledged writes: {lost_second:?}"
    );

    let left = cluster.down();
    assert!(left.is_empty(), "docker-compose down -v left {left:?}");
}
