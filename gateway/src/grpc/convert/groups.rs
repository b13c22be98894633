//! Grouped results: `SearchPointGroups` and `QueryPointGroups` in, groups out;
//! facet counts out.

use super::*;

use crate::service::{GroupsRequest, PointGroup, WithLookup};

fn with_lookup_from_proto(lookup: Option<q::WithLookup>) -> Result<Option<WithLookup>> {
    lookup
        .map(|l| {
            Ok(WithLookup {
                collection: l.collection,
                with_payload: match l.with_payload {
                    Some(selector) => with_payload_from_proto(Some(selector), true)?,
                    None => t::WithPayload::Enable(true),
                },
                with_vector: with_vector_from_proto(l.with_vectors),
            })
        })
        .transpose()
}

pub fn search_groups_from_proto(r: q::SearchPointGroups) -> Result<GroupsRequest> {
    let limit = r.limit as usize;
    Ok(GroupsRequest {
        query: QueryRequest {
            lookup_from: None,
            query: Some(Query::Nearest(super::search_vector(
                r.vector,
                r.sparse_indices,
            ))),
            prefetch: Vec::new(),
            using: r.vector_name.unwrap_or_default(),
            filter: optional_filter_from_proto(r.filter)?,
            limit,
            offset: 0,
            with_payload: with_payload_from_proto(r.with_payload, false)?,
            with_vector: with_vector_from_proto(r.with_vectors),
            score_threshold: r.score_threshold,
            params: search_params_from_proto(r.params)?,
        },
        group_by: r.group_by,
        group_size: r.group_size as usize,
        limit,
        with_lookup: with_lookup_from_proto(r.with_lookup)?,
    })
}

pub fn recommend_groups_from_proto(r: q::RecommendPointGroups) -> Result<GroupsRequest> {
    let with_lookup = with_lookup_from_proto(r.with_lookup.clone())?;
    let (group_by, group_size, limit) =
        (r.group_by.clone(), r.group_size as usize, r.limit as usize);
    let query = recommend_from_points(q::RecommendPoints {
        collection_name: r.collection_name,
        positive: r.positive,
        negative: r.negative,
        filter: r.filter,
        limit: r.limit as u64,
        with_payload: r.with_payload,
        params: r.params,
        score_threshold: r.score_threshold,
        using: r.using,
        with_vectors: r.with_vectors,
        lookup_from: r.lookup_from,
        strategy: r.strategy,
        positive_vectors: r.positive_vectors,
        negative_vectors: r.negative_vectors,
        ..Default::default()
    })?;
    Ok(GroupsRequest {
        query,
        group_by,
        group_size,
        limit,
        with_lookup,
    })
}

pub fn query_groups_from_proto(r: q::QueryPointGroups) -> Result<GroupsRequest> {
    let with_lookup = with_lookup_from_proto(r.with_lookup.clone())?;
    let (group_by, group_size) = (r.group_by.clone(), r.group_size.map_or(3, |s| s as usize));
    let query = query_from_proto(q::QueryPoints {
        collection_name: r.collection_name,
        prefetch: r.prefetch,
        query: r.query,
        using: r.using,
        filter: r.filter,
        params: r.params,
        score_threshold: r.score_threshold,
        limit: r.limit,
        with_payload: r.with_payload,
        with_vectors: r.with_vectors,
        lookup_from: r.lookup_from,
        ..Default::default()
    })?;
    Ok(GroupsRequest {
        limit: query.limit,
        query,
        group_by,
        group_size,
        with_lookup,
    })
}

pub fn groups_to_proto(groups: Vec<PointGroup>) -> q::GroupsResult {
    use q::group_id::Kind;
    q::GroupsResult {
        groups: groups
            .into_iter()
            .map(|g| q::PointGroup {
                id: Some(q::GroupId {
                    kind: Some(match &g.id {
                        Json::String(s) => Kind::StringValue(s.clone()),
                        v => match v.as_u64() {
                            Some(u) => Kind::UnsignedValue(u),
                            None => Kind::IntegerValue(v.as_i64().unwrap_or_default()),
                        },
                    }),
                }),
                hits: g.hits.into_iter().map(scored_point_to_proto).collect(),
                lookup: g.lookup.map(record_to_proto),
            })
            .collect(),
    }
}

/// A facet value as gRPC carries it: a string, an integer or a boolean.
pub fn facet_hit_to_proto(hit: tessera_types::shard_client::FacetCount) -> Option<q::FacetHit> {
    use q::facet_value::Variant;
    let variant = match hit.value {
        Json::String(s) => Variant::StringValue(s),
        Json::Bool(b) => Variant::BoolValue(b),
        v => Variant::IntegerValue(v.as_i64()?),
    };
    Some(q::FacetHit {
        value: Some(q::FacetValue {
            variant: Some(variant),
        }),
        count: hit.count,
    })
}
