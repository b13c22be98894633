//! The `text` query's body (Qdrant 1.20): `"text": "..."`, or
//! `"text": {"query": "...", "scoring": {"bm25": {"k": .., "b": ..}}}`.

use serde::Deserialize;
use serde_json::Value;
use tessera_types::text_query::{Bm25Params, TextQuery};
use tessera_types::TesseraError;

use super::query_body::format_error;

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Params(Params),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    query: String,
    #[serde(default)]
    scoring: Option<Scoring>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Scoring {
    Bm25(Bm25Params),
}

pub(super) fn parse(v: Value) -> Result<TextQuery, TesseraError> {
    let input: Input = serde_json::from_value(v).map_err(|e| format_error("text", e))?;
    Ok(match input {
        Input::Text(query) => TextQuery {
            query,
            bm25: Bm25Params::default(),
        },
        Input::Params(Params { query, scoring }) => TextQuery {
            query,
            bm25: match scoring {
                Some(Scoring::Bm25(bm25)) => bm25,
                None => Bm25Params::default(),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_shapes() {
        assert_eq!(parse(json!("dog")).unwrap().query, "dog");
        let q = parse(json!({"query": "dog", "scoring": {"bm25": {"b": 0.5}}})).unwrap();
        assert_eq!(
            q.bm25,
            Bm25Params {
                k: None,
                b: Some(0.5)
            }
        );
        assert!(parse(json!({"query": "dog", "scoring": {"tfidf": {}}})).is_err());
    }
}
