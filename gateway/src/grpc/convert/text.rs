//! The `text` query and a text index's `scoring` (Qdrant 1.20) between
//! protobuf and the domain types.

use t::text::{Stopwords, TextIndexParams, TextScoring, TextScoringType, Tokenizer};
use t::text_query::{Bm25Params, TextQuery};

use super::*;

pub(super) fn text_query_from_proto(query: q::TextQuery) -> TextQuery {
    let bm25 = match query.scoring {
        Some(q::text_query::Scoring::Bm25(p)) => Bm25Params { k: p.k, b: p.b },
        None => Bm25Params::default(),
    };
    TextQuery {
        query: query.query,
        bm25,
    }
}

pub(super) fn text_scoring_from_proto(
    scoring: Option<q::TextScoringParams>,
) -> Result<Option<TextScoring>> {
    scoring
        .map(|s| match q::TextScoringType::try_from(s.r#type) {
            Ok(q::TextScoringType::Bm25) => Ok(TextScoring {
                kind: TextScoringType::Bm25,
            }),
            Err(_) => Err(bad_input(format!("Unknown text scoring type {}", s.r#type))),
        })
        .transpose()
}

/// A text index's parameters for collection info.
pub(super) fn text_index_params_to_proto(p: &TextIndexParams) -> q::PayloadIndexParams {
    let tokenizer = match p.tokenizer {
        None => q::TokenizerType::Unknown,
        Some(Tokenizer::Word) => q::TokenizerType::Word,
        Some(Tokenizer::Whitespace) => q::TokenizerType::Whitespace,
        Some(Tokenizer::Prefix) => q::TokenizerType::Prefix,
        Some(Tokenizer::Multilingual) => q::TokenizerType::Multilingual,
    };
    let stopwords = p.stopwords.as_ref().map(|s| match s {
        Stopwords::Language(language) => q::StopwordsSet {
            languages: vec![language.clone()],
            custom: Vec::new(),
        },
        Stopwords::Set { languages, custom } => q::StopwordsSet {
            languages: languages.clone().unwrap_or_default(),
            custom: custom.clone().unwrap_or_default(),
        },
    });
    let stemmer = p.stemmer.as_ref().map(|s| q::StemmingAlgorithm {
        stemming_params: Some(q::stemming_algorithm::StemmingParams::Snowball(
            q::SnowballParams {
                language: s.language.clone(),
            },
        )),
    });
    q::PayloadIndexParams {
        index_params: Some(q::payload_index_params::IndexParams::TextIndexParams(
            q::TextIndexParams {
                tokenizer: tokenizer as i32,
                lowercase: p.lowercase,
                min_token_len: p.min_token_len.map(|n| n as u64),
                max_token_len: p.max_token_len.map(|n| n as u64),
                on_disk: p.on_disk,
                stopwords,
                phrase_matching: p.phrase_matching,
                stemmer,
                ascii_folding: p.ascii_folding,
                enable_hnsw: p.enable_hnsw,
                memory: None,
                scoring: p.scoring.map(|s| q::TextScoringParams {
                    r#type: match s.kind {
                        TextScoringType::Bm25 => q::TextScoringType::Bm25 as i32,
                    },
                }),
                nested: None,
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_query_and_scoring() {
        let query = text_query_from_proto(q::TextQuery {
            query: "quick dog".into(),
            scoring: Some(q::text_query::Scoring::Bm25(q::Bm25Params {
                k: Some(2.0),
                b: None,
            })),
        });
        assert_eq!(
            query.bm25,
            Bm25Params {
                k: Some(2.0),
                b: None
            }
        );
        let bm25 = Some(q::TextScoringParams { r#type: 0 });
        assert_eq!(
            text_scoring_from_proto(bm25).unwrap(),
            Some(TextScoring::default())
        );
        assert!(text_scoring_from_proto(Some(q::TextScoringParams { r#type: 7 })).is_err());
    }
}
