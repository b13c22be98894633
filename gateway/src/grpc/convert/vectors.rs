//! Point vectors: stored (Documents embedded as documents) and returned.

use super::*;

/// A Document as the inference module takes it.
pub(super) fn document_from_proto(document: q::Document) -> Result<inference::Document> {
    Ok(inference::Document {
        text: document.text,
        model: document.model,
        options: Some(payload_from_proto(document.options)?),
    })
}

/// A vector to store: a Document is embedded as a document, and may not stand
/// for the point's whole (unnamed) vector.
pub(super) fn stored_vector_from_proto(vector: q::Vector) -> Result<t::Vector> {
    use q::vector::Vector as V;
    match vector.vector {
        Some(V::Document(document)) => {
            let vector = document_from_proto(document)?.embed(Purpose::Document)?;
            Ok(t::Vector::Sparse(vector))
        }
        Some(V::Image(_) | V::Object(_)) => Err(inference::no_inference_service()),
        _ => vector_from_proto(vector),
    }
}

/// A vector from either encoding clients use: the `vector` oneof (current
/// clients) or the flat `data` (and `indices`, for sparse) fields (older ones).
/// Inference inputs are embedded only where Qdrant embeds them (writes and
/// the query API), not here.
#[allow(deprecated)]
pub(super) fn vector_from_proto(vector: q::Vector) -> Result<t::Vector> {
    use q::vector::Vector as V;
    match vector.vector {
        Some(V::Dense(dense)) => Ok(t::Vector::Dense(dense.data)),
        Some(V::Sparse(sparse)) => Ok(t::Vector::Sparse(t::SparseVector {
            indices: sparse.indices,
            values: sparse.values,
        })),
        Some(V::MultiDense(m)) => Ok(multi_from_proto(m)),
        Some(V::Document(_)) => Err(bad_input("Document can't be converted to VectorInternal")),
        Some(V::Image(_)) => Err(bad_input("Image can't be converted to VectorInternal")),
        Some(V::Object(_)) => Err(bad_input("Object can't be converted to VectorInternal")),
        None => match vector.indices {
            Some(indices) => Ok(t::Vector::Sparse(t::SparseVector {
                indices: indices.data,
                values: vector.data,
            })),
            None => match vector.vectors_count {
                Some(count) if count > 0 => {
                    let dim = (vector.data.len() / count as usize).max(1);
                    Ok(t::Vector::Multi(
                        vector.data.chunks(dim).map(<[f32]>::to_vec).collect(),
                    ))
                }
                _ => Ok(t::Vector::Dense(vector.data)),
            },
        },
    }
}

pub(super) fn multi_from_proto(m: q::MultiDenseVector) -> t::Vector {
    t::Vector::Multi(m.vectors.into_iter().map(|d| d.data).collect())
}

/// A point's vectors to store; `unnamed` says what a Document standing for
/// the whole is refused as.
pub fn vectors_from_proto(vectors: q::Vectors, unnamed: Unnamed) -> Result<t::VectorStruct> {
    match vectors.vectors_options {
        Some(q::vectors::VectorsOptions::Vector(v)) => {
            let document = matches!(v.vector, Some(q::vector::Vector::Document(_)));
            let vector = stored_vector_from_proto(v)?;
            if document {
                return Err(unnamed.error());
            }
            Ok(vector.into())
        }
        Some(q::vectors::VectorsOptions::Vectors(named)) => Ok(t::VectorStruct::Named(
            named
                .vectors
                .into_iter()
                .map(|(name, v)| Ok((name, stored_vector_from_proto(v)?)))
                .collect::<Result<_>>()?,
        )),
        None => Err(bad_input("No vector provided")),
    }
}

/// Fills the `vector` oneof, which qdrant-client reads first; the flat
/// `data` field has been deprecated since Qdrant 1.16.
pub(super) fn vector_to_proto(vector: t::Vector) -> q::VectorOutput {
    let vector = match vector {
        t::Vector::Dense(data) => q::vector_output::Vector::Dense(q::DenseVector { data }),
        t::Vector::Sparse(s) => q::vector_output::Vector::Sparse(q::SparseVector {
            values: s.values,
            indices: s.indices,
        }),
        t::Vector::Multi(vectors) => q::vector_output::Vector::MultiDense(q::MultiDenseVector {
            vectors: vectors
                .into_iter()
                .map(|data| q::DenseVector { data })
                .collect(),
        }),
    };
    q::VectorOutput {
        vector: Some(vector),
        ..Default::default()
    }
}

pub fn vectors_to_proto(vectors: t::VectorStruct) -> q::VectorsOutput {
    let options = match vectors {
        t::VectorStruct::Single(v) => {
            q::vectors_output::VectorsOptions::Vector(vector_to_proto(t::Vector::Dense(v)))
        }
        t::VectorStruct::Multi(v) => {
            q::vectors_output::VectorsOptions::Vector(vector_to_proto(t::Vector::Multi(v)))
        }
        t::VectorStruct::Named(named) => {
            q::vectors_output::VectorsOptions::Vectors(q::NamedVectorsOutput {
                vectors: named
                    .into_iter()
                    .map(|(name, v)| (name, vector_to_proto(v)))
                    .collect(),
            })
        }
    };
    q::VectorsOutput {
        vectors_options: Some(options),
    }
}

/// A point to upsert. A point without vectors is allowed, as in Qdrant, for
/// collections whose vectors are all named.
pub fn point_from_proto(point: q::PointStruct) -> Result<t::Point> {
    let vectors = match point.vectors {
        Some(v) => vectors_from_proto(v, Unnamed::Point)?.into_named(),
        None => t::NamedVectors::new(),
    };
    Ok(t::Point {
        id: required_point_id(point.id)?,
        vectors,
        payload: payload_from_proto(point.payload)?,
    })
}

pub fn point_vectors_from_proto(point: q::PointVectors) -> Result<(t::PointId, t::NamedVectors)> {
    let vectors = point
        .vectors
        .ok_or_else(|| bad_input("Vectors are missing"))?;
    Ok((
        required_point_id(point.id)?,
        vectors_from_proto(vectors, Unnamed::PointVectors)?.into_named(),
    ))
}
