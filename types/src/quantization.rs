//! Quantization settings: how sealed, indexed segments keep a compressed copy of their
//! dense vectors for the graph walk, and how a search may use or skip it.
//!
//! The JSON shapes are Qdrant's: `{"scalar": {...}}`, `{"product": {...}}`,
//! `{"binary": {...}}`, and `"Disabled"` in a collection update.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Result, TesseraError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum QuantizationConfig {
    Scalar(ScalarQuantization),
    Product(ProductQuantization),
    Binary(BinaryQuantization),
    /// Accepted by the contract, refused by `validate` (not built here), so
    /// left out of the OpenAPI document.
    #[schemars(skip)]
    Turbo(serde_json::Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalarQuantization {
    #[serde(rename = "type")]
    pub kind: ScalarType,
    /// The share of values kept inside the code range; outliers are clipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_ram: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScalarType {
    Int8,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductQuantization {
    pub compression: CompressionRatio,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_ram: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CompressionRatio {
    X4,
    X8,
    X16,
    X32,
    X64,
}

impl CompressionRatio {
    /// Dimensions coded by one byte: a float is 4 bytes, so `xN` packs N/4 of them.
    pub fn dims_per_byte(self) -> usize {
        match self {
            CompressionRatio::X4 => 1,
            CompressionRatio::X8 => 2,
            CompressionRatio::X16 => 4,
            CompressionRatio::X32 => 8,
            CompressionRatio::X64 => 16,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BinaryQuantization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_ram: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<BinaryEncoding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_encoding: Option<BinaryQueryEncoding>,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BinaryEncoding {
    #[default]
    OneBit,
    TwoBits,
    OneAndHalfBits,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BinaryQueryEncoding {
    #[default]
    Default,
    Binary,
    Scalar4bits,
    Scalar8bits,
}

impl QuantizationConfig {
    /// Whether the codes stay in memory whatever the vectors' storage.
    pub fn always_ram(&self) -> bool {
        match self {
            QuantizationConfig::Scalar(c) => c.always_ram,
            QuantizationConfig::Product(c) => c.always_ram,
            QuantizationConfig::Binary(c) => c.always_ram,
            QuantizationConfig::Turbo(_) => None,
        }
        .unwrap_or(false)
    }

    /// The value rules the contract sets; `field` names where the config sits.
    pub fn validate(&self, field: &str) -> Result<()> {
        match self {
            QuantizationConfig::Scalar(ScalarQuantization {
                quantile: Some(q), ..
            }) if !(0.5..=1.0).contains(q) => Err(TesseraError::validation(format!(
                "[{field}.scalar.quantile: value {q} invalid, must be from 0.5 to 1]"
            ))),
            QuantizationConfig::Turbo(_) => Err(TesseraError::Unimplemented(
                "turbo quantization is not supported; use scalar, product or binary".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// A collection update's quantization: new settings, or `"Disabled"` to drop them.
#[derive(Debug, Clone, PartialEq)]
pub enum QuantizationConfigDiff {
    Set(QuantizationConfig),
    Disabled,
}

impl QuantizationConfigDiff {
    /// The settings after this update.
    pub fn applied(&self) -> Option<QuantizationConfig> {
        match self {
            QuantizationConfigDiff::Set(c) => Some(c.clone()),
            QuantizationConfigDiff::Disabled => None,
        }
    }
}

impl schemars::JsonSchema for QuantizationConfigDiff {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "QuantizationConfigDiff".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let config = generator.subschema_for::<QuantizationConfig>();
        schemars::json_schema!({ "anyOf": [config, { "const": "Disabled" }] })
    }
}

impl Serialize for QuantizationConfigDiff {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            QuantizationConfigDiff::Set(c) => c.serialize(s),
            QuantizationConfigDiff::Disabled => s.serialize_str("Disabled"),
        }
    }
}

impl<'de> Deserialize<'de> for QuantizationConfigDiff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if value.as_str() == Some("Disabled") {
            return Ok(QuantizationConfigDiff::Disabled);
        }
        QuantizationConfig::deserialize(value)
            .map(QuantizationConfigDiff::Set)
            .map_err(serde::de::Error::custom)
    }
}

/// How one search uses quantized vectors (`params.quantization`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantizationSearchParams {
    /// Walk the graph over the original vectors instead.
    #[serde(default)]
    pub ignore: bool,
    /// Re-score the candidates with the original vectors (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescore: Option<bool>,
    /// Candidates taken from the quantized walk per requested result (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversampling: Option<f64>,
}

impl QuantizationSearchParams {
    pub fn validate(&self) -> Result<()> {
        match self.oversampling {
            Some(o) if o.is_nan() || o < 1.0 => Err(TesseraError::validation(format!(
                "[params.quantization.oversampling: value {o} invalid, must be 1 or larger]"
            ))),
            _ => Ok(()),
        }
    }

    pub fn rescore(&self) -> bool {
        self.rescore.unwrap_or(true)
    }

    /// How many candidates the quantized walk gathers for `limit` results.
    pub fn candidates(&self, limit: usize) -> usize {
        let factor = self.oversampling.unwrap_or(1.0).max(1.0);
        ((limit as f64) * factor).ceil() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qdrant_shapes() {
        let c: QuantizationConfig = serde_json::from_str(
            r#"{"scalar": {"type": "int8", "quantile": 0.99, "always_ram": true}}"#,
        )
        .unwrap();
        assert!(c.always_ram());
        assert!(c.validate("quantization_config").is_ok());
        let c: QuantizationConfig =
            serde_json::from_str(r#"{"product": {"compression": "x16"}}"#).unwrap();
        assert_eq!(
            c,
            QuantizationConfig::Product(ProductQuantization {
                compression: CompressionRatio::X16,
                always_ram: None
            })
        );
        let c: QuantizationConfig = serde_json::from_str(
            r#"{"binary": {"encoding": "two_bits", "query_encoding": "scalar8bits"}}"#,
        )
        .unwrap();
        assert!(!c.always_ram());
        let d: QuantizationConfigDiff = serde_json::from_str(r#""Disabled""#).unwrap();
        assert_eq!(d, QuantizationConfigDiff::Disabled);
        assert_eq!(serde_json::to_string(&d).unwrap(), r#""Disabled""#);
        assert!(serde_json::from_str::<QuantizationConfig>(r#"{"scalar": {}}"#).is_err());
        let bad: QuantizationConfig =
            serde_json::from_str(r#"{"scalar": {"type": "int8", "quantile": 0.2}}"#).unwrap();
        assert!(matches!(
            bad.validate("quantization_config"),
            Err(TesseraError::Validation(m)) if m.contains("quantization_config.scalar.quantile")
        ));
    }

    #[test]
    fn search_params() {
        let p: QuantizationSearchParams =
            serde_json::from_str(r#"{"rescore": false, "oversampling": 2.5}"#).unwrap();
        assert!(!p.rescore());
        assert_eq!(p.candidates(10), 25);
        assert!(QuantizationSearchParams::default().rescore());
        let bad = QuantizationSearchParams {
            oversampling: Some(0.5),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
