//! Cluster operations as an operator runs them (`POST /collections/{c}/cluster`)
//! on a split deployment of 3 data nodes, with a client writing all along:
//! a shard moves to another node with each transfer method, a replica is
//! added and dropped (never the last one), a transfer to a dead node is
//! aborted, a move finishes although its source is SIGKILLed, a transfer
//! finishes after its target crashes and restarts, a new replica arrives
//! with its index, a peer is removed once its shards moved away, and every
//! malformed or impossible request is refused without changing anything.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_tests::replicas::{self, contents, identical};
use tessera_tests::wait;
use tessera_tests::writer::{create_collection, missing, wait_for_points, Writer};
use tessera_tests::{ProcessCluster, Rest};
use tessera_types::{PeerId, ShardPlacement, Topology};

async fn operate(rest: &Rest, name: &str, operation: Value) -> tessera_tests::Reply {
    rest.send(
        reqwest::Method::POST,
        &format!("/collections/{name}/cluster"),
        Some(&operation),
    )
    .await
    .expect("the gateway answers")
}

fn shard(topology: &Topology, name: &str, shard_id: u32) -> ShardPlacement {
    topology.collections[name].shards[shard_id as usize].clone()
}

/// A peer other than `peer` that holds a replica of the shard.
fn other_holder(shard: &ShardPlacement, peer: PeerId) -> PeerId {
    shard
        .replicas
        .iter()
        .map(|r| r.peer_id)
        .find(|p| *p != peer)
        .expect("a second replica")
}

/// A data peer that holds no replica of the shard.
fn free_peer(topology: &Topology, shard: &ShardPlacement) -> PeerId {
    *topology
        .peers
        .keys()
        .find(|p| shard.replica(**p).is_none())
        .expect("a peer without the shard")
}

/// Waits until the collection has no transfer and exactly `peers` hold the
/// shard, all Active.
async fn wait_placed(cluster: &ProcessCluster, name: &str, shard_id: u32, peers: &[PeerId]) {
    let mut want = peers.to_vec();
    want.sort();
    wait::until(
        "the transfer to finish",
        Duration::from_secs(60),
        || async {
            let topology = replicas::topology(cluster).await;
            let collection = &topology.collections[name];
            let placed = shard(&topology, name, shard_id);
            let mut holders: Vec<PeerId> = placed.replicas.iter().map(|r| r.peer_id).collect();
            holders.sort();
            let done = collection.transfers.is_empty()
                && holders == want
                && placed.replicas.iter().all(|r| r.state.is_readable());
            done.then_some(()).ok_or(format!(
                "replicas {:?}, transfers {:?}",
                placed.replicas, collection.transfers
            ))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shard_moves_to_another_node_under_writes_with_each_method() {
    let cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "moved";
    create_collection(&rest, name, 2, 1).await;
    let writer = Writer::start(rest.clone(), name, 0, 10);
    for (round, method) in ["wal_delta", "snapshot", "stream_records"]
        .into_iter()
        .enumerate()
    {
        wait_for_points(&rest, name, 200 * (round as u64 + 1)).await;
        let topology = replicas::topology(&cluster).await;
        let before = shard(&topology, name, 0);
        let (from, to) = (before.primary, free_peer(&topology, &before));
        operate(
            &rest,
            name,
            json!({ "move_shard": {
                "shard_id": 0, "from_peer_id": from, "to_peer_id": to, "method": method,
            }}),
        )
        .await
        .result();
        wait_placed(&cluster, name, 0, &[to]).await;
        println!("shard 0 moved from {from} to {to} by {method}");
    }
    let written = writer.stop().await;
    let lost = missing(&rest, name, &written.acked).await;
    println!(
        "writes acknowledged: {}, failed batches: {}, lost: {}",
        written.acked.len(),
        written.failed,
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert_eq!(written.failed, 0, "writes failed: {:?}", written.errors);
    identical(&contents(&cluster, name).await).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_is_added_and_dropped_but_never_the_last_one() {
    let cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "copies";
    create_collection(&rest, name, 1, 1).await;
    let writer = Writer::start(rest.clone(), name, 0, 10);
    let topology = replicas::topology(&cluster).await;
    let first = shard(&topology, name, 0);
    let (holder, extra) = (first.primary, free_peer(&topology, &first));
    operate(
        &rest,
        name,
        json!({ "replicate_shard": { "shard_id": 0, "from_peer_id": holder, "to_peer_id": extra }}),
    )
    .await
    .result();
    wait_placed(&cluster, name, 0, &[holder, extra]).await;
    let written = writer.stop().await;
    identical(&contents(&cluster, name).await).unwrap();

    // Dropping the original leaves the copy, which has every write.
    operate(
        &rest,
        name,
        json!({ "drop_replica": { "shard_id": 0, "peer_id": holder }}),
    )
    .await
    .result();
    wait_placed(&cluster, name, 0, &[extra]).await;
    let refused = operate(
        &rest,
        name,
        json!({ "drop_replica": { "shard_id": 0, "peer_id": extra }}),
    )
    .await;
    let message = refused.expect_error(StatusCode::BAD_REQUEST);
    assert!(message.contains("last active replica"), "{message}");
    assert!(missing(&rest, name, &written.acked).await.is_empty());
    // The replica count the operator chose holds: nothing re-adds a copy.
    tokio::time::sleep(Duration::from_secs(1)).await;
    wait_placed(&cluster, name, 0, &[extra]).await;
    let info = rest.get(&format!("/collections/{name}/cluster")).await;
    assert!(info.result().get("warnings").is_none(), "{}", info.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_to_a_dead_node_waits_is_restarted_and_aborted_cleanly() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "aborted";
    create_collection(&rest, name, 1, 1).await;
    let writer = Writer::start(rest.clone(), name, 0, 10);
    let topology = replicas::topology(&cluster).await;
    let placed = shard(&topology, name, 0);
    let (holder, target) = (placed.primary, free_peer(&topology, &placed));
    let target_node = cluster.data_node_of(&topology, target);
    cluster.kill_data_node(target_node);

    let transfer = json!({ "shard_id": 0, "from_peer_id": holder, "to_peer_id": target });
    operate(&rest, name, json!({ "replicate_shard": transfer.clone() }))
        .await
        .result();
    // Listed with why it does not progress.
    wait::until("the transfer to show", Duration::from_secs(30), || async {
        let info = rest.get(&format!("/collections/{name}/cluster")).await;
        let transfers = info.result()["shard_transfers"].clone();
        let comment = transfers[0]["comment"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (transfers[0]["to"] == json!(target) && comment.contains("Dead"))
            .then_some(())
            .ok_or(format!("{transfers}"))
    })
    .await
    .unwrap();
    let again = operate(&rest, name, json!({ "replicate_shard": transfer.clone() })).await;
    assert!(again
        .expect_error(StatusCode::BAD_REQUEST)
        .contains("already being transferred"));

    // Restarted with another method, it shows the new one.
    let mut restart = transfer.clone();
    restart["method"] = json!("snapshot");
    operate(&rest, name, json!({ "restart_transfer": restart }))
        .await
        .result();
    let info = rest.get(&format!("/collections/{name}/cluster")).await;
    assert_eq!(
        info.result()["shard_transfers"][0]["method"],
        json!("snapshot"),
        "{}",
        info.body
    );

    operate(&rest, name, json!({ "abort_transfer": transfer.clone() }))
        .await
        .result();
    wait_placed(&cluster, name, 0, &[holder]).await;
    let gone = operate(&rest, name, json!({ "abort_transfer": transfer })).await;
    gone.expect_error(StatusCode::NOT_FOUND);

    // The node comes back holding nothing of the shard.
    cluster.restart_data_node(target_node).await;
    let written = writer.stop().await;
    assert!(missing(&rest, name, &written.acked).await.is_empty());
    wait_placed(&cluster, name, 0, &[holder]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_finishes_when_its_source_is_killed() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "orphaned";
    create_collection(&rest, name, 1, 2).await;
    let writer = Writer::start(rest.clone(), name, 0, 10);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let topology = replicas::topology(&cluster).await;
    let placed = shard(&topology, name, 0);
    let source = placed.primary;
    let other = other_holder(&placed, source);
    let target = free_peer(&topology, &placed);
    operate(
        &rest,
        name,
        json!({ "move_shard": { "shard_id": 0, "from_peer_id": source, "to_peer_id": target }}),
    )
    .await
    .result();
    cluster.kill_data_node(cluster.data_node_of(&topology, source));
    wait_placed(&cluster, name, 0, &[other, target]).await;
    let written = writer.stop().await;
    let lost = missing(&rest, name, &written.acked).await;
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    identical(&contents(&cluster, name).await).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn impossible_operations_are_refused_and_change_nothing() {
    let cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "refusals";
    create_collection(&rest, name, 1, 2).await;
    let topology = replicas::topology(&cluster).await;
    let placed = shard(&topology, name, 0);
    let holder = placed.primary;
    let other = other_holder(&placed, holder);
    let free = free_peer(&topology, &placed);
    let transfer = |shard_id: u32, from: PeerId, to: PeerId| json!({ "move_shard": { "shard_id": shard_id, "from_peer_id": from, "to_peer_id": to }});
    let refused = [
        ("missing", transfer(0, holder, free), StatusCode::NOT_FOUND),
        (name, transfer(7, holder, free), StatusCode::NOT_FOUND),
        (name, transfer(0, holder, 424_242), StatusCode::NOT_FOUND),
        (name, transfer(0, holder, other), StatusCode::BAD_REQUEST),
        (name, transfer(0, holder, holder), StatusCode::BAD_REQUEST),
        (name, transfer(0, free, other), StatusCode::BAD_REQUEST),
        (
            name,
            json!({ "move_shard": { "shard_id": 0, "from_peer_id": holder, "to_peer_id": free, "method": "resharding_stream_records" }}),
            StatusCode::BAD_REQUEST,
        ),
        (
            name,
            json!({ "move_shard": { "shard_id": 0 }}),
            StatusCode::BAD_REQUEST,
        ),
        (
            name,
            json!({ "teleport_shard": {} }),
            StatusCode::BAD_REQUEST,
        ),
        (
            name,
            json!({ "drop_replica": { "shard_id": 0, "peer_id": free }}),
            StatusCode::NOT_FOUND,
        ),
        (
            name,
            json!({ "restart_transfer": { "shard_id": 0, "from_peer_id": holder, "to_peer_id": free, "method": "snapshot" }}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (collection, operation, status) in refused {
        let reply = operate(&rest, collection, operation.clone()).await;
        let message = reply.expect_error(status);
        println!("{operation} -> {status}: {message}");
    }
    let after = replicas::topology(&cluster).await;
    assert_eq!(after.collections[name], topology.collections[name]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_is_removed_only_once_its_shards_moved_away_and_stays_out() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "evicted";
    create_collection(&rest, name, 3, 1).await;
    let topology = replicas::topology(&cluster).await;
    let leaving = shard(&topology, name, 0).primary;
    let remove = |force: bool| format!("/cluster/peer/{leaving}?force={force}");

    // Holding the only copy of a shard, it can go neither plainly nor by force.
    for force in [false, true] {
        let refused = rest
            .send(reqwest::Method::DELETE, &remove(force), None)
            .await
            .unwrap();
        let message = refused.expect_error(StatusCode::BAD_REQUEST);
        assert!(message.contains(name), "{message}");
    }
    let writer = Writer::start(rest.clone(), name, 0, 10);
    let held: Vec<u32> = topology.collections[name]
        .shards
        .iter()
        .filter(|s| s.replica(leaving).is_some())
        .map(|s| s.shard_id)
        .collect();
    for shard_id in &held {
        let placed = shard(&topology, name, *shard_id);
        let to = free_peer(&topology, &placed);
        operate(
            &rest,
            name,
            json!({ "move_shard": { "shard_id": shard_id, "from_peer_id": leaving, "to_peer_id": to }}),
        )
        .await
        .result();
        wait_placed(&cluster, name, *shard_id, &[to]).await;
    }
    rest.send(reqwest::Method::DELETE, &remove(false), None)
        .await
        .unwrap()
        .result();
    let written = writer.stop().await;
    assert!(missing(&rest, name, &written.acked).await.is_empty());
    let after = replicas::topology(&cluster).await;
    assert!(!after.peers.contains_key(&leaving));

    // Restarted with its old identity, it is refused and says why.
    let node = cluster.data_node_of(&topology, leaving);
    let (status, log) = cluster.restart_data_node_refused(node).await;
    assert!(!status.success());
    assert!(log.contains("was removed from the cluster"), "{log}");
    assert!(!replicas::topology(&cluster)
        .await
        .peers
        .contains_key(&leaving));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_replica_arrives_with_the_primarys_index() {
    let cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "indexed";
    rest.put(
        &format!("/collections/{name}"),
        &json!({
            "vectors": { "size": 4, "distance": "Dot" },
            "shard_number": 1,
            "optimizers_config": { "indexing_threshold": 10 },
            "hnsw_config": { "full_scan_threshold": 10 },
        }),
    )
    .await
    .result();
    let writer = Writer::start(rest.clone(), name, 0, 100);
    let topology = replicas::topology(&cluster).await;
    let placed = shard(&topology, name, 0);
    let (holder, extra) = (placed.primary, free_peer(&topology, &placed));
    let indexed = |peer| {
        let topology = topology.clone();
        async move {
            replicas::shard_stats(&topology, name, 0, peer)
                .await
                .map(|s| s.indexed_vectors_count)
        }
    };
    wait::until("the primary to index", Duration::from_secs(60), || async {
        let done = indexed(holder).await?;
        (done >= 1_000)
            .then_some(())
            .ok_or(format!("{done} indexed"))
    })
    .await
    .unwrap();
    let written = writer.stop().await;
    let before = indexed(holder).await.unwrap();

    // No method named: the empty target starts from a snapshot.
    operate(
        &rest,
        name,
        json!({ "replicate_shard": { "shard_id": 0, "from_peer_id": holder, "to_peer_id": extra }}),
    )
    .await
    .result();
    wait_placed(&cluster, name, 0, &[holder, extra]).await;
    let copied = indexed(extra).await.unwrap();
    assert!(
        copied >= before,
        "the new replica had {copied} indexed vectors when it became Active, the primary {before}"
    );
    assert!(missing(&rest, name, &written.acked).await.is_empty());
    identical(&contents(&cluster, name).await).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_finishes_after_its_target_crashes_and_comes_back() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "crashed_target";
    create_collection(&rest, name, 1, 1).await;
    let writer = Writer::start(rest.clone(), name, 0, 50);
    wait_for_points(&rest, name, 1_000).await;
    let topology = replicas::topology(&cluster).await;
    let placed = shard(&topology, name, 0);
    let (holder, target) = (placed.primary, free_peer(&topology, &placed));
    operate(
        &rest,
        name,
        json!({ "replicate_shard": {
            "shard_id": 0, "from_peer_id": holder, "to_peer_id": target, "method": "snapshot",
        }}),
    )
    .await
    .result();
    let node = cluster.data_node_of(&topology, target);
    cluster.kill_data_node(node);
    cluster.restart_data_node(node).await;
    wait_placed(&cluster, name, 0, &[holder, target]).await;
    let written = writer.stop().await;
    assert!(missing(&rest, name, &written.acked).await.is_empty());
    identical(&contents(&cluster, name).await).unwrap();
}
