//! Collections: create and update requests in, collection info out.

#![allow(deprecated)]

use super::payload_index::*;
use super::quantization::*;
use super::*;

// ---- collections: requests ----------------------------------------------------

fn distance_from_proto(distance: i32) -> Result<t::Distance> {
    match q::Distance::try_from(distance) {
        Ok(q::Distance::Cosine) => Ok(t::Distance::Cosine),
        Ok(q::Distance::Euclid) => Ok(t::Distance::Euclid),
        Ok(q::Distance::Dot) => Ok(t::Distance::Dot),
        Ok(q::Distance::Manhattan) => Ok(t::Distance::Manhattan),
        Ok(q::Distance::UnknownDistance) | Err(_) => Err(bad_input(format!(
            "Malformed distance parameter: {distance}"
        ))),
    }
}

fn datatype_from_proto(datatype: i32) -> Result<Option<t::Datatype>> {
    Ok(Some(
        match enum_value::<q::Datatype>(datatype, "datatype")? {
            q::Datatype::Default => return Ok(None),
            q::Datatype::Float32 => t::Datatype::Float32,
            q::Datatype::Uint8 => t::Datatype::Uint8,
            q::Datatype::Float16 => t::Datatype::Float16,
            q::Datatype::Turbo4 | q::Datatype::Turbo8 | q::Datatype::Turbo16 => {
                return Err(unsupported("turbo datatypes are not supported yet"))
            }
        },
    ))
}

fn hnsw_diff_from_proto(h: q::HnswConfigDiff) -> t::HnswConfigDiff {
    t::HnswConfigDiff {
        m: h.m.map(|v| v as usize),
        ef_construct: h.ef_construct.map(|v| v as usize),
        full_scan_threshold: h.full_scan_threshold.map(|v| v as usize),
        max_indexing_threads: h.max_indexing_threads.map(|v| v as usize),
        on_disk: h.on_disk,
        payload_m: h.payload_m.map(|v| v as usize),
        inline_storage: h.inline_storage,
    }
}

fn vector_params_from_proto(p: q::VectorParams) -> Result<t::VectorParams> {
    let multivector_config = match p.multivector_config {
        None => None,
        Some(m) => match q::MultiVectorComparator::try_from(m.comparator) {
            Ok(q::MultiVectorComparator::MaxSim) => Some(t::MultiVectorConfig {
                comparator: t::MultiVectorComparator::MaxSim,
            }),
            Err(_) => return Err(bad_input("Unknown multi-vector comparator")),
        },
    };
    Ok(t::VectorParams {
        size: p.size,
        distance: distance_from_proto(p.distance)?,
        hnsw_config: p.hnsw_config.map(hnsw_diff_from_proto),
        quantization_config: p
            .quantization_config
            .map(quantization_from_proto)
            .transpose()?,
        on_disk: p.on_disk,
        datatype: p.datatype.map(datatype_from_proto).transpose()?.flatten(),
        multivector_config,
    })
}

/// `CreateVectorName`: the new vector's name and settings, as
/// `PUT /collections/{c}/vectors/{name}` takes them over REST.
pub fn vector_name_config_from_proto(
    request: q::CreateVectorNameRequest,
) -> Result<(String, t::VectorNameConfig)> {
    use q::create_vector_name_request::VectorConfig;
    let config = match request.vector_config {
        Some(VectorConfig::DenseConfig(dense)) => {
            t::VectorNameConfig::Dense(vector_params_from_proto(q::VectorParams {
                size: dense.size,
                distance: dense.distance,
                multivector_config: dense.multivector_config,
                datatype: dense.datatype,
                ..Default::default()
            })?)
        }
        Some(VectorConfig::SparseConfig(sparse)) => {
            let modifier = match sparse.modifier.map(q::Modifier::try_from) {
                None => None,
                Some(Ok(q::Modifier::None)) => Some(t::Modifier::None),
                Some(Ok(q::Modifier::Idf)) => Some(t::Modifier::Idf),
                Some(Err(_)) => return Err(bad_input("Unknown sparse vector modifier")),
            };
            let datatype = sparse
                .datatype
                .map(datatype_from_proto)
                .transpose()?
                .flatten();
            t::VectorNameConfig::Sparse(t::SparseVectorParams {
                index: datatype.map(|datatype| t::SparseIndexParams {
                    datatype: Some(datatype),
                    ..Default::default()
                }),
                modifier,
            })
        }
        None => {
            return Err(bad_input(
                "vector_config is empty: give a dense or sparse config",
            ))
        }
    };
    Ok((request.vector_name, config))
}

fn vectors_config_from_proto(config: q::VectorsConfig) -> Result<t::VectorsConfig> {
    match config.config {
        Some(q::vectors_config::Config::Params(p)) => {
            Ok(t::VectorsConfig::Single(vector_params_from_proto(p)?))
        }
        Some(q::vectors_config::Config::ParamsMap(m)) => Ok(t::VectorsConfig::Multi(
            m.map
                .into_iter()
                .map(|(name, p)| Ok((name, vector_params_from_proto(p)?)))
                .collect::<Result<_>>()?,
        )),
        None => Err(bad_input("vectors_config is empty")),
    }
}

fn sharding_method_from_proto(method: i32) -> Result<t::ShardingMethod> {
    Ok(
        match enum_value::<q::ShardingMethod>(method, "sharding method")? {
            q::ShardingMethod::Auto => t::ShardingMethod::Auto,
            q::ShardingMethod::Custom => t::ShardingMethod::Custom,
        },
    )
}

fn wal_diff_to_json(w: q::WalConfigDiff) -> Json {
    object([
        ("wal_capacity_mb", w.wal_capacity_mb.map(Json::from)),
        ("wal_segments_ahead", w.wal_segments_ahead.map(Json::from)),
        ("wal_retain_closed", w.wal_retain_closed.map(Json::from)),
    ])
}

fn optimizers_diff_to_json(o: q::OptimizersConfigDiff) -> Json {
    use q::max_optimization_threads::Variant;
    // `auto` is Tessera's unset value, which a diff leaves alone.
    let max_threads = match o.max_optimization_threads.and_then(|m| m.variant) {
        Some(Variant::Value(n)) => Some(Json::from(n)),
        Some(Variant::Setting(_)) => None,
        None => o.deprecated_max_optimization_threads.map(Json::from),
    };
    object([
        ("deleted_threshold", o.deleted_threshold.map(Json::from)),
        (
            "vacuum_min_vector_number",
            o.vacuum_min_vector_number.map(Json::from),
        ),
        (
            "default_segment_number",
            o.default_segment_number.map(Json::from),
        ),
        ("max_segment_size", o.max_segment_size.map(Json::from)),
        ("memmap_threshold", o.memmap_threshold.map(Json::from)),
        ("indexing_threshold", o.indexing_threshold.map(Json::from)),
        ("flush_interval_sec", o.flush_interval_sec.map(Json::from)),
        ("max_optimization_threads", max_threads),
        ("prevent_unoptimized", o.prevent_unoptimized.map(Json::from)),
    ])
}

fn sparse_config_from_proto(
    config: Option<q::SparseVectorConfig>,
) -> Result<Option<t::SparseVectorsConfig>> {
    let Some(config) = config.filter(|c| !c.map.is_empty()) else {
        return Ok(None);
    };
    let params = |p: q::SparseVectorParams| -> Result<t::SparseVectorParams> {
        let modifier = match p.modifier.map(q::Modifier::try_from) {
            None => None,
            Some(Ok(q::Modifier::None)) => Some(t::Modifier::None),
            Some(Ok(q::Modifier::Idf)) => Some(t::Modifier::Idf),
            Some(Err(_)) => return Err(bad_input("Unknown sparse vector modifier")),
        };
        #[allow(deprecated)]
        let index = p
            .index
            .map(|i| -> Result<_> {
                Ok(t::SparseIndexParams {
                    full_scan_threshold: i.full_scan_threshold.map(|n| n as usize),
                    on_disk: i.on_disk,
                    datatype: i.datatype.map(datatype_from_proto).transpose()?.flatten(),
                })
            })
            .transpose()?;
        Ok(t::SparseVectorParams { index, modifier })
    };
    config
        .map
        .into_iter()
        .map(|(name, p)| Ok((name, params(p)?)))
        .collect::<Result<_>>()
        .map(Some)
}

pub(super) fn sparse_config_to_proto(config: t::SparseVectorsConfig) -> q::SparseVectorConfig {
    #[allow(deprecated)]
    let params = |p: t::SparseVectorParams| q::SparseVectorParams {
        index: p.index.map(|i| q::SparseIndexConfig {
            full_scan_threshold: i.full_scan_threshold.map(|n| n as u64),
            on_disk: i.on_disk,
            datatype: i.datatype.map(|d| datatype_to_proto(d) as i32),
            memory: None,
        }),
        modifier: p.modifier.map(|m| {
            (match m {
                t::Modifier::None => q::Modifier::None,
                t::Modifier::Idf => q::Modifier::Idf,
            }) as i32
        }),
    };
    q::SparseVectorConfig {
        map: config
            .into_iter()
            .map(|(name, p)| (name, params(p)))
            .collect(),
    }
}

pub fn create_collection_from_proto(request: q::CreateCollection) -> Result<t::CreateCollection> {
    Ok(t::CreateCollection {
        vectors: request
            .vectors_config
            .map(vectors_config_from_proto)
            .transpose()?,
        shard_number: request.shard_number,
        sharding_method: request
            .sharding_method
            .map(sharding_method_from_proto)
            .transpose()?,
        replication_factor: request.replication_factor,
        write_consistency_factor: request.write_consistency_factor,
        on_disk_payload: request.on_disk_payload,
        hnsw_config: request.hnsw_config.map(hnsw_diff_from_proto),
        wal_config: request.wal_config.map(wal_diff_to_json),
        optimizers_config: request.optimizers_config.map(optimizers_diff_to_json),
        quantization_config: request
            .quantization_config
            .map(quantization_from_proto)
            .transpose()?,
        sparse_vectors: sparse_config_from_proto(request.sparse_vectors_config)?,
        strict_mode_config: request.strict_mode_config.map(strict_mode_from_proto),
        metadata: json_object_from_proto(request.metadata)?,
        init_from: None,
    })
}

fn vector_diff_from_proto(diff: q::VectorParamsDiff) -> Result<t::VectorParamsDiff> {
    Ok(t::VectorParamsDiff {
        hnsw_config: diff.hnsw_config.map(hnsw_diff_from_proto),
        quantization_config: diff
            .quantization_config
            .map(quantization_diff_from_proto)
            .transpose()?,
        on_disk: diff.on_disk,
    })
}

pub fn update_collection_from_proto(request: q::UpdateCollection) -> Result<t::UpdateCollection> {
    let vectors = match request.vectors_config.and_then(|c| c.config) {
        Some(q::vectors_config_diff::Config::Params(diff)) => Some(BTreeMap::from([(
            t::DEFAULT_VECTOR_NAME.to_string(),
            vector_diff_from_proto(diff)?,
        )])),
        Some(q::vectors_config_diff::Config::ParamsMap(m)) => Some(
            m.map
                .into_iter()
                .map(|(name, diff)| Ok((name, vector_diff_from_proto(diff)?)))
                .collect::<Result<_>>()?,
        ),
        None => None,
    };
    Ok(t::UpdateCollection {
        vectors,
        optimizers_config: request.optimizers_config.map(optimizers_diff_to_json),
        params: request.params.map(|p| t::CollectionParamsDiff {
            replication_factor: p.replication_factor,
            write_consistency_factor: p.write_consistency_factor,
            read_fan_out_factor: p.read_fan_out_factor,
            read_fan_out_delay_ms: p.read_fan_out_delay_ms,
            on_disk_payload: p.on_disk_payload,
        }),
        hnsw_config: request.hnsw_config.map(hnsw_diff_from_proto),
        quantization_config: request
            .quantization_config
            .map(quantization_diff_from_proto)
            .transpose()?,
        sparse_vectors: sparse_config_from_proto(request.sparse_vectors_config)?,
        strict_mode_config: request.strict_mode_config.map(strict_mode_from_proto),
        metadata: json_object_from_proto(request.metadata)?,
        add_vectors: BTreeMap::new(),
        remove_vectors: Vec::new(),
    })
}

// ---- collections: responses ---------------------------------------------------

fn distance_to_proto(distance: t::Distance) -> q::Distance {
    match distance {
        t::Distance::Cosine => q::Distance::Cosine,
        t::Distance::Euclid => q::Distance::Euclid,
        t::Distance::Dot => q::Distance::Dot,
        t::Distance::Manhattan => q::Distance::Manhattan,
    }
}

fn datatype_to_proto(datatype: t::Datatype) -> q::Datatype {
    match datatype {
        t::Datatype::Float32 => q::Datatype::Float32,
        t::Datatype::Uint8 => q::Datatype::Uint8,
        t::Datatype::Float16 => q::Datatype::Float16,
    }
}

fn hnsw_diff_to_proto(h: t::HnswConfigDiff) -> q::HnswConfigDiff {
    q::HnswConfigDiff {
        m: h.m.map(|v| v as u64),
        ef_construct: h.ef_construct.map(|v| v as u64),
        full_scan_threshold: h.full_scan_threshold.map(|v| v as u64),
        max_indexing_threads: h.max_indexing_threads.map(|v| v as u64),
        on_disk: h.on_disk,
        payload_m: h.payload_m.map(|v| v as u64),
        inline_storage: h.inline_storage,
        memory: None,
    }
}

fn hnsw_to_proto(h: t::HnswConfig) -> q::HnswConfigDiff {
    hnsw_diff_to_proto(t::HnswConfigDiff {
        m: Some(h.m),
        ef_construct: Some(h.ef_construct),
        full_scan_threshold: Some(h.full_scan_threshold),
        max_indexing_threads: Some(h.max_indexing_threads),
        on_disk: h.on_disk,
        payload_m: h.payload_m,
        inline_storage: None,
    })
}

fn vector_params_to_proto(p: t::VectorParams) -> q::VectorParams {
    q::VectorParams {
        size: p.size,
        distance: distance_to_proto(p.distance) as i32,
        hnsw_config: p.hnsw_config.map(hnsw_diff_to_proto),
        quantization_config: p
            .quantization_config
            .as_ref()
            .and_then(quantization_to_proto),
        on_disk: p.on_disk,
        datatype: p.datatype.map(|d| datatype_to_proto(d) as i32),
        multivector_config: p.multivector_config.map(|_| q::MultiVectorConfig {
            comparator: q::MultiVectorComparator::MaxSim as i32,
        }),
        memory: None,
    }
}

fn vectors_config_to_proto(config: t::VectorsConfig) -> q::VectorsConfig {
    let config = match config {
        t::VectorsConfig::Single(p) => q::vectors_config::Config::Params(vector_params_to_proto(p)),
        t::VectorsConfig::Multi(m) => q::vectors_config::Config::ParamsMap(q::VectorParamsMap {
            map: m
                .into_iter()
                .map(|(name, p)| (name, vector_params_to_proto(p)))
                .collect(),
        }),
    };
    q::VectorsConfig {
        config: Some(config),
    }
}

fn optimizers_to_proto(o: t::OptimizersConfig) -> q::OptimizersConfigDiff {
    use q::max_optimization_threads::{Setting, Variant};
    let max_threads = match o.max_optimization_threads {
        Some(n) => Variant::Value(n as u64),
        None => Variant::Setting(Setting::Auto as i32),
    };
    q::OptimizersConfigDiff {
        deleted_threshold: Some(o.deleted_threshold),
        vacuum_min_vector_number: Some(o.vacuum_min_vector_number as u64),
        default_segment_number: Some(o.default_segment_number as u64),
        max_segment_size: o.max_segment_size.map(|v| v as u64),
        memmap_threshold: o.memmap_threshold.map(|v| v as u64),
        indexing_threshold: o.indexing_threshold.map(|v| v as u64),
        flush_interval_sec: Some(o.flush_interval_sec),
        deprecated_max_optimization_threads: o.max_optimization_threads.map(|v| v as u64),
        max_optimization_threads: Some(q::MaxOptimizationThreads {
            variant: Some(max_threads),
        }),
        prevent_unoptimized: o.prevent_unoptimized,
    }
}

fn collection_config_to_proto(config: t::CollectionConfig) -> q::CollectionConfig {
    let params = config.params;
    q::CollectionConfig {
        params: Some(q::CollectionParams {
            shard_number: params.shard_number,
            on_disk_payload: params.on_disk_payload,
            vectors_config: Some(vectors_config_to_proto(params.vectors)),
            replication_factor: Some(params.replication_factor),
            write_consistency_factor: Some(params.write_consistency_factor),
            read_fan_out_factor: None,
            read_fan_out_delay_ms: params.read_fan_out_delay_ms,
            sharding_method: params.sharding_method.map(|m| {
                (match m {
                    t::ShardingMethod::Auto => q::ShardingMethod::Auto,
                    t::ShardingMethod::Custom => q::ShardingMethod::Custom,
                }) as i32
            }),
            sparse_vectors_config: params.sparse_vectors.map(sparse_config_to_proto),
            payload: None,
            id_tracker: None,
        }),
        hnsw_config: Some(hnsw_to_proto(config.hnsw_config)),
        optimizer_config: Some(optimizers_to_proto(config.optimizer_config)),
        wal_config: Some(q::WalConfigDiff {
            wal_capacity_mb: Some(config.wal_config.wal_capacity_mb as u64),
            wal_segments_ahead: Some(config.wal_config.wal_segments_ahead as u64),
            wal_retain_closed: Some(config.wal_config.wal_retain_closed as u64),
        }),
        quantization_config: config
            .quantization_config
            .as_ref()
            .and_then(quantization_to_proto),
        strict_mode_config: config.strict_mode_config.map(strict_mode_to_proto),
        metadata: config.metadata.map(payload_to_proto).unwrap_or_default(),
    }
}

pub fn collection_info_to_proto(info: CollectionInfo) -> q::CollectionInfo {
    let status = match info.status {
        CollectionStatus::Green => q::CollectionStatus::Green,
        CollectionStatus::Yellow => q::CollectionStatus::Yellow,
        CollectionStatus::Red => q::CollectionStatus::Red,
    };
    let ok = info.optimizer_status == "ok";
    q::CollectionInfo {
        status: status as i32,
        optimizer_status: Some(q::OptimizerStatus {
            ok,
            error: if ok {
                String::new()
            } else {
                info.optimizer_status
            },
        }),
        segments_count: info.segments_count,
        config: Some(collection_config_to_proto(info.config)),
        payload_schema: info
            .payload_schema
            .into_iter()
            .map(|(field, f)| {
                let params = f.params.and_then(|p| {
                    if f.data_type == t::PayloadSchemaType::Text {
                        serde_json::from_value::<t::text::TextIndexParams>(p)
                            .ok()
                            .map(|p| super::text::text_index_params_to_proto(&p))
                    } else {
                        serde_json::from_value::<t::IndexParams>(p)
                            .ok()
                            .map(|p| index_params_to_proto(&p))
                    }
                });
                let schema = q::PayloadSchemaInfo {
                    data_type: payload_schema_type_to_proto(f.data_type) as i32,
                    params,
                    points: Some(f.points),
                };
                (field, schema)
            })
            .collect(),
        points_count: Some(info.points_count),
        indexed_vectors_count: Some(info.indexed_vectors_count),
        warnings: info
            .warnings
            .into_iter()
            .map(|w| q::CollectionWarning { message: w.message })
            .collect(),
        update_queue: Some(q::UpdateQueueInfo {
            length: info.update_queue.length,
            ..Default::default()
        }),
        created_at: None,
    }
}

pub fn payload_schema_type_to_proto(t: t::PayloadSchemaType) -> q::PayloadSchemaType {
    match t {
        t::PayloadSchemaType::Keyword => q::PayloadSchemaType::Keyword,
        t::PayloadSchemaType::Integer => q::PayloadSchemaType::Integer,
        t::PayloadSchemaType::Float => q::PayloadSchemaType::Float,
        t::PayloadSchemaType::Bool => q::PayloadSchemaType::Bool,
        t::PayloadSchemaType::Uuid => q::PayloadSchemaType::Uuid,
        t::PayloadSchemaType::Datetime => q::PayloadSchemaType::Datetime,
        t::PayloadSchemaType::Text => q::PayloadSchemaType::Text,
        t::PayloadSchemaType::Geo => q::PayloadSchemaType::Geo,
    }
}

pub fn field_type_from_proto(field_type: i32) -> Result<t::PayloadSchemaType> {
    Ok(match q::FieldType::try_from(field_type) {
        Ok(q::FieldType::Keyword) => t::PayloadSchemaType::Keyword,
        Ok(q::FieldType::Integer) => t::PayloadSchemaType::Integer,
        Ok(q::FieldType::Float) => t::PayloadSchemaType::Float,
        Ok(q::FieldType::Bool) => t::PayloadSchemaType::Bool,
        Ok(q::FieldType::Uuid) => t::PayloadSchemaType::Uuid,
        Ok(q::FieldType::Datetime) => t::PayloadSchemaType::Datetime,
        Ok(q::FieldType::Text) => t::PayloadSchemaType::Text,
        Ok(q::FieldType::Geo) => t::PayloadSchemaType::Geo,
        Err(_) => {
            return Err(TesseraError::bad_input(format!(
                "unknown field type {field_type}"
            )))
        }
    })
}

/// The limits strict mode enforces or keeps.
fn strict_mode_from_proto(s: q::StrictModeConfig) -> t::StrictModeConfig {
    let size = |n: Option<u64>| n.map(|n| n as usize);
    let small = |n: Option<u32>| n.map(|n| n as usize);
    t::StrictModeConfig {
        enabled: s.enabled,
        max_query_limit: small(s.max_query_limit),
        max_timeout: small(s.max_timeout),
        unindexed_filtering_retrieve: s.unindexed_filtering_retrieve,
        unindexed_filtering_update: s.unindexed_filtering_update,
        search_max_hnsw_ef: small(s.search_max_hnsw_ef),
        search_allow_exact: s.search_allow_exact,
        search_max_oversampling: s.search_max_oversampling.map(f64::from),
        upsert_max_batchsize: size(s.upsert_max_batchsize),
        search_max_batchsize: size(s.search_max_batchsize),
        max_collection_vector_size_bytes: size(s.max_collection_vector_size_bytes),
        read_rate_limit: small(s.read_rate_limit),
        write_rate_limit: small(s.write_rate_limit),
        max_collection_payload_size_bytes: size(s.max_collection_payload_size_bytes),
        max_points_count: size(s.max_points_count),
        filter_max_conditions: size(s.filter_max_conditions),
        condition_max_size: size(s.condition_max_size),
        multivector_config: s.multivector_config.map(|m| {
            m.multivector_config
                .into_iter()
                .map(|(name, limit)| {
                    let max_vectors = size(limit.max_vectors);
                    (name, t::strict_mode::MultivectorLimit { max_vectors })
                })
                .collect()
        }),
        sparse_config: s.sparse_config.map(|m| {
            m.sparse_config
                .into_iter()
                .map(|(name, limit)| {
                    let max_length = size(limit.max_length);
                    (name, t::strict_mode::SparseLimit { max_length })
                })
                .collect()
        }),
        max_payload_index_count: size(s.max_payload_index_count),
        max_resident_memory_percent: s.max_resident_memory_percent.map(|p| p.min(100) as u8),
        max_disk_usage_percent: None,
    }
}

fn strict_mode_to_proto(s: t::StrictModeConfig) -> q::StrictModeConfig {
    let size = |n: Option<usize>| n.map(|n| n as u64);
    let small = |n: Option<usize>| n.map(|n| n as u32);
    q::StrictModeConfig {
        enabled: s.enabled,
        max_query_limit: small(s.max_query_limit),
        max_timeout: small(s.max_timeout),
        unindexed_filtering_retrieve: s.unindexed_filtering_retrieve,
        unindexed_filtering_update: s.unindexed_filtering_update,
        search_max_hnsw_ef: small(s.search_max_hnsw_ef),
        search_allow_exact: s.search_allow_exact,
        search_max_oversampling: s.search_max_oversampling.map(|v| v as f32),
        upsert_max_batchsize: size(s.upsert_max_batchsize),
        search_max_batchsize: size(s.search_max_batchsize),
        max_collection_vector_size_bytes: size(s.max_collection_vector_size_bytes),
        read_rate_limit: small(s.read_rate_limit),
        write_rate_limit: small(s.write_rate_limit),
        max_collection_payload_size_bytes: size(s.max_collection_payload_size_bytes),
        filter_max_conditions: size(s.filter_max_conditions),
        condition_max_size: size(s.condition_max_size),
        multivector_config: s
            .multivector_config
            .map(|m| q::StrictModeMultivectorConfig {
                multivector_config: m
                    .into_iter()
                    .map(|(name, limit)| {
                        let max_vectors = size(limit.max_vectors);
                        (name, q::StrictModeMultivector { max_vectors })
                    })
                    .collect(),
            }),
        sparse_config: s.sparse_config.map(|m| q::StrictModeSparseConfig {
            sparse_config: m
                .into_iter()
                .map(|(name, limit)| {
                    let max_length = size(limit.max_length);
                    (name, q::StrictModeSparse { max_length })
                })
                .collect(),
        }),
        max_points_count: size(s.max_points_count),
        max_payload_index_count: size(s.max_payload_index_count),
        max_resident_memory_percent: s.max_resident_memory_percent.map(u32::from),
    }
}

/// A payload index's type, with a text index's parameters kept.
pub fn field_schema_from_proto(
    field_type: i32,
    params: Option<q::PayloadIndexParams>,
) -> Result<t::PayloadFieldSchema> {
    use q::payload_index_params::IndexParams;
    let kind = field_type_from_proto(field_type)?;
    let p = match params.and_then(|p| p.index_params) {
        Some(IndexParams::TextIndexParams(p)) => p,
        Some(other) => {
            return Ok(match index_params_from_proto(kind, &other) {
                Some(params) => t::PayloadFieldSchema::Params(params),
                None => t::PayloadFieldSchema::Type(kind),
            })
        }
        None => return Ok(t::PayloadFieldSchema::Type(kind)),
    };
    let tokenizer = match q::TokenizerType::try_from(p.tokenizer) {
        Ok(q::TokenizerType::Prefix) => Some(t::text::Tokenizer::Prefix),
        Ok(q::TokenizerType::Whitespace) => Some(t::text::Tokenizer::Whitespace),
        Ok(q::TokenizerType::Word) => Some(t::text::Tokenizer::Word),
        Ok(q::TokenizerType::Multilingual) => Some(t::text::Tokenizer::Multilingual),
        Ok(q::TokenizerType::Unknown) => None,
        Ok(q::TokenizerType::Code) | Err(_) => {
            return Err(unsupported("the code tokenizer is not supported yet"))
        }
    };
    let stemmer = p.stemmer.and_then(|s| match s.stemming_params {
        Some(q::stemming_algorithm::StemmingParams::Snowball(snowball)) => Some(t::text::Stemmer {
            kind: t::text::StemmerType::Snowball,
            language: snowball.language,
        }),
        _ => None,
    });
    Ok(t::PayloadFieldSchema::Text(t::text::TextIndexParams {
        kind: t::text::TextIndexType::Text,
        tokenizer,
        min_token_len: p.min_token_len.map(|n| n as usize),
        max_token_len: p.max_token_len.map(|n| n as usize),
        lowercase: p.lowercase,
        ascii_folding: p.ascii_folding,
        phrase_matching: p.phrase_matching,
        stopwords: p.stopwords.map(|s| t::text::Stopwords::Set {
            languages: Some(s.languages),
            custom: Some(s.custom),
        }),
        stemmer,
        on_disk: p.on_disk,
        enable_hnsw: p.enable_hnsw,
        scoring: super::text::text_scoring_from_proto(p.scoring)?,
    }))
}
