//! The `text` query (Qdrant 1.20): each shard ranks its points by BM25 over
//! the text index of the payload field named by `using`; the gateway checks
//! the index once and merges the shards' best points.

use tessera_types::text_query::{TextQuery, TextSearchRequest};

use super::query::Prefetch;
use super::*;

impl Gateway {
    pub(super) async fn text_search(
        &self,
        collection: &str,
        request: TextSearchRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        request.query.bm25.validate()?;
        let (topology, collection) = self.collection(collection)?;
        check_scored_index(&collection, &request.field)?;
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let replies = self
            .read_every_shard(&topology, &collection, read, |node, call| {
                let request = request.clone();
                async move { node.text_search(call, request).await }
            })
            .await?;
        let mut merged: Vec<ScoredPoint> = replies.into_iter().flatten().collect();
        merged.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        merged.truncate(request.limit);
        Ok(merged)
    }
}

/// A stage's text query, over the payload field its `using` names.
pub(super) fn text_search(
    query: TextQuery,
    stage: &Prefetch,
    filter: Option<Filter>,
) -> TextSearchRequest {
    TextSearchRequest {
        field: stage.using.clone(),
        query,
        filter,
        limit: stage.limit,
        score_threshold: stage.score_threshold,
        idf_corpus: stage.params.idf_corpus().cloned(),
    }
}

/// The field must have a text index with `scoring`: BM25 needs the index's
/// analyzer, and the scoring flag is the user's consent to rank by it.
fn check_scored_index(collection: &CollectionState, field: &str) -> Result<()> {
    if field.is_empty() {
        return Err(TesseraError::bad_request(
            "A text query ranks by a payload field's text index: name the field in `using`.",
        ));
    }
    let Some(params) = collection.payload_schema.get(field).and_then(|f| f.text()) else {
        return Err(TesseraError::bad_request(format!(
            "Index required but not found for \"{field}\" of one of the following types: [text]. Help: Create an index for this key."
        )));
    };
    if params.scoring.is_none() {
        return Err(TesseraError::bad_request(format!(
            "Text index of \"{field}\" has no scoring. Help: recreate the index with `scoring` set to rank by it."
        )));
    }
    Ok(())
}
