//! Non-text payload index parameters between protobuf and the domain types.

#![allow(deprecated)]

use q::payload_index_params::IndexParams as P;

use super::*;

/// The parameters of a non-text index; None for a text index (converted elsewhere).
pub(super) fn index_params_from_proto(
    kind: t::PayloadSchemaType,
    params: &P,
) -> Option<t::IndexParams> {
    let mut out = t::IndexParams {
        kind,
        is_tenant: None,
        is_principal: None,
        on_disk: None,
        lookup: None,
        range: None,
        prefix: None,
        enable_hnsw: None,
    };
    match params {
        P::KeywordIndexParams(p) => {
            (out.is_tenant, out.on_disk, out.enable_hnsw) = (p.is_tenant, p.on_disk, p.enable_hnsw);
            // An empty message whose presence turns prefix matching on.
            out.prefix = p.prefix.as_ref().map(|_| true);
        }
        P::UuidIndexParams(p) => {
            (out.is_tenant, out.on_disk, out.enable_hnsw) = (p.is_tenant, p.on_disk, p.enable_hnsw)
        }
        P::IntegerIndexParams(p) => {
            (out.lookup, out.range, out.is_principal) = (p.lookup, p.range, p.is_principal);
            (out.on_disk, out.enable_hnsw) = (p.on_disk, p.enable_hnsw);
        }
        P::FloatIndexParams(p) => {
            (out.is_principal, out.on_disk, out.enable_hnsw) =
                (p.is_principal, p.on_disk, p.enable_hnsw)
        }
        P::DatetimeIndexParams(p) => {
            (out.is_principal, out.on_disk, out.enable_hnsw) =
                (p.is_principal, p.on_disk, p.enable_hnsw)
        }
        P::GeoIndexParams(p) => (out.on_disk, out.enable_hnsw) = (p.on_disk, p.enable_hnsw),
        P::BoolIndexParams(p) => (out.on_disk, out.enable_hnsw) = (p.on_disk, p.enable_hnsw),
        P::TextIndexParams(_) => return None,
    }
    Some(out)
}

/// Kept parameters as protobuf, for collection info.
pub(super) fn index_params_to_proto(p: &t::IndexParams) -> q::PayloadIndexParams {
    use t::PayloadSchemaType as K;
    let params = match p.kind {
        K::Keyword => P::KeywordIndexParams(q::KeywordIndexParams {
            is_tenant: p.is_tenant,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            prefix: (p.prefix == Some(true)).then_some(q::KeywordPrefixParams {}),
            ..Default::default()
        }),
        K::Uuid => P::UuidIndexParams(q::UuidIndexParams {
            is_tenant: p.is_tenant,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            ..Default::default()
        }),
        K::Integer => P::IntegerIndexParams(q::IntegerIndexParams {
            lookup: p.lookup,
            range: p.range,
            is_principal: p.is_principal,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            ..Default::default()
        }),
        K::Float => P::FloatIndexParams(q::FloatIndexParams {
            is_principal: p.is_principal,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            ..Default::default()
        }),
        K::Datetime => P::DatetimeIndexParams(q::DatetimeIndexParams {
            is_principal: p.is_principal,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            ..Default::default()
        }),
        K::Geo => P::GeoIndexParams(q::GeoIndexParams {
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            ..Default::default()
        }),
        K::Bool | K::Text => P::BoolIndexParams(q::BoolIndexParams {
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            ..Default::default()
        }),
    };
    q::PayloadIndexParams {
        index_params: Some(params),
    }
}
