//! Payload index schemas (`PUT /collections/{name}/index`) and their parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TesseraError};

/// Types of payload field index (`PUT /collections/{name}/index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadSchemaType {
    Keyword,
    Integer,
    Float,
    Bool,
    Uuid,
    Datetime,
    Text,
    Geo,
}

/// A payload index as created: its type alone, or with its parameters, kept as
/// given and shown in the collection's `payload_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PayloadFieldSchema {
    Type(PayloadSchemaType),
    Text(crate::text::TextIndexParams),
    Params(IndexParams),
}

/// The parameters of a non-text payload index (`{"type": "keyword", "is_tenant": true}`),
/// kept and shown. A filter on any indexed field, a tenant's included, is planned from
/// the index's candidates; the flags do not change storage layout here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexParams {
    #[serde(rename = "type")]
    pub kind: PayloadSchemaType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<bool>,
    /// Keyword indexes: serve `match: {"prefix": ...}` (Qdrant 1.19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

impl IndexParams {
    /// Qdrant's check of an integer index's capabilities: it must serve
    /// matches, ranges or both.
    pub fn validate(&self) -> Result<()> {
        if self.lookup == Some(false) && self.range == Some(false) {
            return Err(TesseraError::validation(
                "[field_schema: Validation error: the 'lookup' and 'range' capabilities can't be both disabled [{}]]",
            ));
        }
        Ok(())
    }
}

impl PayloadFieldSchema {
    pub fn kind(&self) -> PayloadSchemaType {
        match self {
            PayloadFieldSchema::Type(kind) => *kind,
            PayloadFieldSchema::Text(_) => PayloadSchemaType::Text,
            PayloadFieldSchema::Params(params) => params.kind,
        }
    }

    /// The parameters given with the type, as Qdrant shows them in `payload_schema`.
    pub fn params(&self) -> Option<serde_json::Value> {
        match self {
            PayloadFieldSchema::Type(_) => None,
            PayloadFieldSchema::Text(params) => serde_json::to_value(params).ok(),
            PayloadFieldSchema::Params(params) => serde_json::to_value(params).ok(),
        }
    }

    /// How a text index splits text, for text indexes.
    pub fn text(&self) -> Option<crate::text::TextIndexParams> {
        match self {
            PayloadFieldSchema::Type(PayloadSchemaType::Text) => {
                Some(crate::text::TextIndexParams::default())
            }
            PayloadFieldSchema::Text(params) => Some(params.clone()),
            PayloadFieldSchema::Type(_) | PayloadFieldSchema::Params(_) => None,
        }
    }
}

impl From<PayloadSchemaType> for PayloadFieldSchema {
    fn from(kind: PayloadSchemaType) -> Self {
        PayloadFieldSchema::Type(kind)
    }
}

/// The payload fields a collection indexes, by key (dot paths allowed).
pub type PayloadSchema = BTreeMap<String, PayloadFieldSchema>;
