//! The read requests' parts in their binary form: filters, the payload and
//! vector selectors, and searches (vector as packed floats, parameters as
//! protobuf fields).

use tessera_types as t;
use tessera_types::TesseraError;

use super::{from_msgpack, missing, to_msgpack, Result};
use crate::common;
use crate::data_plane as dp;

impl From<&t::Filter> for common::Filter {
    fn from(filter: &t::Filter) -> Self {
        common::Filter {
            encoding: Some(common::filter::Encoding::Msgpack(to_msgpack(filter))),
        }
    }
}

impl TryFrom<common::Filter> for t::Filter {
    type Error = TesseraError;
    fn try_from(filter: common::Filter) -> Result<Self> {
        match filter.encoding {
            Some(common::filter::Encoding::Msgpack(bytes)) => from_msgpack(&bytes, "filter"),
            None => Err(missing("filter encoding")),
        }
    }
}

/// An optional filter field of a message.
pub fn filter(f: Option<common::Filter>) -> Result<Option<t::Filter>> {
    f.map(TryInto::try_into).transpose()
}

fn names(names: &[String]) -> dp::Names {
    dp::Names {
        names: names.to_vec(),
    }
}

pub fn selectors_to_proto(
    with_payload: &t::WithPayload,
    with_vector: &t::WithVector,
) -> dp::Selectors {
    use dp::selectors::{WithPayload as P, WithVector as V};
    let with_payload = match with_payload {
        t::WithPayload::Enable(all) => P::AllPayload(*all),
        t::WithPayload::Include(keys)
        | t::WithPayload::Selector(t::PayloadSelector::Include { include: keys }) => {
            P::PayloadInclude(names(keys))
        }
        t::WithPayload::Selector(t::PayloadSelector::Exclude { exclude }) => {
            P::PayloadExclude(names(exclude))
        }
    };
    let with_vector = match with_vector {
        t::WithVector::Enable(all) => V::AllVectors(*all),
        t::WithVector::Include(names_) => V::VectorInclude(names(names_)),
    };
    dp::Selectors {
        with_payload: Some(with_payload),
        with_vector: Some(with_vector),
    }
}

pub fn selectors_from_proto(s: Option<dp::Selectors>) -> (t::WithPayload, t::WithVector) {
    use dp::selectors::{WithPayload as P, WithVector as V};
    let s = s.unwrap_or_default();
    let with_payload = match s.with_payload {
        None => t::WithPayload::Enable(false),
        Some(P::AllPayload(all)) => t::WithPayload::Enable(all),
        Some(P::PayloadInclude(keys)) => t::WithPayload::Include(keys.names),
        Some(P::PayloadExclude(keys)) => t::WithPayload::Selector(t::PayloadSelector::Exclude {
            exclude: keys.names,
        }),
    };
    let with_vector = match s.with_vector {
        None => t::WithVector::Enable(false),
        Some(V::AllVectors(all)) => t::WithVector::Enable(all),
        Some(V::VectorInclude(names)) => t::WithVector::Include(names.names),
    };
    (with_payload, with_vector)
}

/// A search for one shard; the target is the router's to set.
impl From<&t::SearchRequest> for dp::SearchRequest {
    fn from(r: &t::SearchRequest) -> Self {
        dp::SearchRequest {
            target: None,
            vector: Some(r.vector.clone().into()),
            using: r.using.clone(),
            filter: r.filter.as_ref().map(Into::into),
            limit: r.limit as u64,
            offset: r.offset as u64,
            selectors: Some(selectors_to_proto(&r.with_payload, &r.with_vector)),
            score_threshold: r.score_threshold,
            params: Some(dp::SearchParams {
                hnsw_ef: r.params.hnsw_ef.map(|ef| ef as u64),
                exact: r.params.exact,
                quantization: r.params.quantization.as_ref().map(|q| {
                    dp::QuantizationSearchParams {
                        ignore: q.ignore,
                        rescore: q.rescore,
                        oversampling: q.oversampling,
                    }
                }),
                indexed_only: r.params.indexed_only,
                idf_corpus: r.params.idf_corpus().map(Into::into),
            }),
        }
    }
}

impl TryFrom<dp::SearchRequest> for t::SearchRequest {
    type Error = TesseraError;
    fn try_from(r: dp::SearchRequest) -> Result<Self> {
        let (with_payload, with_vector) = selectors_from_proto(r.selectors);
        let params = r.params.unwrap_or_default();
        Ok(t::SearchRequest {
            vector: r.vector.ok_or_else(|| missing("search vector"))?.into(),
            using: r.using,
            filter: filter(r.filter)?,
            limit: r.limit as usize,
            offset: r.offset as usize,
            with_payload,
            with_vector,
            score_threshold: r.score_threshold,
            params: t::SearchParams {
                hnsw_ef: params.hnsw_ef.map(|ef| ef as usize),
                exact: params.exact,
                quantization: params.quantization.map(|q| t::QuantizationSearchParams {
                    ignore: q.ignore,
                    rescore: q.rescore,
                    oversampling: q.oversampling,
                }),
                indexed_only: params.indexed_only,
                acorn: None,
                idf: filter(params.idf_corpus)?.map(|corpus| t::IdfParams::Corpus { corpus }),
            },
        })
    }
}

/// A text query for one shard; the target is the router's to set.
impl From<&t::text_query::TextSearchRequest> for dp::TextSearchRequest {
    fn from(r: &t::text_query::TextSearchRequest) -> Self {
        dp::TextSearchRequest {
            target: None,
            field: r.field.clone(),
            query: r.query.query.clone(),
            k: r.query.bm25.k,
            b: r.query.bm25.b,
            filter: r.filter.as_ref().map(Into::into),
            limit: r.limit as u64,
            score_threshold: r.score_threshold,
            idf_corpus: r.idf_corpus.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<dp::TextSearchRequest> for t::text_query::TextSearchRequest {
    type Error = TesseraError;
    fn try_from(r: dp::TextSearchRequest) -> Result<Self> {
        Ok(t::text_query::TextSearchRequest {
            field: r.field,
            query: t::text_query::TextQuery {
                query: r.query,
                bm25: t::text_query::Bm25Params { k: r.k, b: r.b },
            },
            filter: filter(r.filter)?,
            limit: r.limit as usize,
            score_threshold: r.score_threshold,
            idf_corpus: filter(r.idf_corpus)?,
        })
    }
}

impl From<&t::ScrollRequest> for dp::ScrollRequest {
    fn from(r: &t::ScrollRequest) -> Self {
        dp::ScrollRequest {
            target: None,
            offset: r.offset.map(Into::into),
            limit: r.limit as u64,
            filter: r.filter.as_ref().map(Into::into),
            selectors: Some(selectors_to_proto(&r.with_payload, &r.with_vector)),
            order_by: r.order_by.as_ref().map(|o| dp::OrderBy {
                key: o.key.clone(),
                descending: o.direction() == t::Direction::Desc,
                start_from: o.start_from,
            }),
        }
    }
}

impl TryFrom<dp::ScrollRequest> for t::ScrollRequest {
    type Error = TesseraError;
    fn try_from(r: dp::ScrollRequest) -> Result<Self> {
        let (with_payload, with_vector) = selectors_from_proto(r.selectors);
        Ok(t::ScrollRequest {
            offset: r.offset.map(t::PointId::try_from).transpose()?,
            limit: usize::try_from(r.limit).unwrap_or(usize::MAX),
            filter: filter(r.filter)?,
            with_payload,
            with_vector,
            order_by: r.order_by.map(|o| t::OrderBy {
                key: o.key,
                direction: Some(if o.descending {
                    t::Direction::Desc
                } else {
                    t::Direction::Asc
                }),
                start_from: o.start_from,
            }),
        })
    }
}
