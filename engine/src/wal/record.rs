//! The body of one WAL record, and its versions.
//!
//! The first byte says how the rest is written:
//! - `0x02` (written now): `seq: u64 LE | epoch: u64 LE | operation`, the operation in
//!   MessagePack with every vector as packed little-endian floats. A dense vector of 128
//!   dimensions takes 512 bytes instead of the ~1.3 KB of its decimal text, keeps its
//!   exact bits, and decodes without parsing numbers; the fixed-width header lets a
//!   reader skip records it does not need without decoding them.
//! - a printable byte (`[`): the JSON array `[seq, epoch, operation]` written before;
//!   still replayed.
//!
//! The operation is encoded through its own shapes here rather than through
//! `ShardOperation`'s serde (which is written for JSON), so a change to the domain
//! types cannot silently change what old logs decode to; operations without vectors
//! are carried as they are.

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use tessera_types::{
    Filter, NamedVectors, OpId, Payload, Point, PointId, ShardOperation, SparseVector, UpdateMode,
    Vector,
};

const PACKED: u8 = 0x02;
const PACKED_HEADER: usize = 1 + 8 + 8;

/// Why a record's body does not decode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

/// Encodes the record of `op`, the operation `id` in the shard's order.
pub fn encode(id: OpId, op: &ShardOperation) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    let mut body = Vec::with_capacity(PACKED_HEADER + 64);
    body.push(PACKED);
    body.extend_from_slice(&id.seq.to_le_bytes());
    body.extend_from_slice(&id.epoch.to_le_bytes());
    let mut encoder = rmp_serde::Serializer::new(&mut body)
        .with_struct_map()
        .with_human_readable();
    OperationRef::of(op).serialize(&mut encoder)?;
    Ok(body)
}

/// The operation's identity without decoding the operation.
pub fn peek_id(body: &[u8]) -> Result<OpId, DecodeError> {
    match body.first() {
        Some(&PACKED) if body.len() >= PACKED_HEADER => Ok(packed_id(body)),
        _ => decode(body).map(|(id, _)| id),
    }
}

pub fn decode(body: &[u8]) -> Result<(OpId, ShardOperation), DecodeError> {
    match body.first() {
        Some(&PACKED) if body.len() >= PACKED_HEADER => {
            let mut decoder = rmp_serde::Deserializer::from_read_ref(&body[PACKED_HEADER..])
                .with_human_readable();
            let op = OperationOwned::deserialize(&mut decoder)
                .map_err(|e| DecodeError(e.to_string()))?;
            Ok((packed_id(body), op.into_operation()))
        }
        Some(b) if b.is_ascii_graphic() => {
            let (seq, epoch, op): (u64, u64, ShardOperation) =
                serde_json::from_slice(body).map_err(|e| DecodeError(e.to_string()))?;
            Ok((OpId { epoch, seq }, op))
        }
        Some(b) => Err(DecodeError(format!(
            "unknown record format {b:#04x} or short record"
        ))),
        None => Err(DecodeError("empty record".into())),
    }
}

fn packed_id(body: &[u8]) -> OpId {
    let word = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    OpId {
        seq: word(1),
        epoch: word(9),
    }
}

/// What is written: borrows the operation's parts, vectors packed.
#[derive(Serialize)]
enum OperationRef<'a> {
    Upsert(PointsRef<'a>),
    ConditionalUpsert(PointsRef<'a>, UpdateMode, &'a Option<Filter>),
    UpdateVectors(VectorUpdatesRef<'a>),
    ConditionalUpdateVectors(VectorUpdatesRef<'a>, &'a Filter),
    Other(&'a ShardOperation),
}

impl<'a> OperationRef<'a> {
    fn of(op: &'a ShardOperation) -> Self {
        match op {
            ShardOperation::Upsert(points) => OperationRef::Upsert(PointsRef(points)),
            ShardOperation::ConditionalUpsert {
                points,
                mode,
                update_filter,
            } => OperationRef::ConditionalUpsert(PointsRef(points), *mode, update_filter),
            ShardOperation::UpdateVectors(points) => {
                OperationRef::UpdateVectors(VectorUpdatesRef(points))
            }
            ShardOperation::ConditionalUpdateVectors {
                points,
                update_filter,
            } => OperationRef::ConditionalUpdateVectors(VectorUpdatesRef(points), update_filter),
            other => OperationRef::Other(other),
        }
    }
}

/// What is read: the same variants, owned.
#[derive(Deserialize)]
enum OperationOwned {
    Upsert(Vec<PointOwned>),
    ConditionalUpsert(Vec<PointOwned>, UpdateMode, Option<Filter>),
    UpdateVectors(Vec<(PointId, VectorsOwned)>),
    ConditionalUpdateVectors(Vec<(PointId, VectorsOwned)>, Filter),
    Other(ShardOperation),
}

impl OperationOwned {
    fn into_operation(self) -> ShardOperation {
        let points = |points: Vec<PointOwned>| points.into_iter().map(Point::from).collect();
        let updates = |updates: Vec<(PointId, VectorsOwned)>| {
            updates.into_iter().map(|(id, v)| (id, v.0)).collect()
        };
        match self {
            OperationOwned::Upsert(p) => ShardOperation::Upsert(points(p)),
            OperationOwned::ConditionalUpsert(p, mode, update_filter) => {
                ShardOperation::ConditionalUpsert {
                    points: points(p),
                    mode,
                    update_filter,
                }
            }
            OperationOwned::UpdateVectors(u) => ShardOperation::UpdateVectors(updates(u)),
            OperationOwned::ConditionalUpdateVectors(u, update_filter) => {
                ShardOperation::ConditionalUpdateVectors {
                    points: updates(u),
                    update_filter,
                }
            }
            OperationOwned::Other(op) => op,
        }
    }
}

struct PointsRef<'a>(&'a [Point]);

impl Serialize for PointsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .iter()
                .map(|p| (&p.id, VectorsRef(&p.vectors), &p.payload)),
        )
    }
}

#[derive(Deserialize)]
struct PointOwned(PointId, VectorsOwned, Payload);

impl From<PointOwned> for Point {
    fn from(PointOwned(id, vectors, payload): PointOwned) -> Self {
        Point {
            id,
            vectors: vectors.0,
            payload,
        }
    }
}

struct VectorUpdatesRef<'a>(&'a [(PointId, NamedVectors)]);

impl Serialize for VectorUpdatesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(id, v)| (id, VectorsRef(v))))
    }
}

struct VectorsRef<'a>(&'a NamedVectors);

impl Serialize for VectorsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(name, v)| (name, PackedRef::of(v))))
    }
}

#[derive(Serialize)]
enum PackedRef<'a> {
    Dense(Floats<'a>),
    Multi(Vec<Floats<'a>>),
    Sparse(Unsigned<'a>, Floats<'a>),
}

impl<'a> PackedRef<'a> {
    fn of(vector: &'a Vector) -> Self {
        match vector {
            Vector::Dense(v) => PackedRef::Dense(Floats(v)),
            Vector::Multi(rows) => PackedRef::Multi(rows.iter().map(|r| Floats(r)).collect()),
            Vector::Sparse(s) => PackedRef::Sparse(Unsigned(&s.indices), Floats(&s.values)),
        }
    }
}

#[derive(Deserialize)]
enum PackedOwned {
    Dense(FloatsOwned),
    Multi(Vec<FloatsOwned>),
    Sparse(UnsignedOwned, FloatsOwned),
}

struct VectorsOwned(NamedVectors);

impl<'de> Deserialize<'de> for VectorsOwned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let packed = std::collections::BTreeMap::<String, PackedOwned>::deserialize(d)?;
        Ok(VectorsOwned(
            packed
                .into_iter()
                .map(|(name, v)| {
                    let vector = match v {
                        PackedOwned::Dense(f) => Vector::Dense(f.0),
                        PackedOwned::Multi(rows) => {
                            Vector::Multi(rows.into_iter().map(|r| r.0).collect())
                        }
                        PackedOwned::Sparse(indices, values) => Vector::Sparse(SparseVector {
                            indices: indices.0,
                            values: values.0,
                        }),
                    };
                    (name, vector)
                })
                .collect(),
        ))
    }
}

/// 32-bit words as one byte string, little-endian.
fn pack<T: Copy>(words: &[T], to_le: impl Fn(T) -> [u8; 4]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(words.len() * 4);
    for w in words {
        bytes.extend_from_slice(&to_le(*w));
    }
    bytes
}

struct Floats<'a>(&'a [f32]);

impl Serialize for Floats<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&pack(self.0, f32::to_le_bytes))
    }
}

struct Unsigned<'a>(&'a [u32]);

impl Serialize for Unsigned<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&pack(self.0, u32::to_le_bytes))
    }
}

struct FloatsOwned(Vec<f32>);
struct UnsignedOwned(Vec<u32>);

/// Reads a byte string of little-endian 32-bit words.
struct WordsVisitor<T>(fn([u8; 4]) -> T);

impl<T> Visitor<'_> for WordsVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a byte string of 32-bit words")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<T>, E> {
        if !bytes.len().is_multiple_of(4) {
            return Err(E::custom(format!(
                "{} bytes are not a whole number of 32-bit words",
                bytes.len()
            )));
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|c| (self.0)(c.try_into().expect("4 bytes")))
            .collect())
    }
}

impl<'de> Deserialize<'de> for FloatsOwned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_bytes(WordsVisitor(f32::from_le_bytes))
            .map(FloatsOwned)
    }
}

impl<'de> Deserialize<'de> for UnsignedOwned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_bytes(WordsVisitor(u32::from_le_bytes))
            .map(UnsignedOwned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::PointSelection;

    fn named(vector: Vector) -> NamedVectors {
        NamedVectors::from([(String::new(), vector)])
    }

    fn every_kind_of_operation() -> Vec<ShardOperation> {
        let uuid = PointId::parse_str("5c56c793-69f3-4fbf-87e6-c4bf54c28c26").unwrap();
        let payload: Payload = serde_json::from_str(
            r#"{"city":"Berlin","n":1.5,"big":18446744073709551615,"tags":["a",null]}"#,
        )
        .unwrap();
        let mut vectors = named(Vector::Dense(vec![0.1, -2.5e-8, f32::MAX, 3.0]));
        vectors.insert(
            "colbert".into(),
            Vector::Multi(vec![vec![1.0, 2.0], vec![0.333_333_34, -0.0]]),
        );
        vectors.insert(
            "text".into(),
            Vector::Sparse(SparseVector {
                indices: vec![7, 4_000_000_000],
                values: vec![0.5, 1e-30],
            }),
        );
        let point = |id| Point {
            id,
            vectors: vectors.clone(),
            payload: payload.clone(),
        };
        let filter: Filter =
            serde_json::from_str(r#"{"must":[{"key":"city","match":{"value":"Berlin"}}]}"#)
                .unwrap();
        vec![
            ShardOperation::Upsert(vec![point(PointId::Num(1)), point(uuid)]),
            ShardOperation::ConditionalUpsert {
                points: vec![point(PointId::Num(2))],
                mode: UpdateMode::InsertOnly,
                update_filter: Some(filter.clone()),
            },
            ShardOperation::UpdateVectors(vec![(uuid, vectors.clone())]),
            ShardOperation::ConditionalUpdateVectors {
                points: vec![(PointId::Num(3), named(Vector::Dense(vec![1.0])))],
                update_filter: filter,
            },
            ShardOperation::Delete(PointSelection::Ids(vec![PointId::Num(1), uuid])),
            ShardOperation::SetPayload {
                payload,
                selection: PointSelection::Ids(vec![uuid]),
                key: Some("a.b".into()),
            },
        ]
    }

    #[test]
    fn every_operation_reads_back_as_written_bit_for_bit() {
        for (n, op) in every_kind_of_operation().into_iter().enumerate() {
            let id = OpId {
                epoch: 7,
                seq: n as u64 + 1,
            };
            let body = encode(id, &op).unwrap();
            assert_eq!(peek_id(&body).unwrap(), id);
            assert_eq!(decode(&body).unwrap(), (id, op));
        }
    }

    #[test]
    fn records_written_as_json_still_read() {
        for op in every_kind_of_operation() {
            let body = serde_json::to_vec(&(9u64, 4u64, &op)).unwrap();
            let id = OpId { epoch: 4, seq: 9 };
            assert_eq!(peek_id(&body).unwrap(), id);
            assert_eq!(decode(&body).unwrap(), (id, op));
        }
    }

    #[test]
    fn a_dense_vector_costs_four_bytes_a_dimension() {
        let op = ShardOperation::Upsert(vec![Point {
            id: PointId::Num(1),
            vectors: named(Vector::Dense(vec![0.123_456_79; 128])),
            payload: Payload::new(),
        }]);
        let body = encode(OpId { epoch: 1, seq: 1 }, &op).unwrap();
        assert!(body.len() < 128 * 4 + 48, "{} bytes", body.len());
    }

    #[test]
    fn a_damaged_body_is_an_error_not_a_panic() {
        let body = encode(OpId { epoch: 1, seq: 1 }, &every_kind_of_operation()[0]).unwrap();
        for cut in 0..body.len() {
            let _ = decode(&body[..cut]);
        }
        assert!(decode(&[0x7f]).is_err());
        assert!(decode(&[0x03, 1, 2]).is_err());
    }
}
