//! Full-text index parameters, in Qdrant's shape: how a text payload value is
//! split into tokens for `match.text`, `match.phrase` and `match.text_any`.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TesseraError};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextIndexType {
    #[default]
    Text,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tokenizer {
    /// Runs of letters and digits.
    #[default]
    Word,
    /// Runs of anything but whitespace.
    Whitespace,
    /// Words, each also standing for every prefix of it (search-as-you-type).
    Prefix,
    /// Words in any script; ideographs (CJK) are one token each.
    Multilingual,
}

/// Stopwords: a language's list, or languages and a custom list together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stopwords {
    Language(String),
    Set {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        languages: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom: Option<Vec<String>>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StemmerType {
    #[default]
    Snowball,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stemmer {
    #[serde(rename = "type")]
    pub kind: StemmerType,
    pub language: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextIndexParams {
    #[serde(rename = "type")]
    pub kind: TextIndexType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<Tokenizer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowercase: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ascii_folding: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrase_matching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopwords: Option<Stopwords>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stemmer: Option<Stemmer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
    /// Ranking by this field (the `text` query); `true` in a request stands
    /// for BM25 and `false` for none, as in Qdrant 1.20.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scoring::deserialize"
    )]
    pub scoring: Option<TextScoring>,
}

/// How a text index ranks documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextScoringType {
    #[default]
    Bm25,
}

/// `{"type": "bm25"}`: the index keeps what BM25 needs; `k` and `b` are the
/// query's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextScoring {
    #[serde(rename = "type")]
    pub kind: TextScoringType,
}

mod scoring {
    use serde::{Deserialize, Deserializer};

    use super::TextScoring;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Flag(bool),
        Params(TextScoring),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TextScoring>, D::Error> {
        Ok(match Option::<Shape>::deserialize(d)? {
            None | Some(Shape::Flag(false)) => None,
            Some(Shape::Flag(true)) => Some(TextScoring::default()),
            Some(Shape::Params(params)) => Some(params),
        })
    }
}

/// Qdrant's stopword language names and the lists' codes.
pub const STOPWORD_LANGUAGES: &[(&str, &str)] = &[
    ("arabic", "ar"),
    ("azerbaijani", "az"),
    ("danish", "da"),
    ("dutch", "nl"),
    ("english", "en"),
    ("finnish", "fi"),
    ("french", "fr"),
    ("german", "de"),
    ("greek", "el"),
    ("hungarian", "hu"),
    ("indonesian", "id"),
    ("italian", "it"),
    ("kazakh", "kk"),
    ("nepali", "ne"),
    ("norwegian", "no"),
    ("portuguese", "pt"),
    ("romanian", "ro"),
    ("russian", "ru"),
    ("slovene", "sl"),
    ("spanish", "es"),
    ("swedish", "sv"),
    ("tajik", "tg"),
    ("turkish", "tr"),
];

/// Languages the snowball stemmers cover.
pub const STEMMER_LANGUAGES: &[&str] = &[
    "arabic",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "italian",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
];

impl TextIndexParams {
    /// Refuses languages without a stopword list or a stemmer.
    pub fn validate(&self) -> Result<()> {
        let languages = match &self.stopwords {
            None => Vec::new(),
            Some(Stopwords::Language(l)) => vec![l.clone()],
            Some(Stopwords::Set { languages, .. }) => languages.clone().unwrap_or_default(),
        };
        for language in languages {
            if !STOPWORD_LANGUAGES
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(&language))
            {
                return Err(TesseraError::bad_input(format!(
                    "No stopword list for language `{language}`"
                )));
            }
        }
        if let Some(stemmer) = &self.stemmer {
            if !STEMMER_LANGUAGES
                .iter()
                .any(|name| name.eq_ignore_ascii_case(&stemmer.language))
            {
                return Err(TesseraError::bad_input(format!(
                    "No snowball stemmer for language `{}`",
                    stemmer.language
                )));
            }
        }
        Ok(())
    }
}
