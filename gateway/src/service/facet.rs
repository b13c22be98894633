//! Facet counts (`POST /collections/{c}/facet`): each shard counts the values
//! of an indexed key among the matching points; the gateway adds them up and
//! keeps the most frequent.

use tessera_types::shard_client::FacetCount;

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct FacetRequest {
    pub key: String,
    pub filter: Option<Filter>,
    pub limit: usize,
}

impl Gateway {
    pub async fn facet(
        &self,
        collection: &str,
        request: FacetRequest,
        read: &ReadOptions,
    ) -> Result<Vec<FacetCount>> {
        self.strict_mode(collection, |strict| {
            strict.limit(request.limit)?;
            strict.filter(request.filter.as_ref(), false)?;
            Ok(super::strict_mode::cost::scroll(request.filter.as_ref()))
        })?;
        let (topology, collection) = self.collection(collection)?;
        let indexed = matches!(
            collection
                .payload_schema
                .get(&request.key)
                .map(|f| f.kind()),
            Some(
                PayloadSchemaType::Keyword
                    | PayloadSchemaType::Integer
                    | PayloadSchemaType::Uuid
                    | PayloadSchemaType::Bool
            )
        );
        if !indexed {
            return Err(TesseraError::bad_input(format!(
                "No appropriate index for faceting: `{}`. Please create one to facet on this field. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Match conditions",
                request.key
            )));
        }
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let replies = self
            .read_every_shard(&topology, &collection, read, |node, call| {
                let (key, filter) = (request.key.clone(), request.filter.clone());
                async move { node.facet(call, key, filter).await }
            })
            .await?;
        let mut totals: HashMap<String, FacetCount> = HashMap::new();
        for hit in replies.into_iter().flatten() {
            totals
                .entry(hit.value.to_string())
                .or_insert(FacetCount {
                    value: hit.value,
                    count: 0,
                })
                .count += hit.count;
        }
        let mut hits: Vec<FacetCount> = totals.into_values().collect();
        // Most frequent first; equal counts by value, so answers are stable.
        hits.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.value.to_string().cmp(&b.value.to_string()))
        });
        hits.truncate(request.limit);
        Ok(hits)
    }
}
