//! The gRPC server's wiring: every Qdrant service and the standard health
//! service answer on one port, errors keep their codes, and large requests
//! get through. The gateway has no control plane here, so it sees no collections.

use qdrant_client::qdrant as q;
use qdrant_client::qdrant::collections_client::CollectionsClient;
use qdrant_client::qdrant::points_client::PointsClient;
use qdrant_client::qdrant::qdrant_client::QdrantClient;
use qdrant_client::qdrant::snapshots_client::SnapshotsClient;
use tessera_gateway::Gateway;
use tessera_runtime::metrics::RequestMetrics;
use tessera_runtime::topology_watch::TopologyCache;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

struct Server {
    channel: Channel,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tessera_types::TesseraError>>,
    watch: tokio::task::JoinHandle<()>,
}

async fn start() -> Server {
    // Nothing listens there: the topology stays empty.
    let (topology, watch) = TopologyCache::start(&["http://127.0.0.1:1".to_string()]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(tessera_gateway::grpc::serve(
        Gateway::new(topology, Default::default()),
        listener,
        None,
        Default::default(),
        RequestMetrics::new(&Default::default(), "grpc").unwrap(),
        async {
            let _ = stopped.await;
        },
    ));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server {
        channel,
        stop,
        task,
        watch,
    }
}

impl Server {
    async fn stop(self) {
        drop(self.channel);
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
        self.watch.abort();
    }
}

#[tokio::test]
async fn health_check_reports_the_compatible_qdrant_version() {
    let server = start().await;
    let reply = QdrantClient::new(server.channel.clone())
        .health_check(q::HealthCheckRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.title, "tessera");
    assert_eq!(reply.version, tessera_types::QDRANT_COMPATIBLE_VERSION);

    let mut health = HealthClient::new(server.channel.clone());
    for service in ["", "qdrant.Qdrant"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn collections_answer_from_the_topology() {
    let server = start().await;
    let mut collections = CollectionsClient::new(server.channel.clone());
    let list = collections
        .list(q::ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(list.collections.is_empty());
    assert!(list.time >= 0.0);

    let exists = collections
        .collection_exists(q::CollectionExistsRequest {
            collection_name: "missing".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exists.result, Some(q::CollectionExists { exists: false }));

    let err = collections
        .get(q::GetCollectionInfoRequest {
            collection_name: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    let aliases = collections
        .list_aliases(q::ListAliasesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(aliases.aliases.is_empty());
    let err = collections
        .list_collection_aliases(q::ListCollectionAliasesRequest {
            collection_name: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn points_map_errors_to_their_codes() {
    let server = start().await;
    let mut points = PointsClient::new(server.channel.clone());

    // Far beyond gRPC's default 4 MiB limit: the server must still read it.
    let vector = vec![0.5_f32; 2_000_000];
    let err = points
        .upsert(q::UpsertPoints {
            collection_name: "missing".into(),
            wait: Some(true),
            points: vec![q::PointStruct {
                id: Some(q::PointId {
                    point_id_options: Some(q::point_id::PointIdOptions::Num(1)),
                }),
                payload: Default::default(),
                vectors: Some(q::Vectors {
                    vectors_options: Some(q::vectors::VectorsOptions::Vector(q::Vector {
                        vector: Some(q::vector::Vector::Dense(q::DenseVector { data: vector })),
                        ..Default::default()
                    })),
                }),
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    let err = points
        .query(q::QueryPoints {
            collection_name: "missing".into(),
            // A lookup in another collection's shard key: still unimplemented.
            lookup_from: Some(q::LookupLocation {
                collection_name: "other".into(),
                shard_key_selector: Some(Default::default()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");

    let err = points
        .count(q::CountPoints {
            collection_name: "missing".into(),
            filter: Some(q::Filter {
                must: vec![q::Condition::default()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    // A field index needs a type: Tessera does not infer one.
    let err = points
        .create_field_index(q::CreateFieldIndexCollection {
            collection_name: "missing".into(),
            field_name: "city".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("field_type"), "{err:?}");

    let err = points
        .facet(q::FacetCounts {
            collection_name: "missing".into(),
            key: "city".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn snapshots_of_a_missing_collection_are_not_found() {
    let server = start().await;
    let mut snapshots = SnapshotsClient::new(server.channel.clone());
    let err = snapshots
        .create(q::CreateSnapshotRequest {
            collection_name: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = snapshots
        .list(q::ListSnapshotsRequest {
            collection_name: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    // No data node keeps a full snapshot yet.
    let listed = snapshots
        .list_full(q::ListFullSnapshotsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(listed.snapshot_descriptions.is_empty());
    server.stop().await;
}
