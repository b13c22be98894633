//! Quantization settings between protobuf and the domain types.

use tessera_types::quantization::{
    BinaryEncoding, BinaryQuantization, BinaryQueryEncoding, CompressionRatio, ProductQuantization,
    ScalarQuantization, ScalarType,
};

use super::*;

const COMPRESSION_RATIOS: [(q::CompressionRatio, CompressionRatio); 5] = [
    (q::CompressionRatio::X4, CompressionRatio::X4),
    (q::CompressionRatio::X8, CompressionRatio::X8),
    (q::CompressionRatio::X16, CompressionRatio::X16),
    (q::CompressionRatio::X32, CompressionRatio::X32),
    (q::CompressionRatio::X64, CompressionRatio::X64),
];

const BINARY_ENCODINGS: [(q::BinaryQuantizationEncoding, BinaryEncoding); 3] = [
    (
        q::BinaryQuantizationEncoding::OneBit,
        BinaryEncoding::OneBit,
    ),
    (
        q::BinaryQuantizationEncoding::TwoBits,
        BinaryEncoding::TwoBits,
    ),
    (
        q::BinaryQuantizationEncoding::OneAndHalfBits,
        BinaryEncoding::OneAndHalfBits,
    ),
];

use q::binary_quantization_query_encoding::Setting as QuerySetting;

const QUERY_ENCODINGS: [(QuerySetting, BinaryQueryEncoding); 4] = [
    (QuerySetting::Default, BinaryQueryEncoding::Default),
    (QuerySetting::Binary, BinaryQueryEncoding::Binary),
    (QuerySetting::Scalar4Bits, BinaryQueryEncoding::Scalar4bits),
    (QuerySetting::Scalar8Bits, BinaryQueryEncoding::Scalar8bits),
];

fn domain_of<P: PartialEq + Copy, D: Copy>(table: &[(P, D)], value: P) -> D {
    table
        .iter()
        .find(|(p, _)| *p == value)
        .map(|(_, d)| *d)
        .expect("every protobuf value has a row")
}

fn proto_of<P: Copy, D: PartialEq + Copy>(table: &[(P, D)], value: D) -> P {
    table
        .iter()
        .find(|(_, d)| *d == value)
        .map(|(p, _)| *p)
        .expect("every domain value has a row")
}

/// `memory` supersedes the deprecated `always_ram`: only `Pinned` keeps codes in RAM.
fn always_ram(always_ram: Option<bool>, memory: Option<i32>) -> Result<Option<bool>> {
    match memory {
        None => Ok(always_ram),
        Some(m) => Ok(Some(
            enum_value::<q::Memory>(m, "memory")? == q::Memory::Pinned,
        )),
    }
}

#[allow(deprecated)]
fn scalar_from_proto(s: q::ScalarQuantization) -> Result<t::QuantizationConfig> {
    enum_value::<q::QuantizationType>(s.r#type, "quantization type")?;
    if s.r#type != q::QuantizationType::Int8 as i32 {
        return Err(bad_input("Scalar quantization needs a type: int8"));
    }
    Ok(t::QuantizationConfig::Scalar(ScalarQuantization {
        kind: ScalarType::Int8,
        quantile: s.quantile,
        always_ram: always_ram(s.always_ram, s.memory)?,
    }))
}

#[allow(deprecated)]
fn product_from_proto(p: q::ProductQuantization) -> Result<t::QuantizationConfig> {
    let compression = enum_value::<q::CompressionRatio>(p.compression, "compression ratio")?;
    Ok(t::QuantizationConfig::Product(ProductQuantization {
        compression: domain_of(&COMPRESSION_RATIOS, compression),
        always_ram: always_ram(p.always_ram, p.memory)?,
    }))
}

#[allow(deprecated)]
fn binary_from_proto(b: q::BinaryQuantization) -> Result<t::QuantizationConfig> {
    let encoding = b
        .encoding
        .map(|e| enum_value::<q::BinaryQuantizationEncoding>(e, "binary encoding"))
        .transpose()?
        .map(|e| domain_of(&BINARY_ENCODINGS, e));
    let query_encoding = match b.query_encoding.and_then(|e| e.variant) {
        Some(q::binary_quantization_query_encoding::Variant::Setting(s)) => Some(domain_of(
            &QUERY_ENCODINGS,
            enum_value::<QuerySetting>(s, "query encoding")?,
        )),
        None => None,
    };
    Ok(t::QuantizationConfig::Binary(BinaryQuantization {
        always_ram: always_ram(b.always_ram, b.memory)?,
        encoding,
        query_encoding,
    }))
}

fn turbo() -> TesseraError {
    unsupported("turbo quantization is not supported; use scalar, product or binary")
}

pub(super) fn quantization_from_proto(
    config: q::QuantizationConfig,
) -> Result<t::QuantizationConfig> {
    use q::quantization_config::Quantization as Q;
    match config.quantization {
        Some(Q::Scalar(s)) => scalar_from_proto(s),
        Some(Q::Product(p)) => product_from_proto(p),
        Some(Q::Binary(b)) => binary_from_proto(b),
        Some(Q::Turboquant(_)) => Err(turbo()),
        None => Err(bad_input("quantization_config is empty")),
    }
}

pub(super) fn quantization_diff_from_proto(
    config: q::QuantizationConfigDiff,
) -> Result<t::QuantizationConfigDiff> {
    use q::quantization_config_diff::Quantization as Q;
    let set = match config.quantization {
        Some(Q::Scalar(s)) => scalar_from_proto(s)?,
        Some(Q::Product(p)) => product_from_proto(p)?,
        Some(Q::Binary(b)) => binary_from_proto(b)?,
        Some(Q::Disabled(_)) => return Ok(t::QuantizationConfigDiff::Disabled),
        Some(Q::Turboquant(_)) => return Err(turbo()),
        None => return Err(bad_input("quantization_config is empty")),
    };
    Ok(t::QuantizationConfigDiff::Set(set))
}

/// Stored settings as protobuf; None for shapes gRPC cannot express.
#[allow(deprecated)]
pub(super) fn quantization_to_proto(
    config: &t::QuantizationConfig,
) -> Option<q::QuantizationConfig> {
    use q::quantization_config::Quantization as Q;
    let quantization = match config {
        t::QuantizationConfig::Scalar(s) => Q::Scalar(q::ScalarQuantization {
            r#type: q::QuantizationType::Int8 as i32,
            quantile: s.quantile,
            always_ram: s.always_ram,
            memory: None,
        }),
        t::QuantizationConfig::Product(p) => Q::Product(q::ProductQuantization {
            compression: proto_of(&COMPRESSION_RATIOS, p.compression) as i32,
            always_ram: p.always_ram,
            memory: None,
        }),
        t::QuantizationConfig::Binary(b) => Q::Binary(q::BinaryQuantization {
            always_ram: b.always_ram,
            encoding: b.encoding.map(|e| proto_of(&BINARY_ENCODINGS, e) as i32),
            query_encoding: b
                .query_encoding
                .map(|e| q::BinaryQuantizationQueryEncoding {
                    variant: Some(q::binary_quantization_query_encoding::Variant::Setting(
                        proto_of(&QUERY_ENCODINGS, e) as i32,
                    )),
                }),
            memory: None,
        }),
        t::QuantizationConfig::Turbo(_) => return None,
    };
    Some(q::QuantizationConfig {
        quantization: Some(quantization),
    })
}

pub(super) fn search_quantization_from_proto(
    params: q::QuantizationSearchParams,
) -> t::QuantizationSearchParams {
    t::QuantizationSearchParams {
        ignore: params.ignore.unwrap_or(false),
        rescore: params.rescore,
        oversampling: params.oversampling,
    }
}
