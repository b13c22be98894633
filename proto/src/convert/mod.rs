//! Conversions between the internal protobuf messages and the domain types.
//! Every service converts here, at its gRPC edge, and nowhere else.

use std::collections::{BTreeMap, HashMap};

use tessera_types as t;
use tessera_types::TesseraError;

use crate::common;
use crate::control_plane as cp;
use crate::data_plane as dp;

mod reads;
mod shard_client;

pub use reads::{filter, selectors_from_proto, selectors_to_proto};
pub use shard_client::{applied, shard_target, snapshot_kind};

type Result<T> = std::result::Result<T, TesseraError>;

/// The one mapping from domain errors to gRPC status codes.
pub fn error_to_status(err: TesseraError) -> tonic::Status {
    use tonic::Code;
    let code = match &err {
        TesseraError::BadInput(_)
        | TesseraError::BadRequest(_)
        | TesseraError::MalformedBody(_)
        | TesseraError::Inference(_)
        | TesseraError::Validation(_)
        | TesseraError::QueryValidation(_)
        | TesseraError::PathValidation(_) => Code::InvalidArgument,
        TesseraError::NotFound(_) => Code::NotFound,
        TesseraError::AlreadyExists(_) => Code::AlreadyExists,
        TesseraError::Unavailable(_) | TesseraError::Unreachable(_) => Code::Unavailable,
        TesseraError::Timeout(_) => Code::DeadlineExceeded,
        TesseraError::RateLimited { .. } | TesseraError::InsufficientStorage(_) => {
            Code::ResourceExhausted
        }
        TesseraError::Unimplemented(_) => Code::Unimplemented,
        TesseraError::Internal { .. } => Code::Internal,
        TesseraError::Stale(_) => Code::FailedPrecondition,
    };
    // The message carries the variant's text without its prefix, so a
    // round trip through status_to_error does not repeat the prefix.
    let mut status = tonic::Status::new(code, error_message(&err));
    // Qdrant sends a rate limit's wait as `retry-after` metadata, as over REST.
    if let TesseraError::RateLimited {
        retry_after: Some(seconds),
        ..
    } = err
    {
        status
            .metadata_mut()
            .insert(RETRY_AFTER, seconds.to_string().parse().expect("digits"));
    }
    status
}

const RETRY_AFTER: &str = "retry-after";

fn error_message(err: &TesseraError) -> String {
    match err {
        // Kept whole: the prefix tells these from other bad input.
        TesseraError::Validation(_)
        | TesseraError::BadRequest(_)
        | TesseraError::MalformedBody(_)
        | TesseraError::InsufficientStorage(_)
        | TesseraError::QueryValidation(_)
        | TesseraError::PathValidation(_) => err.to_string(),
        TesseraError::BadInput(m)
        | TesseraError::Inference(m)
        | TesseraError::NotFound(m)
        | TesseraError::AlreadyExists(m)
        | TesseraError::Unavailable(m)
        | TesseraError::Unreachable(m)
        | TesseraError::Timeout(m)
        | TesseraError::RateLimited { description: m, .. }
        | TesseraError::Unimplemented(m)
        | TesseraError::Stale(m) => m.clone(),
        TesseraError::Internal { message, .. } => message.clone(),
    }
}

const VALIDATION: &str = "Validation error in JSON body: ";
const BAD_REQUEST: &str = "Bad request: ";
const INSUFFICIENT_STORAGE: &str = "Insufficient storage: ";

/// The inverse of [`error_to_status`], for replies from other Tessera services.
pub fn status_to_error(status: tonic::Status) -> TesseraError {
    use tonic::Code;
    let msg = status.message().to_string();
    // The other service was not reached, or went away mid-call (killed,
    // paused past the keepalive): another replica may answer; never a 500.
    if crate::status::is_transport_failure(&status) {
        return TesseraError::Unreachable(format!("a peer could not be reached: {msg}"));
    }
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => {
            if let Some(rest) = msg.strip_prefix(VALIDATION) {
                TesseraError::Validation(rest.to_string())
            } else if let Some(rest) = msg.strip_prefix(BAD_REQUEST) {
                TesseraError::BadRequest(rest.to_string())
            } else {
                TesseraError::BadInput(msg)
            }
        }
        Code::FailedPrecondition => TesseraError::Stale(msg),
        Code::NotFound => TesseraError::NotFound(msg),
        Code::AlreadyExists => TesseraError::AlreadyExists(msg),
        Code::Unavailable | Code::Cancelled | Code::Aborted => TesseraError::Unavailable(msg),
        // The prefix tells a full node from a rate limit, which share the code.
        Code::ResourceExhausted => match msg.strip_prefix(INSUFFICIENT_STORAGE) {
            Some(rest) => TesseraError::InsufficientStorage(rest.to_string()),
            None => TesseraError::RateLimited {
                retry_after: status
                    .metadata()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.parse().ok()),
                description: msg,
            },
        },
        Code::DeadlineExceeded => TesseraError::Timeout(msg),
        Code::Unimplemented => TesseraError::Unimplemented(msg),
        _ => TesseraError::internal(msg),
    }
}

/// A domain value in a bytes field: MessagePack with field names, in
/// serde's human-readable mode, since the domain types' serde is written for
/// JSON's shapes (a UUID is a string, not 16 bytes).
pub fn to_msgpack<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = rmp_serde::Serializer::new(&mut bytes)
        .with_struct_map()
        .with_human_readable();
    value
        .serialize(&mut encoder)
        .expect("domain types serialize to MessagePack");
    bytes
}

/// The inverse of [`to_msgpack`]; `what` names the field in the error.
pub fn from_msgpack<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    let mut decoder = rmp_serde::Deserializer::from_read_ref(bytes).with_human_readable();
    T::deserialize(&mut decoder).map_err(|e| TesseraError::bad_input(format!("{what}: {e}")))
}

fn missing(what: &str) -> TesseraError {
    TesseraError::bad_input(format!("{what} is missing"))
}

impl From<t::PointId> for common::PointId {
    fn from(id: t::PointId) -> Self {
        let kind = match id {
            t::PointId::Num(n) => common::point_id::Kind::Num(n),
            t::PointId::Uuid(u) => common::point_id::Kind::Uuid(u.to_string()),
        };
        common::PointId { kind: Some(kind) }
    }
}

impl TryFrom<common::PointId> for t::PointId {
    type Error = TesseraError;
    fn try_from(id: common::PointId) -> Result<Self> {
        match id.kind {
            Some(common::point_id::Kind::Num(n)) => Ok(t::PointId::Num(n)),
            Some(common::point_id::Kind::Uuid(s)) => t::PointId::parse_str(&s),
            None => Err(missing("point id")),
        }
    }
}

pub fn point_id(id: Option<common::PointId>) -> Result<t::PointId> {
    id.ok_or_else(|| missing("point id"))?.try_into()
}

pub fn point_ids(ids: Vec<common::PointId>) -> Result<Vec<t::PointId>> {
    ids.into_iter().map(TryInto::try_into).collect()
}

impl From<t::Vector> for common::Vector {
    fn from(v: t::Vector) -> Self {
        use common::vector::Kind;
        match v {
            t::Vector::Dense(values) => common::Vector {
                values,
                ..Default::default()
            },
            t::Vector::Sparse(s) => common::Vector {
                values: s.values,
                indices: s.indices,
                kind: Kind::Sparse as i32,
                vectors_count: 0,
            },
            t::Vector::Multi(vectors) => common::Vector {
                vectors_count: vectors.len() as u32,
                values: vectors.into_iter().flatten().collect(),
                indices: Vec::new(),
                kind: Kind::Multi as i32,
            },
        }
    }
}

impl From<common::Vector> for t::Vector {
    fn from(v: common::Vector) -> Self {
        use common::vector::Kind;
        match Kind::try_from(v.kind).unwrap_or(Kind::Dense) {
            Kind::Dense => t::Vector::Dense(v.values),
            Kind::Sparse => t::Vector::Sparse(t::SparseVector {
                indices: v.indices,
                values: v.values,
            }),
            Kind::Multi => {
                let dim = v.values.len() / (v.vectors_count.max(1) as usize);
                t::Vector::Multi(v.values.chunks(dim.max(1)).map(<[f32]>::to_vec).collect())
            }
        }
    }
}

pub fn vectors_to_proto(vectors: t::NamedVectors) -> HashMap<String, common::Vector> {
    vectors.into_iter().map(|(k, v)| (k, v.into())).collect()
}

pub fn vectors_from_proto(vectors: HashMap<String, common::Vector>) -> t::NamedVectors {
    vectors.into_iter().map(|(k, v)| (k, v.into())).collect()
}

impl From<t::Point> for dp::Point {
    fn from(p: t::Point) -> Self {
        dp::Point {
            id: Some(p.id.into()),
            vectors: vectors_to_proto(p.vectors),
            payload: Some(json_to_proto(&p.payload)),
        }
    }
}

impl TryFrom<dp::Point> for t::Point {
    type Error = TesseraError;
    fn try_from(p: dp::Point) -> Result<Self> {
        Ok(t::Point {
            id: point_id(p.id)?,
            vectors: vectors_from_proto(p.vectors),
            payload: payload_from_proto(p.payload)?,
        })
    }
}

/// A JSON value (a payload, or one value of it) in MessagePack.
pub fn json_to_proto<T: serde::Serialize>(value: &T) -> common::JsonValue {
    common::JsonValue {
        encoding: Some(common::json_value::Encoding::Msgpack(
            rmp_serde::to_vec(value).expect("JSON values serialize to MessagePack"),
        )),
    }
}

pub fn json_from_proto<T: serde::de::DeserializeOwned>(
    value: common::JsonValue,
    what: &str,
) -> Result<T> {
    match value.encoding {
        Some(common::json_value::Encoding::Msgpack(bytes)) => rmp_serde::from_slice(&bytes)
            .map_err(|e| TesseraError::bad_input(format!("{what}: {e}"))),
        None => Err(missing(&format!("{what} encoding"))),
    }
}

/// A written point's or payload operation's payload, which every sender
/// sets (an empty object for none): a message without one comes from a
/// sender that speaks another version, and is refused rather than read as
/// "no payload".
fn payload_from_proto(payload: Option<common::JsonValue>) -> Result<t::Payload> {
    json_from_proto(payload.ok_or_else(|| missing("payload"))?, "payload")
}

impl From<t::PointSelection> for dp::PointSelection {
    fn from(s: t::PointSelection) -> Self {
        let kind = match s {
            t::PointSelection::Ids(ids) => dp::point_selection::Kind::Ids(dp::PointIdList {
                ids: ids.into_iter().map(Into::into).collect(),
            }),
            t::PointSelection::Filter(f) => dp::point_selection::Kind::Filter((&f).into()),
        };
        dp::PointSelection { kind: Some(kind) }
    }
}

fn selection(s: Option<dp::PointSelection>) -> Result<t::PointSelection> {
    match s.and_then(|s| s.kind) {
        Some(dp::point_selection::Kind::Ids(list)) => {
            Ok(t::PointSelection::Ids(point_ids(list.ids)?))
        }
        Some(dp::point_selection::Kind::Filter(f)) => Ok(t::PointSelection::Filter(f.try_into()?)),
        None => Err(missing("point selection")),
    }
}

impl From<t::ShardOperation> for dp::Operation {
    fn from(op: t::ShardOperation) -> Self {
        dp::Operation {
            kind: Some(op.into()),
        }
    }
}

/// The operation of an update or a replicated op; a missing one is bad input.
pub fn operation(op: Option<dp::Operation>) -> Result<t::ShardOperation> {
    op.and_then(|op| op.kind)
        .ok_or_else(|| missing("operation"))?
        .try_into()
}

fn update_vectors_to_proto(
    points: Vec<(t::PointId, t::NamedVectors)>,
    update_filter: Option<&t::Filter>,
) -> dp::UpdateVectors {
    dp::UpdateVectors {
        points: points
            .into_iter()
            .map(|(id, vectors)| dp::PointVectors {
                id: Some(id.into()),
                vectors: vectors_to_proto(vectors),
            })
            .collect(),
        update_filter: update_filter.map(Into::into),
    }
}

impl From<t::ShardOperation> for dp::operation::Kind {
    fn from(op: t::ShardOperation) -> Self {
        use dp::operation::Kind as O;
        match op {
            t::ShardOperation::Upsert(points) => O::Upsert(dp::Upsert {
                points: points.into_iter().map(Into::into).collect(),
            }),
            t::ShardOperation::ConditionalUpsert {
                points,
                mode,
                update_filter,
            } => O::ConditionalUpsert(dp::ConditionalUpsert {
                points: points.into_iter().map(Into::into).collect(),
                mode: mode.as_str().to_string(),
                update_filter: update_filter.as_ref().map(Into::into),
            }),
            t::ShardOperation::Delete(s) => O::Delete(dp::Delete {
                selection: Some(s.into()),
            }),
            t::ShardOperation::SetPayload {
                payload,
                selection,
                key,
            } => O::SetPayload(dp::SetPayload {
                payload: Some(json_to_proto(&payload)),
                selection: Some(selection.into()),
                key,
            }),
            t::ShardOperation::OverwritePayload { payload, selection } => {
                O::OverwritePayload(dp::OverwritePayload {
                    payload: Some(json_to_proto(&payload)),
                    selection: Some(selection.into()),
                })
            }
            t::ShardOperation::DeletePayload { keys, selection } => {
                O::DeletePayload(dp::DeletePayload {
                    keys,
                    selection: Some(selection.into()),
                })
            }
            t::ShardOperation::ClearPayload(s) => O::ClearPayload(dp::ClearPayload {
                selection: Some(s.into()),
            }),
            t::ShardOperation::UpdateVectors(points) => {
                O::UpdateVectors(update_vectors_to_proto(points, None))
            }
            t::ShardOperation::ConditionalUpdateVectors {
                points,
                update_filter,
            } => O::UpdateVectors(update_vectors_to_proto(points, Some(&update_filter))),
            t::ShardOperation::DeleteVectors { names, selection } => {
                O::DeleteVectors(dp::DeleteVectors {
                    names,
                    selection: Some(selection.into()),
                })
            }
        }
    }
}

impl TryFrom<dp::operation::Kind> for t::ShardOperation {
    type Error = TesseraError;
    fn try_from(op: dp::operation::Kind) -> Result<Self> {
        use dp::operation::Kind as O;
        Ok(match op {
            O::Upsert(u) => t::ShardOperation::Upsert(
                u.points
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<_>>()?,
            ),
            O::ConditionalUpsert(u) => t::ShardOperation::ConditionalUpsert {
                points: u
                    .points
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<_>>()?,
                mode: t::UpdateMode::parse(&u.mode)?,
                update_filter: filter(u.update_filter)?,
            },
            O::Delete(d) => t::ShardOperation::Delete(selection(d.selection)?),
            O::SetPayload(s) => t::ShardOperation::SetPayload {
                payload: payload_from_proto(s.payload)?,
                selection: selection(s.selection)?,
                key: s.key,
            },
            O::OverwritePayload(s) => t::ShardOperation::OverwritePayload {
                payload: payload_from_proto(s.payload)?,
                selection: selection(s.selection)?,
            },
            O::DeletePayload(d) => t::ShardOperation::DeletePayload {
                keys: d.keys,
                selection: selection(d.selection)?,
            },
            O::ClearPayload(c) => t::ShardOperation::ClearPayload(selection(c.selection)?),
            O::UpdateVectors(u) => t::ShardOperation::update_vectors(
                u.points
                    .into_iter()
                    .map(|p| Ok((point_id(p.id)?, vectors_from_proto(p.vectors))))
                    .collect::<Result<_>>()?,
                filter(u.update_filter)?,
            ),
            O::DeleteVectors(d) => t::ShardOperation::DeleteVectors {
                names: d.names,
                selection: selection(d.selection)?,
            },
        })
    }
}

impl From<t::Record> for dp::Record {
    fn from(r: t::Record) -> Self {
        let has_vectors = r.vector.is_some();
        dp::Record {
            id: Some(r.id.into()),
            payload: r.payload.as_ref().map(json_to_proto),
            vectors: r
                .vector
                .map(|v| vectors_to_proto(v.into_named()))
                .unwrap_or_default(),
            has_vectors,
            order_value: r.order_value.as_ref().and_then(serde_json::Value::as_f64),
        }
    }
}

impl TryFrom<dp::Record> for t::Record {
    type Error = TesseraError;
    fn try_from(r: dp::Record) -> Result<Self> {
        Ok(t::Record {
            id: point_id(r.id)?,
            payload: r
                .payload
                .map(|p| json_from_proto(p, "payload"))
                .transpose()?,
            vector: r
                .has_vectors
                .then(|| t::VectorStruct::from_named(vectors_from_proto(r.vectors))),
            shard_key: None,
            order_value: r.order_value.map(serde_json::Value::from),
        })
    }
}

impl From<t::ScoredPoint> for dp::ScoredPoint {
    fn from(p: t::ScoredPoint) -> Self {
        let has_vectors = p.vector.is_some();
        dp::ScoredPoint {
            id: Some(p.id.into()),
            score: p.score,
            version: p.version,
            payload: p.payload.as_ref().map(json_to_proto),
            vectors: p
                .vector
                .map(|v| vectors_to_proto(v.into_named()))
                .unwrap_or_default(),
            has_vectors,
        }
    }
}

impl TryFrom<dp::ScoredPoint> for t::ScoredPoint {
    type Error = TesseraError;
    fn try_from(p: dp::ScoredPoint) -> Result<Self> {
        Ok(t::ScoredPoint {
            id: point_id(p.id)?,
            version: p.version,
            score: p.score,
            payload: p
                .payload
                .map(|b| json_from_proto(b, "payload"))
                .transpose()?,
            vector: p
                .has_vectors
                .then(|| t::VectorStruct::from_named(vectors_from_proto(p.vectors))),
            shard_key: None,
            order_value: None,
        })
    }
}

impl From<t::NodeType> for cp::NodeType {
    fn from(n: t::NodeType) -> Self {
        match n {
            t::NodeType::Normal => cp::NodeType::Normal,
            t::NodeType::Listener => cp::NodeType::Listener,
        }
    }
}

impl From<cp::NodeType> for t::NodeType {
    fn from(n: cp::NodeType) -> Self {
        match n {
            cp::NodeType::Normal => t::NodeType::Normal,
            cp::NodeType::Listener => t::NodeType::Listener,
        }
    }
}

impl From<t::ReplicaState> for cp::ReplicaState {
    fn from(s: t::ReplicaState) -> Self {
        match s {
            t::ReplicaState::Active => cp::ReplicaState::Active,
            t::ReplicaState::Dead => cp::ReplicaState::Dead,
            t::ReplicaState::Partial => cp::ReplicaState::Partial,
            t::ReplicaState::Initializing => cp::ReplicaState::Initializing,
            t::ReplicaState::Listener => cp::ReplicaState::Listener,
            t::ReplicaState::Recovery => cp::ReplicaState::Recovery,
            t::ReplicaState::ManualRecovery => cp::ReplicaState::ManualRecovery,
        }
    }
}

impl From<cp::ReplicaState> for t::ReplicaState {
    fn from(s: cp::ReplicaState) -> Self {
        match s {
            cp::ReplicaState::Active => t::ReplicaState::Active,
            cp::ReplicaState::Dead => t::ReplicaState::Dead,
            cp::ReplicaState::Partial => t::ReplicaState::Partial,
            cp::ReplicaState::Initializing => t::ReplicaState::Initializing,
            cp::ReplicaState::Listener => t::ReplicaState::Listener,
            cp::ReplicaState::Recovery => t::ReplicaState::Recovery,
            cp::ReplicaState::ManualRecovery => t::ReplicaState::ManualRecovery,
        }
    }
}

impl From<&t::Topology> for cp::Topology {
    fn from(topo: &t::Topology) -> Self {
        cp::Topology {
            version: topo.version,
            peers: topo
                .peers
                .values()
                .map(|p| cp::Peer {
                    id: p.id,
                    uri: p.uri.clone(),
                    node_type: cp::NodeType::from(p.node_type) as i32,
                    last_heartbeat_ms: p.last_heartbeat_ms,
                    zone: p.zone.clone().unwrap_or_default(),
                })
                .collect(),
            collections: topo
                .collections
                .values()
                .map(|c| cp::Collection {
                    name: c.name.clone(),
                    incarnation: c.incarnation,
                    config: to_msgpack(&c.config),
                    payload_schema: to_msgpack(&c.payload_schema),
                    transfers: to_msgpack(&c.transfers),
                    routing: match c.routing {
                        t::ShardRouting::Modulo => cp::ShardRouting::Modulo,
                        t::ShardRouting::Ring => cp::ShardRouting::Ring,
                    } as i32,
                    shards: c
                        .shards
                        .iter()
                        .map(|s| cp::ShardPlacement {
                            shard_id: s.shard_id,
                            shard_key: s.shard_key.as_ref().map(to_msgpack).unwrap_or_default(),
                            replicas: s
                                .replicas
                                .iter()
                                .map(|r| cp::Replica {
                                    peer_id: r.peer_id,
                                    state: cp::ReplicaState::from(r.state) as i32,
                                })
                                .collect(),
                            primary: s.primary,
                            epoch: s.epoch,
                            replication_factor: s.replication_factor.unwrap_or(0),
                        })
                        .collect(),
                })
                .collect(),
            aliases: topo
                .aliases
                .iter()
                .map(|(a, c)| (a.clone(), c.clone()))
                .collect(),
            quota: to_msgpack(&topo.quota),
        }
    }
}

impl TryFrom<cp::Topology> for t::Topology {
    type Error = TesseraError;
    fn try_from(topo: cp::Topology) -> Result<Self> {
        let peers = topo
            .peers
            .into_iter()
            .map(|p| {
                let node_type = p.node_type().into();
                (
                    p.id,
                    t::Peer {
                        id: p.id,
                        uri: p.uri,
                        node_type,
                        last_heartbeat_ms: p.last_heartbeat_ms,
                        zone: (!p.zone.is_empty()).then_some(p.zone),
                    },
                )
            })
            .collect();
        let mut collections = BTreeMap::new();
        for c in topo.collections {
            let routing = match c.routing() {
                cp::ShardRouting::Modulo => t::ShardRouting::Modulo,
                cp::ShardRouting::Ring => t::ShardRouting::Ring,
            };
            let shards = c
                .shards
                .into_iter()
                .map(|s| {
                    Ok(t::ShardPlacement {
                        shard_id: s.shard_id,
                        shard_key: if s.shard_key.is_empty() {
                            None
                        } else {
                            Some(from_msgpack(&s.shard_key, "shard key")?)
                        },
                        replicas: s
                            .replicas
                            .into_iter()
                            .map(|r| t::Replica {
                                peer_id: r.peer_id,
                                state: r.state().into(),
                            })
                            .collect(),
                        primary: s.primary,
                        epoch: s.epoch,
                        replication_factor: (s.replication_factor > 0)
                            .then_some(s.replication_factor),
                    })
                })
                .collect::<Result<_>>()?;
            collections.insert(
                c.name.clone(),
                t::CollectionState {
                    config: from_msgpack(&c.config, "collection config")?,
                    payload_schema: if c.payload_schema.is_empty() {
                        Default::default()
                    } else {
                        from_msgpack(&c.payload_schema, "payload schema")?
                    },
                    routing,
                    transfers: if c.transfers.is_empty() {
                        Vec::new()
                    } else {
                        from_msgpack(&c.transfers, "shard transfers")?
                    },
                    name: c.name,
                    incarnation: c.incarnation,
                    shards,
                },
            );
        }
        Ok(t::Topology {
            version: topo.version,
            peers,
            collections,
            aliases: topo.aliases.into_iter().collect(),
            quota: if topo.quota.is_empty() {
                Default::default()
            } else {
                from_msgpack(&topo.quota, "quota config")?
            },
            // The control plane's own record; not streamed.
            removed_peers: Default::default(),
        })
    }
}

impl From<t::quota::NodeQuotaUsage> for dp::NodeQuotaReply {
    fn from(usage: t::quota::NodeQuotaUsage) -> Self {
        dp::NodeQuotaReply {
            resident_memory_percent: usage.resident_memory_percent.map(u32::from),
            disk_usage_percent: usage.disk_usage_percent.map(u32::from),
            resident_memory_exceeded: usage.resident_memory_exceeded,
            disk_usage_exceeded: usage.disk_usage_exceeded,
        }
    }
}

impl From<dp::NodeQuotaReply> for t::quota::NodeQuotaUsage {
    fn from(reply: dp::NodeQuotaReply) -> Self {
        let percent = |p: Option<u32>| p.map(|p| p.min(100) as u8);
        t::quota::NodeQuotaUsage {
            resident_memory_percent: percent(reply.resident_memory_percent),
            disk_usage_percent: percent(reply.disk_usage_percent),
            resident_memory_exceeded: reply.resident_memory_exceeded,
            disk_usage_exceeded: reply.disk_usage_exceeded,
        }
    }
}

impl From<(t::OpId, t::ShardOperation)> for dp::ReplicatedOp {
    fn from((id, op): (t::OpId, t::ShardOperation)) -> Self {
        dp::ReplicatedOp {
            epoch: id.epoch,
            seq: id.seq,
            operation: Some(op.into()),
        }
    }
}

/// Replicated operations with their identities; a missing operation is bad input.
pub fn replicated_ops(ops: Vec<dp::ReplicatedOp>) -> Result<Vec<(t::OpId, t::ShardOperation)>> {
    ops.into_iter()
        .map(|op| {
            let id = t::OpId {
                epoch: op.epoch,
                seq: op.seq,
            };
            Ok((id, operation(op.operation)?))
        })
        .collect()
}
