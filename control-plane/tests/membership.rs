//! Several control-plane nodes in one process, on ephemeral ports: forming a
//! group by joining, forwarding, membership changes, losing quorum and
//! checkpointing.

use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tessera_control_plane::{ConsensusOptions, ControlPlane, ControlPlaneOptions};
use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tonic::transport::Channel;
use tonic::Code;

type Client = ControlPlaneClient<Channel>;

const SMALL: &str = r#"{"vectors": {"size": 4, "distance": "Dot"}}"#;

fn consensus() -> ConsensusOptions {
    ConsensusOptions {
        tick_period_ms: 50,
        proposal_timeout_ms: 2_000,
        ..Default::default()
    }
}

fn options(
    dir: &Path,
    bootstrap: Option<String>,
    consensus: ConsensusOptions,
) -> ControlPlaneOptions {
    ControlPlaneOptions {
        uri: Some("http://127.0.0.1:0".into()),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        bootstrap,
        consensus,
        replicas: Default::default(),
        operations: None,
        metrics: Default::default(),
    }
}

struct Node {
    node: ControlPlane,
    uri: String,
    client: Client,
}

async fn start(options: ControlPlaneOptions) -> Node {
    let node = ControlPlane::start(options).await.expect("node starts");
    let uri = format!("http://{}", node.local_addr());
    let client = ControlPlaneClient::connect(uri.clone())
        .await
        .expect("connects");
    Node { node, uri, client }
}

/// A group of `n` nodes: the first founds it, the others join through it.
async fn group(n: usize, consensus: ConsensusOptions) -> (Vec<TempDir>, Vec<Node>) {
    let dirs: Vec<TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = start(options(dirs[0].path(), None, consensus.clone())).await;
    let bootstrap = first.uri.clone();
    let mut nodes = vec![first];
    for dir in &dirs[1..] {
        nodes.push(
            start(options(
                dir.path(),
                Some(bootstrap.clone()),
                consensus.clone(),
            ))
            .await,
        );
    }
    (dirs, nodes)
}

async fn status(client: &mut Client) -> cp::ClusterStatusReply {
    client
        .cluster_status(cp::ClusterStatusRequest {})
        .await
        .expect("status")
        .into_inner()
}

fn voters(status: &cp::ClusterStatusReply) -> Vec<u64> {
    status
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.id)
        .collect()
}

/// Polls `check` on `client`'s status until it holds, for up to 10 s.
async fn status_until(
    client: &mut Client,
    what: &str,
    check: impl Fn(&cp::ClusterStatusReply) -> bool,
) -> cp::ClusterStatusReply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = status(client).await;
        if check(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn register(client: &mut Client, uri: &str) -> Result<cp::RegisterPeerReply, tonic::Status> {
    client
        .register_peer(cp::RegisterPeerRequest {
            uri: uri.into(),
            node_type: cp::NodeType::Normal as i32,
            peer_id: None,
            zone: String::new(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn create(client: &mut Client, name: &str) -> Result<cp::ChangeReply, tonic::Status> {
    client
        .create_collection(cp::CreateCollectionRequest {
            name: name.into(),
            request: tessera_proto::convert::to_msgpack(
                &serde_json::from_str::<tessera_types::CreateCollection>(SMALL).unwrap(),
            ),
        })
        .await
        .map(|r| r.into_inner())
}

/// The index of the node that leads, as every node's status agrees.
async fn leader_index(nodes: &mut [Node]) -> usize {
    let leader = status_until(&mut nodes[0].client, "a leader", |s| s.leader.is_some())
        .await
        .leader
        .unwrap();
    nodes
        .iter()
        .position(|n| n.node.node_id() == leader)
        .expect("the leader is one of the nodes")
}

async fn stop(nodes: Vec<Node>) {
    for node in nodes {
        node.node.stop().await;
    }
}

#[tokio::test]
async fn three_nodes_form_a_group_and_every_member_accepts_changes() {
    let (_dirs, mut nodes) = group(3, consensus()).await;
    let status = status(&mut nodes[2].client).await;
    let mut ids: Vec<u64> = nodes.iter().map(|n| n.node.node_id()).collect();
    ids.sort_unstable();
    assert_eq!(voters(&status), ids, "three voters: {status:?}");
    for node in &nodes {
        let member = status
            .members
            .iter()
            .find(|m| m.id == node.node.node_id())
            .unwrap();
        assert_eq!(
            member.uri, node.uri,
            "each node is recorded at the uri it advertised"
        );
    }

    // Changes sent to followers are forwarded to the leader.
    let leader = leader_index(&mut nodes).await;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    register(&mut nodes[followers[0]].client, "http://a:6334")
        .await
        .unwrap();
    let reply = create(&mut nodes[followers[1]].client, "docs")
        .await
        .unwrap();
    assert!(reply.changed);
    let err = create(&mut nodes[followers[0]].client, "docs")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::AlreadyExists,
        "the leader's answer comes back as is"
    );

    // Every member applies the change.
    for node in &mut nodes {
        let commit = reply.topology_version;
        let mut stream = node
            .client
            .watch_topology(cp::WatchTopologyRequest {})
            .await
            .unwrap()
            .into_inner();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let topology = stream.message().await.unwrap().unwrap();
            if topology.version >= commit {
                assert!(topology.collections.iter().any(|c| c.name == "docs"));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "topology {commit} never reached {}",
                node.uri
            );
        }
    }
    stop(nodes).await;
}

#[tokio::test]
async fn a_node_without_a_uri_is_recorded_at_the_address_it_joined_from() {
    let (_dirs, mut nodes) = group(1, consensus()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut joining = options(dir.path(), Some(nodes[0].uri.clone()), consensus());
    joining.uri = None;
    let joined = start(joining).await;
    let status = status(&mut nodes[0].client).await;
    let member = status
        .members
        .iter()
        .find(|m| m.id == joined.node.node_id())
        .expect("the new node is a member");
    assert_eq!(
        member.uri,
        format!("http://127.0.0.1:{}", joined.node.local_addr().port())
    );
    assert!(member.voter);
    nodes.push(joined);
    stop(nodes).await;
}

#[tokio::test]
async fn a_fourth_node_stays_a_learner_until_a_voter_is_removed() {
    let (_dirs, mut nodes) = group(4, consensus()).await;
    let fourth = nodes[3].node.node_id();
    let status = status(&mut nodes[0].client).await;
    assert_eq!(voters(&status).len(), 3, "{status:?}");
    assert!(
        !voters(&status).contains(&fourth),
        "the fourth node is a learner: {status:?}"
    );
    assert_eq!(status.members.len(), 4);

    // A learner forwards changes like any member.
    register(&mut nodes[3].client, "http://a:6334")
        .await
        .unwrap();

    // Removing a voter, through whichever member, promotes the learner.
    let leader = leader_index(&mut nodes).await;
    let removed = (0..3).find(|i| *i != leader).unwrap();
    let removed_id = nodes[removed].node.node_id();
    let reply = nodes[3]
        .client
        .remove_member(cp::RemoveMemberRequest {
            node_id: removed_id,
        })
        .await
        .unwrap()
        .into_inner();
    let voter_ids: Vec<u64> = reply
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.id)
        .collect();
    assert_eq!(voter_ids.len(), 3, "{reply:?}");
    assert!(
        voter_ids.contains(&fourth),
        "the learner replaced the removed voter: {reply:?}"
    );
    assert!(
        reply.members.iter().all(|m| m.id != removed_id),
        "{reply:?}"
    );

    let err = nodes[0]
        .client
        .remove_member(cp::RemoveMemberRequest {
            node_id: removed_id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    // The replacement counts for quorum: with the removed node and one more
    // voter gone, the other two still commit.
    let removed = nodes.remove(removed);
    removed.node.stop().await;
    let leader = leader_index(&mut nodes).await;
    let other = (0..2).find(|i| *i != leader).unwrap();
    let stopped = nodes.remove(other);
    stopped.node.stop().await;
    let remaining = nodes
        .iter()
        .position(|n| n.node.node_id() != fourth)
        .unwrap();
    register(&mut nodes[remaining].client, "http://b:6334")
        .await
        .unwrap();
    stop(nodes).await;
}

#[tokio::test]
async fn without_a_quorum_changes_fail_within_the_proposal_timeout() {
    let (_dirs, mut nodes) = group(3, consensus()).await;
    register(&mut nodes[0].client, "http://a:6334")
        .await
        .unwrap();
    let survivor = leader_index(&mut nodes).await;
    // Stop both followers: the leader stays, alone.
    let mut survivor = nodes.remove(survivor);
    stop(nodes).await;
    // The leader notices once the followers miss a leader lease of replies
    // (election_timeout_max, 6 ticks of 50 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;

    let started = Instant::now();
    let err = create(&mut survivor.client, "docs").await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message()
            .starts_with("control-plane consensus is unavailable"),
        "{}",
        err.message()
    );
    assert!(took < Duration::from_secs(4), "failed after {took:?}");
    // Nothing was appended: reads still show the old topology.
    let status = status(&mut survivor.client).await;
    assert_eq!(status.pending_operations, 0, "{status:?}");
    survivor.node.stop().await;
}

#[tokio::test]
async fn a_follower_left_alone_fails_changes_within_the_proposal_timeout() {
    let (_dirs, mut nodes) = group(3, consensus()).await;
    register(&mut nodes[0].client, "http://a:6334")
        .await
        .unwrap();
    let leader = leader_index(&mut nodes).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let mut survivor = nodes.remove(follower);
    stop(nodes).await;

    // It keeps forwarding to the dead leader, then fails to elect one.
    let started = Instant::now();
    let err = create(&mut survivor.client, "docs").await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message()
            .starts_with("control-plane consensus is unavailable"),
        "{}",
        err.message()
    );
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_secs(4),
        "failed after {took:?}; the proposal timeout is 2 s"
    );
    survivor.node.stop().await;
}

#[tokio::test]
async fn checkpoints_bound_the_log_and_a_new_member_starts_from_a_snapshot() {
    let consensus = ConsensusOptions {
        snapshot_every: 50,
        ..consensus()
    };
    let (_dirs, mut nodes) = group(3, consensus.clone()).await;
    for i in 0..400 {
        let node = &mut nodes[i % 3];
        let uri = format!("http://peer-{i}:6334");
        node.client
            .register_peer(cp::RegisterPeerRequest {
                uri,
                node_type: cp::NodeType::Listener as i32,
                peer_id: Some(7),
                zone: String::new(),
            })
            .await
            .unwrap();
    }
    let reply = nodes[1]
        .client
        .checkpoint(cp::CheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    let leader = leader_index(&mut nodes).await;
    assert_eq!(
        reply.node_id,
        nodes[leader].node.node_id(),
        "the leader takes the snapshot"
    );
    let status = status(&mut nodes[leader].client).await;
    assert!(status.snapshot_index >= Some(400), "{status:?}");
    assert_eq!(Some(reply.snapshot_index), status.snapshot_index);
    // 400 entries went through; the log keeps at most the entries since the
    // last snapshot plus the 100 kept behind it.
    for node in &mut nodes {
        let status = status_until(&mut node.client, "the log purged", |s| {
            s.purged_index.is_some()
        })
        .await;
        assert!(
            status.stored_log_entries <= 50 + 100 + 10,
            "{} keeps {} entries",
            node.uri,
            status.stored_log_entries
        );
    }

    // The entries a new member would need are gone, so it gets the snapshot.
    let dir = tempfile::tempdir().unwrap();
    let mut joined = start(options(dir.path(), Some(nodes[0].uri.clone()), consensus)).await;
    let status = status_until(&mut joined.client, "the snapshot installed", |s| {
        s.snapshot_index >= Some(400)
    })
    .await;
    assert!(status.stored_log_entries <= 160, "{status:?}");
    let mut stream = joined
        .client
        .watch_topology(cp::WatchTopologyRequest {})
        .await
        .unwrap()
        .into_inner();
    let topology = stream.message().await.unwrap().unwrap();
    assert_eq!(topology.peers.len(), 1);
    assert_eq!(topology.peers[0].uri, "http://peer-399:6334");
    nodes.push(joined);
    stop(nodes).await;
}

#[tokio::test]
async fn a_data_peer_is_removed_only_when_no_shard_loses_its_last_copy() {
    let (_dirs, mut nodes) = group(1, consensus()).await;
    let client = &mut nodes[0].client;
    let peer = register(client, "http://a:6334").await.unwrap().peer_id;
    create(client, "docs").await.unwrap();
    let remove = |force| cp::RemovePeerRequest {
        peer_id: peer,
        force,
    };
    let err = client.remove_peer(remove(false)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("`docs`"), "{}", err.message());
    // Force drops replicas, but never a shard's last Active one.
    let err = client.remove_peer(remove(true)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("last active replica"),
        "{}",
        err.message()
    );
    client
        .delete_collection(cp::DeleteCollectionRequest {
            name: "docs".into(),
        })
        .await
        .unwrap();
    let reply = client
        .remove_peer(remove(false))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.changed);
    let err = client.remove_peer(remove(true)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    stop(nodes).await;
}

/// Every pod of a Kubernetes StatefulSet is started with the first pod's URI
/// as `--bootstrap`: the first pod, told to join itself, founds the group.
#[tokio::test]
async fn a_node_told_to_join_itself_founds_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("http://127.0.0.1:{port}");
    let mut own = options(dir.path(), Some(format!("{uri}/")), consensus());
    own.uri = Some(uri.clone());
    own.listen = format!("127.0.0.1:{port}").parse().unwrap();
    let mut first = start(own).await;
    let status = status_until(&mut first.client, "a leader", |s| s.leader.is_some()).await;
    assert_eq!(voters(&status).len(), 1, "{status:?}");
    let second_dir = tempfile::tempdir().unwrap();
    let mut second = start(options(second_dir.path(), Some(uri), consensus())).await;
    status_until(&mut second.client, "two voters", |s| voters(s).len() == 2).await;
    second.node.stop().await;
    first.node.stop().await;
}
