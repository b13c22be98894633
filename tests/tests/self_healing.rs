//! A cluster that keeps itself healthy, without an operator: a data node that
//! dies for good has its replicas made again on the others while writes go
//! on, and when it comes back after all it holds nothing of what it had; a
//! shard whose only copy it held is reported, not recreated empty. Nodes in
//! two zones hold one copy of each shard per zone, and a whole zone lost
//! under writes loses no acknowledged write and leaves every shard usable.

use std::time::{Duration, Instant};

use tessera_tests::replicas::{self, states};
use tessera_tests::wait;
use tessera_tests::writer::{create_collection, missing, missing_at, wait_for_points, Writer};
use tessera_tests::{Node, ProcessCluster};

const C: &str = "self_healing";
/// One copy per shard: the lost node takes one shard's only copy with it.
const SINGLE: &str = "single_copy";

/// The peer id the gateway reports for data node `i`.
async fn peer_of(cluster: &ProcessCluster, i: usize) -> u64 {
    let info = cluster.rest().get("/cluster").await;
    let uri = cluster.data_node_uri(i);
    info.result()["peers"]
        .as_object()
        .expect("peers")
        .iter()
        .find(|(_, peer)| peer["uri"].as_str() == Some(uri.as_str()))
        .and_then(|(id, _)| id.parse().ok())
        .expect("the data node is a peer")
}

/// Replica directories of `collection` (`<collection>-<incarnation>/<shard>`)
/// under a data node's `collections`.
fn replica_dirs(collections: &std::path::Path, collection: &str) -> Vec<std::path::PathBuf> {
    let dirs = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect::<Vec<_>>()
    };
    let prefix = format!("{collection}-");
    dirs(collections)
        .iter()
        .filter(|c| {
            c.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .flat_map(|c| dirs(c))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_data_node_lost_for_good_has_its_replicas_made_again_on_the_others() {
    let mut cluster = ProcessCluster::builder()
        .data_nodes(4)
        .control_plane_setting("CLUSTER__REPLICATION__DEAD_PEER_TIMEOUT_SEC", 3)
        .metrics()
        .start()
        .await;
    let rest = cluster.rest();
    // Four shards of two copies on four nodes: every node holds two replicas.
    create_collection(&rest, C, 4, 2).await;
    create_collection(&rest, SINGLE, 4, 1).await;
    let lost = peer_of(&cluster, 3).await;
    let writer = Writer::start(rest.clone(), C, 0, 10);
    wait_for_points(&rest, C, 200).await;

    cluster.kill_data_node(3);
    let killed = Instant::now();
    // Every shard has two in-sync copies again, none of them on the lost node.
    wait::until(
        "two Active copies of every shard on live nodes",
        Duration::from_secs(90),
        || async {
            let states = states(&rest, C).await;
            let healthy = states.len() == 8
                && states
                    .iter()
                    .all(|(_, peer, state)| *peer != lost && state == "Active");
            healthy.then_some(()).ok_or(format!("{states:?}"))
        },
    )
    .await
    .unwrap();
    println!(
        "replication factor restored {:.1} s after the node was killed",
        killed.elapsed().as_secs_f64()
    );
    // The single-copy shard it held has nowhere to come from: it is reported,
    // and stays placed on the lost node rather than made again empty.
    let metrics = format!("{}/metrics", cluster.metrics_url(Node::ControlPlane(0)));
    wait::until(
        "the stranded shard in the control plane's metrics",
        Duration::from_secs(30),
        || async {
            let body = reqwest::get(&metrics)
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            body.lines()
                .any(|l| l == "tessera_shards_stranded 1")
                .then_some(())
                .ok_or_else(|| "not reported yet".to_string())
        },
    )
    .await
    .unwrap();
    let single = states(&rest, SINGLE).await;
    assert_eq!(single.len(), 4, "{single:?}");
    assert!(
        single.iter().any(|(_, peer, _)| *peer == lost),
        "{single:?}"
    );

    // The node comes back with its old data: it is a member with no replicas.
    cluster.restart_data_node(3).await;
    let before = rest.count(C).await;
    wait_for_points(&rest, C, before + 100).await;
    let written = writer.stop().await;
    replicas::wait_in_sync(&cluster, C, 2).await;
    let states = states(&rest, C).await;
    assert!(
        states.iter().all(|(_, peer, _)| *peer != lost),
        "the returning node was given back replicas: {states:?}"
    );
    let collections = cluster.data_node_dir(3).join("collections");
    wait::until(
        "the returning node removes the replicas it lost",
        Duration::from_secs(30),
        || async {
            let kept = replica_dirs(&collections, C);
            kept.is_empty().then_some(()).ok_or(format!("{kept:?}"))
        },
    )
    .await
    .unwrap();

    let missing = missing(&rest, C, &written.acked).await;
    println!(
        "writes acknowledged: {}, failed batches: {}, lost: {}",
        written.acked.len(),
        written.failed,
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    cluster.stop().await;
}

/// The zone of each peer, as `GET /cluster` reports it.
async fn zones(cluster: &ProcessCluster) -> std::collections::BTreeMap<u64, String> {
    let info = cluster.rest().get("/cluster").await;
    info.result()["peers"]
        .as_object()
        .expect("peers")
        .iter()
        .filter_map(|(id, peer)| Some((id.parse().ok()?, peer["zone"].as_str()?.to_string())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_a_whole_zone_leaves_every_shard_readable_and_writable() {
    let mut cluster = ProcessCluster::builder()
        .data_nodes(4)
        .zones(&["a", "a", "b", "b"])
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 4, 2).await;
    let zones = zones(&cluster).await;
    assert_eq!(zones.len(), 4, "every node reports its zone: {zones:?}");
    // Each shard has one copy in each zone.
    let placed = states(&rest, C).await;
    for shard in 0..4 {
        let shard_zones: std::collections::BTreeSet<&str> = placed
            .iter()
            .filter(|(s, _, _)| *s == shard)
            .map(|(_, peer, _)| zones[peer].as_str())
            .collect();
        assert_eq!(shard_zones.len(), 2, "shard {shard}: {placed:?}");
    }
    let writer = Writer::start(rest.clone(), C, 0, 10);
    wait_for_points(&rest, C, 200).await;

    // Zone "a" goes dark: both of its nodes are killed.
    cluster.kill_data_node(0);
    cluster.kill_data_node(1);
    let before = rest.count(C).await;
    wait_for_points(&rest, C, before + 200).await;
    let written = writer.stop().await;
    let missing = missing_at(&rest, C, &written.acked, "1").await;
    println!(
        "zone lost: writes acknowledged: {}, failed batches: {} (during failover), lost: {}",
        written.acked.len(),
        written.failed,
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(rest.count(C).await >= written.acked.len() as u64);
    cluster.stop().await;
}
