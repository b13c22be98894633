//! Score formulas (`query: {"formula": ...}`): an expression over the
//! prefetches' scores, payload values and conditions that rescores the
//! prefetched points, in the shape of Qdrant's REST contract.

use serde::{Deserialize, Serialize};

use crate::filter::Condition;
use crate::geo::GeoPoint;

/// A formula query: the expression, and values for variables a point lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Formula {
    pub formula: Expression,
    #[serde(default)]
    pub defaults: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expression {
    Constant(f32),
    /// `$score` (the first prefetch's score), `$score[i]`, or a payload key.
    Variable(String),
    Mult {
        mult: Vec<Expression>,
    },
    Sum {
        sum: Vec<Expression>,
    },
    Neg {
        neg: Box<Expression>,
    },
    Abs {
        abs: Box<Expression>,
    },
    Div {
        div: Box<DivParams>,
    },
    Sqrt {
        sqrt: Box<Expression>,
    },
    Pow {
        pow: Box<PowParams>,
    },
    Exp {
        exp: Box<Expression>,
    },
    Log10 {
        log10: Box<Expression>,
    },
    Ln {
        ln: Box<Expression>,
    },
    GeoDistance {
        geo_distance: GeoDistance,
    },
    /// A constant moment, as seconds since the epoch.
    Datetime {
        datetime: String,
    },
    /// A payload key holding a datetime, as seconds since the epoch.
    DatetimeKey {
        datetime_key: String,
    },
    LinDecay {
        lin_decay: Box<Decay>,
    },
    ExpDecay {
        exp_decay: Box<Decay>,
    },
    GaussDecay {
        gauss_decay: Box<Decay>,
    },
    /// 1 when the point matches the condition, else 0.
    Condition(Box<Condition>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DivParams {
    pub left: Expression,
    pub right: Expression,
    #[serde(default)]
    pub by_zero_default: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowParams {
    pub base: Expression,
    pub exponent: Expression,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoDistance {
    pub origin: GeoPoint,
    /// The payload key holding the destination `{lat, lon}`.
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decay {
    pub x: Expression,
    #[serde(default)]
    pub target: Option<Expression>,
    #[serde(default)]
    pub scale: Option<f32>,
    #[serde(default)]
    pub midpoint: Option<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_parse_in_qdrants_shape() {
        let f: Formula = serde_json::from_value(serde_json::json!({
            "formula": {"sum": ["$score", {"mult": [0.5, {"key": "tag", "match": {"any": ["h1"]}}]},
                {"gauss_decay": {"x": {"geo_distance": {"origin": {"lat": 1.0, "lon": 2.0}, "to": "loc"}}, "scale": 100.0}}]},
            "defaults": {"price": 1}
        }))
        .unwrap();
        let Expression::Sum { sum } = &f.formula else {
            panic!("a sum")
        };
        assert_eq!(sum[0], Expression::Variable("$score".into()));
        assert!(
            matches!(&sum[1], Expression::Mult { mult } if matches!(mult[1], Expression::Condition(_)))
        );
        assert!(matches!(&sum[2], Expression::GaussDecay { .. }));
    }
}
