//! Starts real control-plane nodes on ephemeral ports and drives them through
//! the generated gRPC client.

use std::path::Path;
use std::time::Duration;

use tessera_control_plane::{
    ConsensusOptions, ControlPlane, ControlPlaneError, ControlPlaneOptions,
};
use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tessera_types::{PeerId, Topology};
use tonic::transport::Channel;
use tonic::{Code, Streaming};

type Client = ControlPlaneClient<Channel>;

fn options(dir: &Path) -> ControlPlaneOptions {
    ControlPlaneOptions {
        uri: Some("http://127.0.0.1:0".into()),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        bootstrap: None,
        consensus: ConsensusOptions {
            tick_period_ms: 50,
            ..Default::default()
        },
        replicas: Default::default(),
        operations: None,
        metrics: Default::default(),
    }
}

async fn start(dir: &Path) -> (ControlPlane, Client) {
    let node = ControlPlane::start(options(dir))
        .await
        .expect("control plane starts");
    let client = ControlPlaneClient::connect(format!("http://{}", node.local_addr()))
        .await
        .expect("client connects");
    (node, client)
}

async fn register(
    client: &mut Client,
    uri: &str,
    peer_id: Option<PeerId>,
) -> cp::RegisterPeerReply {
    client
        .register_peer(cp::RegisterPeerRequest {
            uri: uri.into(),
            node_type: cp::NodeType::Normal as i32,
            peer_id,
            zone: String::new(),
        })
        .await
        .expect("peer registers")
        .into_inner()
}

async fn create(
    client: &mut Client,
    name: &str,
    body: &str,
) -> Result<cp::ChangeReply, tonic::Status> {
    client
        .create_collection(cp::CreateCollectionRequest {
            name: name.into(),
            request: create_body(body),
        })
        .await
        .map(|r| r.into_inner())
}

async fn watch(client: &mut Client) -> Streaming<cp::Topology> {
    client
        .watch_topology(cp::WatchTopologyRequest {})
        .await
        .expect("watch starts")
        .into_inner()
}

/// The next topology from `stream` whose version is at least `version`.
async fn topology_at(stream: &mut Streaming<cp::Topology>, version: u64) -> Topology {
    let wait = async {
        loop {
            let message = stream
                .message()
                .await
                .expect("stream ok")
                .expect("stream open");
            let topology = Topology::try_from(message).expect("valid topology");
            if topology.version >= version {
                return topology;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("topology arrives in time")
}

const SIX_SHARDS: &str =
    r#"{"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 6, "replication_factor": 2}"#;
const SMALL: &str = r#"{"vectors": {"size": 4, "distance": "Dot"}}"#;

#[tokio::test]
async fn topology_is_replicated_placed_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut client) = start(dir.path()).await;
    let mut stream = watch(&mut client).await;
    assert_eq!(topology_at(&mut stream, 0).await, Topology::default());

    let mut ids = Vec::new();
    for (i, uri) in ["http://a:6334", "http://b:6334", "http://c:6334"]
        .iter()
        .enumerate()
    {
        let reply = register(&mut client, uri, None).await;
        assert_ne!(reply.peer_id, 0);
        assert_eq!(reply.topology_version, i as u64 + 1);
        ids.push(reply.peer_id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "peer ids are distinct");

    let reply = create(&mut client, "docs", SIX_SHARDS).await.unwrap();
    assert_eq!(reply.topology_version, 4);
    assert!(reply.changed);

    let topology = topology_at(&mut stream, 4).await;
    let docs = &topology.collections["docs"];
    assert!(docs.incarnation > 0);
    assert_eq!(docs.config.params.shard_number, 6);
    assert_eq!(docs.shards.len(), 6);
    for (i, shard) in docs.shards.iter().enumerate() {
        assert_eq!(shard.shard_id, i as u32);
        let replicas: Vec<_> = shard.replicas.iter().map(|r| r.peer_id).collect();
        assert_eq!(replicas, vec![ids[i % 3], ids[(i + 1) % 3]], "shard {i}");
    }

    let err = create(&mut client, "docs", SMALL).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(err.message(), "Collection `docs` already exists!");
    let zero = r#"{"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 0}"#;
    assert_eq!(
        create(&mut client, "zero", zero).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let err = create(&mut client, "a/b", SMALL).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("must not contain"),
        "{}",
        err.message()
    );
    // 0xc1 is never used in MessagePack.
    let undecodable = cp::CreateCollectionRequest {
        name: "bytes".into(),
        request: vec![0xc1],
    };
    assert_eq!(
        client
            .create_collection(undecodable)
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        create(&mut client, "", SMALL).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    drop(stream);
    node.stop().await;

    let (node, mut client) = start(dir.path()).await;
    let restored = topology_at(&mut watch(&mut client).await, 0).await;
    assert_eq!(restored.version, 4);
    assert_eq!(restored.peers.keys().copied().collect::<Vec<_>>(), ids);
    assert_eq!(restored.collections, topology.collections);

    // A known id with the same uri is a node that restarted: the shards it
    // leads move to a new epoch (its log may have lost an unsynced tail); a
    // node that leads none changes nothing.
    let a = topology
        .peers
        .values()
        .find(|p| p.uri == "http://a:6334")
        .unwrap()
        .id;
    let leads_a_shard = topology
        .collections
        .values()
        .flat_map(|c| &c.shards)
        .any(|s| s.primary == a);
    let reply = register(&mut client, "http://a:6334", Some(a)).await;
    let version = if leads_a_shard { 5 } else { 4 };
    assert_eq!(reply.topology_version, version);
    // A known id with a new uri keeps the id and is a change.
    let reply = register(&mut client, "http://b2:6334", Some(ids[1])).await;
    assert_eq!(reply.peer_id, ids[1]);
    assert!(reply.topology_version > version);
    // An unknown id is taken as given.
    let reply = register(&mut client, "http://d:6334", Some(42)).await;
    assert_eq!(reply.peer_id, 42);

    let reply = create(&mut client, "second", SMALL).await.unwrap();
    let topology = topology_at(&mut watch(&mut client).await, reply.topology_version).await;
    assert_eq!(topology.peers[&ids[1]].uri, "http://b2:6334");
    assert!(
        topology.collections["second"].incarnation > topology.collections["docs"].incarnation,
        "incarnations come from the log index, which keeps growing across restarts"
    );
    node.stop().await;
}

#[tokio::test]
async fn collections_are_created_updated_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut client) = start(dir.path()).await;

    let err = create(&mut client, "c", SMALL).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.message(), "no data-plane nodes are registered");

    register(&mut client, "http://a:6334", None).await;
    create(&mut client, "c", SMALL).await.unwrap();

    let update = |name: &str, body: &str| cp::UpdateCollectionRequest {
        name: name.into(),
        request: tessera_proto::convert::to_msgpack(
            &serde_json::from_str::<tessera_types::UpdateCollection>(body).unwrap(),
        ),
    };
    let err = client
        .update_collection(update("missing", "{}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "Collection `missing` doesn't exist!");
    let reply = client
        .update_collection(update("c", r#"{"hnsw_config": {"m": 32}}"#))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.changed);
    let topology = topology_at(&mut watch(&mut client).await, reply.topology_version).await;
    assert_eq!(topology.collections["c"].config.hnsw_config.m, 32);

    let delete = || cp::DeleteCollectionRequest { name: "c".into() };
    let reply = client
        .delete_collection(delete())
        .await
        .unwrap()
        .into_inner();
    assert!(reply.changed);
    let again = client
        .delete_collection(delete())
        .await
        .unwrap()
        .into_inner();
    assert!(!again.changed);
    assert_eq!(again.topology_version, reply.topology_version);
    let topology = topology_at(&mut watch(&mut client).await, reply.topology_version).await;
    assert!(topology.collections.is_empty());
    node.stop().await;
}

#[tokio::test]
async fn heartbeats_show_in_watched_topologies() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut client) = start(dir.path()).await;
    let err = client
        .heartbeat(cp::HeartbeatRequest { peer_id: 7 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let peer_id = register(&mut client, "http://a:6334", None).await.peer_id;
    client
        .heartbeat(cp::HeartbeatRequest { peer_id })
        .await
        .unwrap();
    let topology = topology_at(&mut watch(&mut client).await, 1).await;
    assert!(topology.peers[&peer_id].last_heartbeat_ms > 0);
    node.stop().await;
}

async fn status(client: &mut Client) -> cp::ClusterStatusReply {
    client
        .cluster_status(cp::ClusterStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_single_node_leads_and_advertises_its_bound_address() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let (node, mut client) = start(dir.path()).await;
        // Proposals wait for the election, so one registration makes a leader.
        register(&mut client, "http://a:6334", None).await;
        let reply = status(&mut client).await;
        assert_eq!(reply.role, "Leader");
        assert_eq!(reply.leader, Some(reply.node_id));
        assert!(reply.is_voter);
        assert!(reply.term >= 1);
        assert!(reply.commit >= 2, "initial membership and the registration");
        // After a restart on a new port the node records its new uri in the
        // background, once it leads.
        let advertised = vec![cp::ControlPlaneMember {
            id: reply.node_id,
            uri: format!("http://{}", node.local_addr()),
            voter: true,
        }];
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let members = status(&mut client).await.members;
            if members == advertised {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{members:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node.stop().await;
    }
}

#[tokio::test]
async fn the_node_id_is_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut client) = start(dir.path()).await;
    let first = status(&mut client).await.node_id;
    node.stop().await;
    let (node, mut client) = start(dir.path()).await;
    assert_eq!(status(&mut client).await.node_id, first);
    assert_ne!(first, 0);
    node.stop().await;
}

#[tokio::test]
async fn a_node_without_a_uri_cannot_found_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path());
    options.uri = None;
    match ControlPlane::start(options).await {
        Err(ControlPlaneError::UriRequired) => {}
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a group needs its first member's uri"),
    }
    // The refused start released the data dir.
    let (node, _) = start(dir.path()).await;
    node.stop().await;
}

#[tokio::test]
async fn a_malformed_bootstrap_uri_fails_the_start_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path());
    options.bootstrap = Some("not a uri".into());
    match ControlPlane::start(options).await {
        Err(ControlPlaneError::Join { bootstrap, reason }) => {
            assert_eq!(bootstrap, "not a uri");
            assert!(reason.contains("invalid uri"), "{reason}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("joining must fail"),
    }
}

/// A `CreateCollection` body as the gateway sends it.
fn create_body(json: &str) -> Vec<u8> {
    let request: tessera_types::CreateCollection = serde_json::from_str(json).unwrap();
    tessera_proto::convert::to_msgpack(&request)
}
