//! Server-side inference: Documents (`{"text", "model", "options"}`) in
//! writes and queries become vectors here, at the gateway, where requests
//! arrive, so data nodes store and search vectors only and never see text.
//! The one model is Qdrant's in-process `qdrant/bm25`; Qdrant sends any other
//! model to an external inference service, which Tessera does not have.

mod bm25;

use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_types::{SparseVector, TesseraError, Vector};

use self::bm25::Bm25;

type Result<T> = std::result::Result<T, TesseraError>;

/// Whether text is embedded as a stored document (writes) or as a query (every
/// read): BM25 weighs the two differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Document,
    Query,
}

/// A text for a model to embed, from REST or gRPC.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Document {
    pub text: String,
    pub model: String,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
}

impl Document {
    /// The sparse vector of this text. Model names match as Qdrant matches
    /// them, in any case.
    pub fn embed(self, purpose: Purpose) -> Result<SparseVector> {
        let model = self.model.to_lowercase();
        if model != "qdrant/bm25" && model != "bm25" {
            return Err(no_inference_service());
        }
        let bm25 = Bm25::new(self.options.unwrap_or_default())?;
        Ok(match purpose {
            Purpose::Document => bm25.embed_document(&self.text),
            Purpose::Query => bm25.embed_query(&self.text),
        })
    }
}

/// Qdrant's answer for a model, image or object it would send to an inference
/// service when none is configured (its default).
pub fn no_inference_service() -> TesseraError {
    TesseraError::internal(
        "InferenceService URL not configured - please provide valid address in config",
    )
}

/// Whether a REST JSON value is an inference input: a Document, Image or
/// InferenceObject, each of which names its `model`.
pub fn is_inference_input(value: &Value) -> bool {
    value.as_object().is_some_and(|m| m.contains_key("model"))
}

/// The vector of a REST inference input. Images and objects need an
/// inference service.
pub fn embed_json(value: Value, purpose: Purpose) -> Result<Vector> {
    if value.get("text").is_none() {
        return Err(no_inference_service());
    }
    let document: Document =
        serde_json::from_value(value).map_err(|e| TesseraError::malformed_body(format!("{e}")))?;
    document.embed(purpose).map(Vector::Sparse)
}

/// Where a Document stood as a point's whole, unnamed vector. BM25 gives a
/// sparse vector, and sparse vectors are always named: Qdrant refuses these.
#[derive(Debug, Clone, Copy)]
pub enum Unnamed {
    /// A point's `vector` in an upsert.
    Point,
    /// A point's `vector` in an update of vectors.
    PointVectors,
    /// The top-level `vectors` column of a batch upsert.
    Batch,
}

impl Unnamed {
    pub fn error(self) -> TesseraError {
        match self {
            Unnamed::Point => TesseraError::bad_request(
                "Sparse vector from document inference should be named",
            ),
            Unnamed::PointVectors => TesseraError::Inference(
                "Direct Document processing not supported for PointVectors. Use named vectors."
                    .into(),
            ),
            Unnamed::Batch => TesseraError::Inference(
                "Direct Document processing is not supported in top-level batch vectors. Use named vectors."
                    .into(),
            ),
        }
    }
}

/// Embeds, in place, the Documents of a REST write body (`points` of an
/// upsert or of an update of vectors, or an upsert's `batch`), so the body
/// then parses as plain vectors.
pub fn embed_write_body(body: &mut Value, unnamed: Unnamed) -> Result<()> {
    if let Some(points) = body.get_mut("points").and_then(Value::as_array_mut) {
        for vector in points.iter_mut().filter_map(|p| p.get_mut("vector")) {
            if is_inference_input(vector) {
                // Qdrant embeds before it looks at the shape: a bad model or
                // bad options are reported first.
                embed_json(vector.take(), Purpose::Document)?;
                return Err(unnamed.error());
            }
            if let Some(named) = vector.as_object_mut() {
                named.values_mut().try_for_each(embed_in_place)?;
            }
        }
    }
    match body.pointer_mut("/batch/vectors") {
        Some(Value::Array(column)) if column.iter().any(is_inference_input) => {
            Err(Unnamed::Batch.error())
        }
        Some(Value::Object(named)) => named
            .values_mut()
            .filter_map(Value::as_array_mut)
            .flatten()
            .try_for_each(embed_in_place),
        _ => Ok(()),
    }
}

fn embed_in_place(value: &mut Value) -> Result<()> {
    if is_inference_input(value) {
        let vector = embed_json(value.take(), Purpose::Document)?;
        *value = serde_json::to_value(vector).map_err(TesseraError::internal_from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn named_documents_in_write_bodies_become_sparse_vectors() {
        let doc = json!({"text": "Hello World", "model": "Qdrant/BM25", "options": null});
        let hello = SparseVector {
            indices: vec![74_040_069, 613_153_351],
            values: vec![1.683_203_8, 1.683_203_8],
        };
        let sparse = |v: &Value| serde_json::from_value::<SparseVector>(v.clone()).unwrap();
        let mut body = json!({"points": [{"id": 1, "vector": {"text": doc, "dense": [1.0]}}]});
        embed_write_body(&mut body, Unnamed::Point).unwrap();
        assert_eq!(sparse(&body["points"][0]["vector"]["text"]), hello);
        assert_eq!(body["points"][0]["vector"]["dense"], json!([1.0]));
        let mut batch = json!({"batch": {"ids": [1], "vectors": {"text": [doc]}}});
        embed_write_body(&mut batch, Unnamed::Point).unwrap();
        assert_eq!(sparse(&batch["batch"]["vectors"]["text"][0]), hello);
    }

    #[test]
    fn unnamed_documents_and_other_models_are_refused() {
        let doc = json!({"text": "Hello", "model": "bm25"});
        let refusal = |mut body: Value, unnamed| {
            embed_write_body(&mut body, unnamed)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refusal(
                json!({"points": [{"id": 1, "vector": doc}]}),
                Unnamed::Point
            ),
            "Bad request: Sparse vector from document inference should be named"
        );
        assert_eq!(
            refusal(
                json!({"points": [{"id": 1, "vector": doc}]}),
                Unnamed::PointVectors
            ),
            "Direct Document processing not supported for PointVectors. Use named vectors."
        );
        assert_eq!(
            refusal(json!({"batch": {"ids": [1], "vectors": [doc]}}), Unnamed::Point),
            "Direct Document processing is not supported in top-level batch vectors. Use named vectors."
        );
        let other = json!({"points": [{"id": 1, "vector": {"t": {"text": "a", "model": "bert"}}}]});
        assert_eq!(
            refusal(other, Unnamed::Point),
            "Service internal error: InferenceService URL not configured - please provide valid address in config"
        );
    }
}
