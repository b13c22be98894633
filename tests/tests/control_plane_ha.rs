//! An operator runs three control-plane nodes as separate processes, so the
//! cluster's topology survives the loss of any one of them. These stories kill
//! nodes with SIGKILL, restart them, add and remove members, and drive the
//! cluster through the gateway like a user would.
//!
//! The stories run one at a time: several clusters of debug binaries at once
//! on two cores would make election timing, which some of them measure, noise.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_proto::control_plane as cp;
use tessera_tests::{wait, ProcessCluster, Rest};

/// Held by the running story. tokio's lock works across the stories' separate
/// runtimes and is not poisoned when a story fails.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DIM: usize = 4;

async fn create_collection(rest: &Rest, name: &str) -> tessera_tests::Reply {
    rest.put(
        &format!("/collections/{name}"),
        &json!({ "vectors": { "size": DIM, "distance": "Dot" } }),
    )
    .await
}

async fn upsert(rest: &Rest, collection: &str, ids: std::ops::Range<u64>) {
    let points: Vec<Value> = ids
        .map(|id| json!({ "id": id, "vector": [1.0, id as f32, 0.5, 0.25], "payload": { "id": id } }))
        .collect();
    let reply = rest
        .put(
            &format!("/collections/{collection}/points?wait=true"),
            &json!({ "points": points }),
        )
        .await;
    assert_eq!(
        reply.result()["status"],
        json!("completed"),
        "{}",
        reply.body
    );
}

/// The ids of the best `limit` hits for a query.
async fn search(rest: &Rest, collection: &str, limit: usize) -> Vec<u64> {
    let reply = rest
        .post(
            &format!("/collections/{collection}/points/query"),
            &json!({ "query": [0.0, 1.0, 0.0, 0.0], "limit": limit }),
        )
        .await;
    reply.result()["points"]
        .as_array()
        .unwrap_or_else(|| panic!("no points in {}", reply.body))
        .iter()
        .map(|p| p["id"].as_u64().expect("numeric ids"))
        .collect()
}

async fn collection_names(rest: &Rest) -> Vec<String> {
    let reply = rest.get("/collections").await;
    let mut names: Vec<String> = reply.result()["collections"]
        .as_array()
        .unwrap_or_else(|| panic!("no collections in {}", reply.body))
        .iter()
        .map(|c| c["name"].as_str().expect("names").to_string())
        .collect();
    names.sort();
    names
}

fn voters(status: &cp::ClusterStatusReply) -> Vec<u64> {
    status
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.id)
        .collect()
}

/// The production shape of the control plane: three voters, one data node, a gateway.
async fn three_voters_and_a_data_node() -> ProcessCluster {
    ProcessCluster::builder()
        .control_planes(3)
        .data_nodes(1)
        .start()
        .await
}

#[tokio::test]
async fn when_the_leader_dies_a_new_one_takes_over_and_collections_can_still_be_created() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut cluster = three_voters_and_a_data_node().await;
    let rest = cluster.rest();
    create_collection(&rest, "before").await.result();

    let old = cluster.control_plane_leader().await;
    let old_id = cluster.control_plane_status(old).await.unwrap().node_id;
    cluster.kill_control_plane(old);
    let killed = Instant::now();

    // One request, no retries: the members that are alive wait for the new
    // leader and forward the change to it.
    let reply = create_collection(&rest, "after").await;
    reply.result();
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the create took {took:?} after the leader died"
    );
    assert_eq!(collection_names(&rest).await, ["after", "before"]);

    let new = cluster.control_plane_leader().await;
    assert_ne!(new, old);
    // GET /cluster answers from a live member and shows the new leader.
    let reply = rest.get("/cluster").await;
    let status = reply.result();
    let leader = status["raft_info"]["leader"].as_u64();
    assert!(leader.is_some() && leader != Some(old_id), "{status}");
    assert_eq!(
        status["control_plane"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );

    // The old leader comes back as a follower and catches up.
    cluster.restart_control_plane(old).await;
    wait::until(
        "the old leader to catch up",
        Duration::from_secs(30),
        || async {
            let status = cluster.control_plane_status(old).await?;
            let leader = cluster.control_plane_status(new).await?;
            if status.role == "Follower" && status.commit >= leader.commit {
                Ok(())
            } else {
                Err(format!("{status:?}"))
            }
        },
    )
    .await
    .unwrap();
    cluster.stop().await;
}

/// An operator stops the leader gracefully (SIGTERM, as Kubernetes and
/// Compose do): it hands leadership over before it exits, so by the time it
/// is gone no survivor still follows it, and a change goes through at once.
#[tokio::test]
async fn a_leader_stopped_with_sigterm_hands_leadership_over_before_it_exits() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut cluster = three_voters_and_a_data_node().await;
    let rest = cluster.rest();
    let old = cluster.control_plane_leader().await;
    let old_id = cluster.control_plane_status(old).await.unwrap().node_id;
    cluster.stop_control_plane(old).await;

    // Read right after the exit, without waiting: a leader that just died
    // would still be followed for an election timeout.
    for i in (0..3).filter(|i| *i != old) {
        let status = cluster.control_plane_status(i).await.unwrap();
        assert_ne!(
            status.leader,
            Some(old_id),
            "node {i} still follows the stopped leader: {status:?}"
        );
    }
    let started = Instant::now();
    create_collection(&rest, "after_handover").await.result();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the create took {took:?} after the handover"
    );
    cluster.restart_control_plane(old).await;
    cluster.stop().await;
}

#[tokio::test]
async fn without_a_quorum_changes_fail_fast_while_points_keep_flowing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut cluster = three_voters_and_a_data_node().await;
    let rest = cluster.rest();
    create_collection(&rest, "points").await.result();
    upsert(&rest, "points", 0..10).await;

    // Two of three control-plane nodes die. The one left is first in the
    // gateway's list, so the gateway hears its answer before it fails to
    // reach the other two.
    cluster.kill_control_plane(1);
    cluster.kill_control_plane(2);
    // A leader refuses changes once it notices it lost its quorum: at its
    // next heartbeat (a tick) for a crash. A change that arrives before that
    // is appended and times out, and takes effect once the quorum is back.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let reply = create_collection(&rest, "refused").await;
    let took = started.elapsed();
    let message = reply.expect_error(StatusCode::SERVICE_UNAVAILABLE);
    assert!(message.contains("consensus is unavailable"), "{message}");
    assert!(
        took < Duration::from_secs(8),
        "the refusal took {took:?}; the proposal timeout is 5 s"
    );

    // Point writes and reads never touch the control plane.
    upsert(&rest, "points", 10..20).await;
    assert_eq!(rest.count("points").await, 20);
    assert_eq!(search(&rest, "points", 3).await, [19, 18, 17]);
    assert_eq!(collection_names(&rest).await, ["points"]);

    // With the nodes back, the same change goes through: the refused one was
    // never appended to the log, so it is not waiting to be committed.
    cluster.restart_control_plane(1).await;
    cluster.restart_control_plane(2).await;
    cluster.wait_for_members(3).await;
    create_collection(&rest, "refused").await.result();
    assert_eq!(collection_names(&rest).await, ["points", "refused"]);
    cluster.stop().await;
}

#[tokio::test]
async fn restarting_every_control_plane_node_keeps_every_collection() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut cluster = three_voters_and_a_data_node().await;
    let rest = cluster.rest();
    for name in ["a", "b", "c"] {
        create_collection(&rest, name).await.result();
    }
    rest.send(reqwest::Method::DELETE, "/collections/b", None)
        .await
        .unwrap()
        .result();
    let before = cluster.control_plane_status(0).await.unwrap();

    // A power cut: every node dies at once, then all come back.
    for i in 0..3 {
        cluster.kill_control_plane(i);
    }
    for i in 0..3 {
        cluster.restart_control_plane(i).await;
    }
    let after = cluster.wait_for_members(3).await;
    assert_eq!(after.members, before.members, "same members, same uris");
    assert!(after.commit >= before.commit, "{after:?} {before:?}");
    for i in 0..3 {
        let mut stream = cluster
            .control_plane_client(i)
            .watch_topology(cp::WatchTopologyRequest {})
            .await
            .unwrap()
            .into_inner();
        let topology = stream.message().await.unwrap().unwrap();
        let mut names: Vec<_> = topology
            .collections
            .iter()
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "c"], "control-plane node {i}");
    }
    create_collection(&rest, "d").await.result();
    assert_eq!(collection_names(&rest).await, ["a", "c", "d"]);
    cluster.stop().await;
}

#[tokio::test]
async fn a_fourth_node_joins_as_a_learner_and_replaces_a_removed_member() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut cluster = three_voters_and_a_data_node().await;
    let rest = cluster.rest();

    // The fourth node has no --uri: the group records the address it joined from.
    let fourth = cluster.add_control_plane(false).await;
    let status = cluster.wait_for_members(4).await;
    let fourth_status = cluster.control_plane_status(fourth).await.unwrap();
    let fourth_id = fourth_status.node_id;
    let member = status.members.iter().find(|m| m.id == fourth_id).unwrap();
    assert!(!member.voter, "a fourth node stays a learner: {status:?}");
    assert_eq!(member.uri, cluster.control_plane_uri(fourth));
    assert_eq!(fourth_status.role, "Learner");

    let reply = rest.get("/cluster").await;
    let listed = reply.result()["control_plane"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 4, "{}", reply.body);
    assert_eq!(
        listed.iter().filter(|m| m["voter"] == json!(true)).count(),
        3
    );

    // The operator retires a follower; the learner takes its vote.
    let leader = cluster.control_plane_leader().await;
    let retired = (0..3).find(|i| *i != leader).unwrap();
    let retired_id = cluster.control_plane_status(retired).await.unwrap().node_id;
    let reply = rest
        .send(
            reqwest::Method::DELETE,
            &format!("/cluster/control-plane/{retired_id}"),
            None,
        )
        .await
        .unwrap();
    let members = reply.result().as_array().unwrap().clone();
    assert_eq!(members.len(), 3, "{}", reply.body);
    assert!(
        members.iter().all(|m| m["voter"] == json!(true)),
        "{}",
        reply.body
    );
    assert!(
        members.iter().any(|m| m["id"] == json!(fourth_id)),
        "{}",
        reply.body
    );
    cluster.stop_control_plane(retired).await;

    let reply = rest
        .send(
            reqwest::Method::DELETE,
            &format!("/cluster/control-plane/{retired_id}"),
            None,
        )
        .await
        .unwrap();
    reply.expect_error(StatusCode::NOT_FOUND);

    // The replacement counts towards quorum: with one more original voter
    // gone, it and the remaining one still accept changes.
    let other = (0..3).find(|i| *i != retired && *i != leader).unwrap();
    cluster.kill_control_plane(other);
    create_collection(&rest, "after-replacement").await.result();
    let status = cluster.control_plane_status(fourth).await.unwrap();
    assert!(voters(&status).contains(&fourth_id), "{status:?}");
    cluster.stop().await;
}

#[tokio::test]
async fn changes_sent_to_followers_and_learners_are_forwarded_to_the_leader() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let cluster = ProcessCluster::builder()
        .control_planes(3)
        .voters(2)
        .data_nodes(1)
        .start()
        .await;
    let leader = cluster.control_plane_leader().await;
    let mut names = Vec::new();
    for i in (0..3).filter(|i| *i != leader) {
        let role = cluster.control_plane_status(i).await.unwrap().role;
        let name = format!("via-{}", role.to_lowercase());
        cluster
            .control_plane_client(i)
            .create_collection(cp::CreateCollectionRequest {
                name: name.clone(),
                request: small_collection(),
            })
            .await
            .unwrap_or_else(|e| panic!("{role} {i}: {e}"));
        names.push(name);
    }
    names.sort();
    assert_eq!(names, ["via-follower", "via-learner"]);
    // The gateway sees both, and the leader answers errors for the follower.
    let rest = cluster.rest();
    wait::until(
        "the gateway to see both",
        Duration::from_secs(10),
        || async {
            let seen = collection_names(&rest).await;
            (seen == names).then_some(()).ok_or(format!("{seen:?}"))
        },
    )
    .await
    .unwrap();
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let err = cluster
        .control_plane_client(follower)
        .create_collection(cp::CreateCollectionRequest {
            name: "via-follower".into(),
            request: small_collection(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists, "{err:?}");
    cluster.stop().await;
}

#[tokio::test]
async fn a_data_node_holding_replicas_is_removed_only_by_force_and_never_with_the_last_copy() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let cluster = ProcessCluster::builder().data_nodes(2).start().await;
    let rest = cluster.rest();
    rest.put(
        "/collections/single",
        &json!({ "vectors": { "size": DIM, "distance": "Dot" }, "shard_number": 1, "replication_factor": 2 }),
    )
    .await
    .result();
    let cluster_info = rest.get("/cluster").await;
    let peers: Vec<u64> = cluster_info.result()["peers"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    let (first, last) = (peers[0], peers[1]);

    let delete = |peer: u64, query: &str| {
        let rest = rest.clone();
        let path = format!("/cluster/peer/{peer}{query}");
        async move {
            rest.send(reqwest::Method::DELETE, &path, None)
                .await
                .unwrap()
        }
    };
    let reply = delete(first, "").await;
    let message = reply.expect_error(StatusCode::BAD_REQUEST);
    assert!(
        message.contains("Cannot remove peer") && message.contains("`single`"),
        "{message}"
    );
    delete(first, "?force=maybe")
        .await
        .expect_error(StatusCode::BAD_REQUEST);
    assert_eq!(delete(first, "?force=true").await.result(), &json!(true));
    delete(first, "?force=true")
        .await
        .expect_error(StatusCode::NOT_FOUND);
    // The other node now holds the only copy: force does not drop it.
    let message = delete(last, "?force=true").await;
    assert!(message
        .expect_error(StatusCode::BAD_REQUEST)
        .contains("last active replica"));

    let info = rest.get("/collections/single/cluster").await;
    let replicas = info.result()["remote_shards"].as_array().unwrap().clone();
    assert_eq!(replicas.len(), 1, "{}", info.body);
    assert_eq!(replicas[0]["peer_id"], json!(last));
    assert_eq!(replicas[0]["state"], json!("Active"));
    cluster.stop().await;
}

#[tokio::test]
async fn a_long_running_control_plane_keeps_its_log_bounded_and_new_members_start_from_a_snapshot()
{
    let _serial = ONE_AT_A_TIME.lock().await;
    const PROPOSALS: usize = 10_000;
    const CLIENTS: usize = 16;
    const SNAPSHOT_EVERY: u64 = 1_000;
    let mut cluster = ProcessCluster::builder()
        .control_planes(3)
        .data_nodes(0)
        .start()
        .await;

    // A cheap change, sent to all three members in turn: a listener peer
    // re-registering under a new uri each time.
    let started = Instant::now();
    let clients: Vec<_> = (0..3).map(|i| cluster.control_plane_client(i)).collect();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut client = clients[c % 3].clone();
            tokio::spawn(async move {
                for n in (c..PROPOSALS).step_by(CLIENTS) {
                    let request = cp::RegisterPeerRequest {
                        uri: format!("http://listener-{n}:6334"),
                        node_type: cp::NodeType::Listener as i32,
                        peer_id: Some(7),
                        zone: String::new(),
                    };
                    client
                        .register_peer(request)
                        .await
                        .unwrap_or_else(|e| panic!("proposal {n}: {e}"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    eprintln!("{PROPOSALS} proposals took {:?}", started.elapsed());

    let rest = cluster.rest();
    let reply = rest.post("/cluster/recover", &json!({})).await;
    assert_eq!(reply.result(), &json!(true), "{}", reply.body);
    let leader = cluster.control_plane_leader().await;
    let status = cluster.control_plane_status(leader).await.unwrap();
    assert!(status.commit >= PROPOSALS as u64, "{status:?}");
    assert!(
        status.snapshot_index >= Some(PROPOSALS as u64),
        "{status:?}"
    );
    // Every member snapshots every SNAPSHOT_EVERY entries and keeps 100
    // entries behind its snapshot, whatever the log's length.
    for i in 0..3 {
        let status = cluster.control_plane_status(i).await.unwrap();
        assert!(
            status.purged_index.is_some() && status.stored_log_entries <= SNAPSHOT_EVERY + 150,
            "node {i} keeps {} log entries: {status:?}",
            status.stored_log_entries
        );
    }

    // The entries a new member would need are gone, so it starts from the
    // leader's snapshot.
    let purged = status.purged_index.unwrap();
    assert!(purged > SNAPSHOT_EVERY, "{status:?}");
    let new = cluster.add_control_plane(true).await;
    cluster.wait_for_members(4).await;
    let joined = wait::until(
        "the snapshot to be installed",
        Duration::from_secs(30),
        || async {
            let status = cluster.control_plane_status(new).await?;
            if status.snapshot_index >= Some(purged) {
                Ok(status)
            } else {
                Err(format!("{status:?}"))
            }
        },
    )
    .await
    .unwrap();
    assert!(joined.stored_log_entries <= 200, "{joined:?}");
    let mut stream = cluster
        .control_plane_client(new)
        .watch_topology(cp::WatchTopologyRequest {})
        .await
        .unwrap()
        .into_inner();
    let topology = stream.message().await.unwrap().unwrap();
    assert_eq!(topology.peers.len(), 1);
    assert!(
        topology.peers[0].uri.starts_with("http://listener-"),
        "{topology:?}"
    );
    assert!(topology.version >= PROPOSALS as u64, "{topology:?}");
    cluster.stop().await;
}

/// A small collection's `CreateCollection` body as the gateway sends it.
fn small_collection() -> Vec<u8> {
    let request: tessera_types::CreateCollection =
        serde_json::from_str(r#"{"vectors": {"size": 4, "distance": "Dot"}}"#).unwrap();
    tessera_proto::convert::to_msgpack(&request)
}
