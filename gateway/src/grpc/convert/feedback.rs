//! The relevance feedback query from protobuf, with Qdrant's gRPC checks.

use super::*;
use crate::service::{NaiveFeedback, RelevanceFeedback};

pub(super) fn relevance_feedback_from_proto(
    input: q::RelevanceFeedbackInput,
) -> Result<RelevanceFeedback> {
    let target = input.target.ok_or_else(|| bad_input("target is missing"))?;
    let feedback = input
        .feedback
        .into_iter()
        .map(|item| {
            let example = item
                .example
                .ok_or_else(|| bad_input("feedback example is missing"))?;
            Ok((vector_input_from_proto(example)?, item.score))
        })
        .collect::<Result<_>>()?;
    let q::feedback_strategy::Variant::Naive(naive) = input
        .strategy
        .and_then(|s| s.variant)
        .ok_or_else(|| bad_input("strategy is missing"))?;
    if naive.b < 0.0 {
        return Err(TesseraError::validation(format!(
            "[strategy.naive.b: value {} invalid, must be 0.0 or larger]",
            Json::from(naive.b)
        )));
    }
    Ok(RelevanceFeedback {
        target: vector_input_from_proto(target)?,
        feedback,
        strategy: NaiveFeedback {
            a: naive.a,
            b: naive.b,
            c: naive.c,
        },
    })
}
