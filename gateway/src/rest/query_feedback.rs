//! The `relevance_feedback` query's body and Qdrant's checks of it.

use serde::Deserialize;
use serde_json::Value;
use tessera_types::TesseraError;

use super::query_body::{format_error, vector_input};
use crate::service::{NaiveFeedback, RelevanceFeedback};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    target: Value,
    feedback: Vec<Item>,
    strategy: Strategy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    example: Value,
    score: f32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Strategy {
    Naive(Naive),
}

/// No defaults: the coefficients are fitted per dataset.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Naive {
    a: f32,
    b: f32,
    c: f32,
}

/// `{"target", "feedback": [{"example", "score"}], "strategy": {"naive": {a, b, c}}}`
/// at `path` of the request.
pub(super) fn parse(value: Value, path: &str) -> Result<RelevanceFeedback, TesseraError> {
    let input: Input =
        serde_json::from_value(value).map_err(|e| format_error("relevance_feedback", e))?;
    let Strategy::Naive(Naive { a, b, c }) = input.strategy;
    if input.feedback.is_empty() {
        return Err(TesseraError::validation(format!(
            "[{path}.__all__: feedback elements must be non-empty]"
        )));
    }
    if b < 0.0 {
        return Err(TesseraError::validation(format!(
            "[{path}.strategy.naive.b: value {} invalid, must be 0.0 or larger]",
            Value::from(b)
        )));
    }
    Ok(RelevanceFeedback {
        target: vector_input(input.target)?,
        feedback: input
            .feedback
            .into_iter()
            .map(|item| Ok((vector_input(item.example)?, item.score)))
            .collect::<Result<_, TesseraError>>()?,
        strategy: NaiveFeedback { a, b, c },
    })
}
