//! The `qdrant/bm25` model, computed as Qdrant 1.15+ computes it, so a sparse
//! vector written or queried here equals Qdrant's (and FastEmbed's
//! `Qdrant/bm25`) index for index and bit for bit: split words, lowercase,
//! drop stopwords, Snowball-stem, hash each token with MurmurHash3 to its
//! dimension; a document's weights are BM25's term-frequency part (IDF is the
//! collection's `modifier: idf`, applied at search time), a query's are 1.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use rust_stemmers::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_types::text::{Stopwords, Tokenizer};
use tessera_types::{SparseVector, TesseraError};

type Result<T> = std::result::Result<T, TesseraError>;

/// Stemmer and stopwords follow this language when the options name none.
const DEFAULT_LANGUAGE: &str = "english";

/// `options` of a `qdrant/bm25` Document: Qdrant's `Bm25Config` with its text
/// preprocessing fields. Unknown keys are ignored, as Qdrant ignores them.
#[derive(Deserialize)]
struct Bm25Config {
    #[serde(default = "default_k")]
    k: f64,
    #[serde(default = "default_b")]
    b: f64,
    #[serde(default = "default_avg_len")]
    avg_len: f64,
    #[serde(default)]
    tokenizer: Tokenizer,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    lowercase: Option<bool>,
    #[serde(default)]
    ascii_folding: Option<bool>,
    #[serde(default)]
    stopwords: Option<Stopwords>,
    #[serde(default)]
    stemmer: Option<StemmerConfig>,
    #[serde(default)]
    min_token_len: Option<usize>,
    #[serde(default)]
    max_token_len: Option<usize>,
}

fn default_k() -> f64 {
    1.2
}

fn default_b() -> f64 {
    0.75
}

fn default_avg_len() -> f64 {
    256.0
}

/// `{"type": "snowball", "language": ...}`, or `{"type": "none"}` to stem
/// nothing even where the language has a stemmer.
#[derive(Deserialize)]
#[serde(untagged)]
enum StemmerConfig {
    Snowball {
        #[serde(rename = "type")]
        _kind: SnowballTag,
        language: String,
    },
    Disabled {
        #[serde(rename = "type")]
        _kind: NoneTag,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SnowballTag {
    Snowball,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum NoneTag {
    None,
}

/// Qdrant's stopword languages (name, alias) and, where the `stop-words`
/// crate's NLTK list has exactly Qdrant's words, its code there. The others'
/// lists differ or are missing there, so they are refused rather than
/// embedded into vectors Qdrant would not produce.
const STOPWORD_LANGUAGES: &[(&str, &str, Option<&str>)] = &[
    ("arabic", "ar", None),
    ("azerbaijani", "az", Some("az")),
    ("basque", "eu", None),
    ("bengali", "bn", None),
    ("catalan", "ca", None),
    ("chinese", "zh", None),
    ("danish", "da", Some("da")),
    ("dutch", "nl", Some("nl")),
    ("english", "en", Some("en")),
    ("finnish", "fi", Some("fi")),
    ("french", "fr", Some("fr")),
    ("german", "de", Some("de")),
    ("greek", "el", Some("el")),
    ("hebrew", "he", None),
    ("hinglish", "hi-en", None),
    ("hungarian", "hu", Some("hu")),
    ("indonesian", "id", Some("id")),
    ("italian", "it", Some("it")),
    ("japanese", "jp", None),
    ("kazakh", "kk", None),
    ("nepali", "ne", Some("ne")),
    ("norwegian", "no", Some("no")),
    ("portuguese", "pt", None),
    ("romanian", "ro", Some("ro")),
    ("russian", "ru", Some("ru")),
    ("slovene", "sl", Some("sl")),
    ("spanish", "es", Some("es")),
    ("swedish", "sv", Some("sv")),
    ("tajik", "tg", Some("tg")),
    ("turkish", "tr", Some("tr")),
];

/// Qdrant's Snowball languages (name, alias) and the algorithm here; upstream
/// `rust-stemmers` has no Armenian (Qdrant's fork adds it).
const SNOWBALL_LANGUAGES: &[(&str, &str, Option<Algorithm>)] = &[
    ("arabic", "ar", Some(Algorithm::Arabic)),
    ("armenian", "hy", None),
    ("danish", "da", Some(Algorithm::Danish)),
    ("dutch", "nl", Some(Algorithm::Dutch)),
    ("english", "en", Some(Algorithm::English)),
    ("finnish", "fi", Some(Algorithm::Finnish)),
    ("french", "fr", Some(Algorithm::French)),
    ("german", "de", Some(Algorithm::German)),
    ("greek", "el", Some(Algorithm::Greek)),
    ("hungarian", "hu", Some(Algorithm::Hungarian)),
    ("italian", "it", Some(Algorithm::Italian)),
    ("norwegian", "no", Some(Algorithm::Norwegian)),
    ("portuguese", "pt", Some(Algorithm::Portuguese)),
    ("romanian", "ro", Some(Algorithm::Romanian)),
    ("russian", "ru", Some(Algorithm::Russian)),
    ("spanish", "es", Some(Algorithm::Spanish)),
    ("swedish", "sv", Some(Algorithm::Swedish)),
    ("tamil", "ta", Some(Algorithm::Tamil)),
    ("turkish", "tr", Some(Algorithm::Turkish)),
];

/// The entry of `table` that `language` names: exactly, or by its alias, as
/// Qdrant parses language names (case matters).
fn lookup<'t, T>(table: &'t [(&str, &str, T)], language: &str) -> Option<(&'t str, &'t T)> {
    table
        .iter()
        .find(|(name, alias, _)| *name == language || *alias == language)
        .map(|(name, _, value)| (*name, value))
}

/// Parsing the crate's lists is not free: each list is read once.
static STOPWORD_LISTS: LazyLock<HashMap<&'static str, Vec<String>>> = LazyLock::new(|| {
    STOPWORD_LANGUAGES
        .iter()
        .filter_map(|(_, _, code)| *code)
        .map(|code| (code, stop_words::get(code)))
        .collect()
});

fn stopword_list(language: &str) -> Result<&'static [String]> {
    match lookup(STOPWORD_LANGUAGES, language) {
        Some((_, Some(code))) => Ok(&STOPWORD_LISTS[code]),
        Some((name, None)) => Err(TesseraError::Unimplemented(format!(
            "BM25 stopwords for {name}: Tessera has Qdrant's lists for {}",
            available(STOPWORD_LANGUAGES)
        ))),
        // What Qdrant's parse of the options says of a language it lacks.
        None => Err(invalid_config(
            "data did not match any variant of untagged enum StopwordsInterface",
        )),
    }
}

fn snowball(language: &str) -> Result<Option<Algorithm>> {
    match lookup(SNOWBALL_LANGUAGES, language) {
        None => Ok(None),
        Some((_, Some(algorithm))) => Ok(Some(*algorithm)),
        Some((name, None)) => Err(TesseraError::Unimplemented(format!(
            "the BM25 stemmer for {name}: Tessera stems {}",
            available(SNOWBALL_LANGUAGES)
        ))),
    }
}

fn available<T>(table: &[(&str, &str, Option<T>)]) -> String {
    let names: Vec<&str> = table
        .iter()
        .filter(|(_, _, v)| v.is_some())
        .map(|(name, _, _)| *name)
        .collect();
    names.join(", ")
}

/// Qdrant's text for options that do not parse: the Debug form of a
/// serde_json error made from a value, so at line 0, column 0.
fn invalid_config(message: &str) -> TesseraError {
    TesseraError::bad_input(format!(
        "Invalid BM25 config: Error({message:?}, line: 0, column: 0)"
    ))
}

/// A BM25 embedder for one set of options.
pub struct Bm25 {
    k: f64,
    b: f64,
    avg_len: f64,
    tokenizer: Tokenizer,
    lowercase: bool,
    stopwords: HashSet<String>,
    stemmer: Option<rust_stemmers::Stemmer>,
    min_len: Option<usize>,
    max_len: Option<usize>,
}

impl Bm25 {
    /// Reads `options` as Qdrant does: defaults for what is absent, the
    /// stemmer and stopwords of `language` (English by default) unless given;
    /// a language Qdrant does not know disables both.
    pub fn new(options: Map<String, Value>) -> Result<Bm25> {
        let config: Bm25Config = serde_json::from_value(Value::Object(options))
            .map_err(|e| TesseraError::bad_input(format!("Invalid BM25 config: {e:?}")))?;
        let (k, b, avg_len) = (config.k, config.b, config.avg_len);
        if !k.is_finite() || k < 0.0 {
            return Err(TesseraError::bad_input(format!(
                "BM25 k1 must be finite and >= 0, got {k}"
            )));
        }
        if !b.is_finite() || !(0.0..=1.0).contains(&b) {
            return Err(TesseraError::bad_input(format!(
                "BM25 b must be finite and in [0.0, 1.0], got {b}"
            )));
        }
        if !avg_len.is_finite() || avg_len <= 0.0 {
            return Err(TesseraError::bad_input(format!(
                "BM25 avg_doc_len must be finite and > 0, got {avg_len}"
            )));
        }
        if config.tokenizer == Tokenizer::Multilingual {
            return Err(TesseraError::Unimplemented(
                "the multilingual tokenizer for BM25: use word, whitespace or prefix".into(),
            ));
        }
        if config.ascii_folding == Some(true) {
            return Err(TesseraError::Unimplemented("ascii_folding for BM25".into()));
        }
        let language = config.language.as_deref().unwrap_or(DEFAULT_LANGUAGE);
        let algorithm = match &config.stemmer {
            None => snowball(language)?,
            Some(StemmerConfig::Disabled { .. }) => None,
            Some(StemmerConfig::Snowball { language, .. }) => {
                Some(snowball(language)?.ok_or_else(|| {
                    invalid_config(
                        "data did not match any variant of untagged enum StemmingAlgorithm",
                    )
                })?)
            }
        };
        let lowercase = config.lowercase.unwrap_or(true);
        let words: Vec<&String> = match &config.stopwords {
            None if lookup(STOPWORD_LANGUAGES, language).is_none() => Vec::new(),
            None => stopword_list(language)?.iter().collect(),
            Some(Stopwords::Language(language)) => stopword_list(language)?.iter().collect(),
            Some(Stopwords::Set { languages, custom }) => {
                let mut words = Vec::new();
                for language in languages.iter().flatten() {
                    words.extend(stopword_list(language)?);
                }
                words.extend(custom.iter().flatten());
                words
            }
        };
        // Tokens are compared after lowercasing, so the list is lowercased too.
        let stopwords = words
            .into_iter()
            .map(|w| {
                if lowercase {
                    w.to_lowercase()
                } else {
                    w.clone()
                }
            })
            .collect();
        Ok(Bm25 {
            k,
            b,
            avg_len,
            tokenizer: config.tokenizer,
            lowercase,
            stopwords,
            stemmer: algorithm.map(rust_stemmers::Stemmer::create),
            min_len: config.min_token_len,
            max_len: config.max_token_len,
        })
    }

    /// A document's vector: for each distinct token, BM25's saturated term
    /// frequency, `n (k + 1) / (n + k (1 - b + b len / avg_len))`, in f64 with
    /// Qdrant's fused multiply-add, stored as f32.
    pub fn embed_document(&self, text: &str) -> SparseVector {
        let tokens = self.document_tokens(text);
        let doc_len = tokens.len() as f64;
        let mut counts: Vec<(&str, u32)> = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for token in &tokens {
            let slot = *seen.entry(token).or_insert_with(|| {
                counts.push((token, 0));
                counts.len() - 1
            });
            counts[slot].1 += 1;
        }
        let (k, b) = (self.k, self.b);
        let weights: BTreeMap<u32, f32> = counts
            .into_iter()
            .map(|(token, n)| {
                let n = f64::from(n);
                let tf = n * (k + 1.0) / k.mul_add(1.0 - b + b * doc_len / self.avg_len, n);
                (token_id(token), tf as f32)
            })
            .collect();
        let (indices, values) = weights.into_iter().unzip();
        SparseVector { indices, values }
    }

    /// A query's vector: weight 1 for each distinct token.
    pub fn embed_query(&self, text: &str) -> SparseVector {
        let mut indices: Vec<u32> = self
            .query_tokens(text)
            .iter()
            .map(|t| token_id(t))
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let values = vec![1.0; indices.len()];
        SparseVector { indices, values }
    }

    /// Lowercase, drop stopwords, stem, then drop tokens outside the length
    /// bounds (the upper one only where the tokenizer checks it), in Qdrant's
    /// order: stopwords are matched before stemming, lengths after.
    fn process(&self, token: &str, check_max_len: bool) -> Option<String> {
        if token.is_empty() {
            return None;
        }
        let token = self.lowercased(token);
        if self.stopwords.contains(&token) {
            return None;
        }
        let token = self.stemmed(token);
        let len = token.chars().count();
        let too_long = check_max_len && self.max_len.is_some_and(|max| len > max);
        if self.min_len.is_some_and(|min| len < min) || too_long {
            return None;
        }
        Some(token)
    }

    fn lowercased(&self, token: &str) -> String {
        if self.lowercase {
            token.to_lowercase()
        } else {
            token.to_string()
        }
    }

    fn stemmed(&self, token: String) -> String {
        match &self.stemmer {
            Some(stemmer) => stemmer.stem(&token).into_owned(),
            None => token,
        }
    }

    fn document_tokens(&self, text: &str) -> Vec<String> {
        match self.tokenizer {
            Tokenizer::Whitespace => text
                .split_whitespace()
                .filter_map(|t| self.process(t, true))
                .collect(),
            Tokenizer::Prefix => self.prefixes(text),
            // Multilingual is refused when the options are read.
            Tokenizer::Word | Tokenizer::Multilingual => {
                words(text).filter_map(|t| self.process(t, true)).collect()
            }
        }
    }

    /// The prefix tokenizer's document side: every prefix of each processed
    /// word from `min_token_len` (1) to `max_token_len` chars, the word
    /// itself last.
    fn prefixes(&self, text: &str) -> Vec<String> {
        let min = self.min_len.unwrap_or(1);
        let max = self.max_len.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for word in words(text) {
            let Some(word) = self.process(word, false) else {
                continue;
            };
            for n in min..=max {
                match word.char_indices().nth(n) {
                    Some((end, _)) => out.push(word[..end].to_string()),
                    None => {
                        out.push(word);
                        break;
                    }
                }
            }
        }
        out
    }

    fn query_tokens(&self, text: &str) -> Vec<String> {
        match self.tokenizer {
            // A query word stands for its own prefix: no stopwords (a word
            // being typed may start like one), cut at `max_token_len` chars.
            Tokenizer::Prefix => words(text)
                .filter(|w| !w.is_empty())
                .filter_map(|word| {
                    let mut word = self.stemmed(self.lowercased(word));
                    if self.min_len.is_some_and(|min| word.chars().count() < min) {
                        return None;
                    }
                    if let Some((end, _)) = self.max_len.and_then(|n| word.char_indices().nth(n)) {
                        word.truncate(end);
                    }
                    Some(word)
                })
                .collect(),
            _ => self.document_tokens(text),
        }
    }
}

/// Qdrant's word split: every char that is not a letter or digit separates.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
}

/// A token's dimension: MurmurHash3 (x86, 32-bit, seed 0) of its UTF-8
/// bytes, as a signed integer's absolute value (as FastEmbed's
/// `abs(mmh3.hash(token))`).
pub fn token_id(token: &str) -> u32 {
    (murmur3_32(token.as_bytes(), 0) as i32).unsigned_abs()
}

/// MurmurHash3_x86_32 (Austin Appleby's public-domain reference), little-endian
/// blocks. Small enough to keep here rather than depend on a crate for it.
fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h = (h ^ mix(k))
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, byte| (k << 8) | u32::from(*byte));
        h ^= mix(k);
    }
    // The length is mixed in modulo 2^32, as the reference's `int len`.
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bm25(options: Value) -> Bm25 {
        let Value::Object(options) = options else {
            panic!("options are an object")
        };
        Bm25::new(options).unwrap()
    }

    fn pairs(v: &SparseVector) -> Vec<(u32, f32)> {
        v.indices
            .iter()
            .copied()
            .zip(v.values.iter().copied())
            .collect()
    }

    #[test]
    fn murmur3_gives_the_reference_check_values() {
        assert_eq!(murmur3_32(b"hello", 0), 0x248B_FA47);
        assert_eq!(murmur3_32(b"fear", 0), 2_862_024_902);
        // Published MurmurHash3_x86_32 vectors: empty input with seeds, tails of 1-3 bytes.
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514E_28B7);
        assert_eq!(murmur3_32(b"", 0xffff_ffff), 0x81F1_6F39);
        assert_eq!(murmur3_32(&[0x21, 0x43, 0x65, 0x87], 0), 0xF55B_516B);
        assert_eq!(murmur3_32(&[0x21, 0x43, 0x65], 0), 0x7E4A_8634);
        assert_eq!(murmur3_32(&[0x21, 0x43], 0), 0xA0F7_B07A);
        assert_eq!(murmur3_32(&[0x21], 0), 0x7266_1CF4);
    }

    #[test]
    fn tokens_hash_to_qdrants_indices() {
        for (token, index) in [
            ("", 0),
            ("hello", 613_153_351),
            ("fear", 1_432_942_394),
            ("the", 1_132_748_958),
            ("run", 243_905_464),
            ("univers", 482_863_870),
            ("acknowledg", 849_820_344),
            ("world", 74_040_069),
        ] {
            assert_eq!(token_id(token), index, "{token}");
        }
    }

    #[test]
    fn the_crates_english_stopwords_are_qdrants() {
        let english = stopword_list("english").unwrap();
        assert_eq!(english.len(), 179);
        assert_eq!(&english[..5], ["i", "me", "my", "myself", "we"]);
        assert_eq!(english.last().map(String::as_str), Some("wouldn't"));
        assert_eq!(stopword_list("en").unwrap(), english);
    }

    #[test]
    fn documents_weigh_term_frequencies_as_qdrant() {
        let default = bm25(json!({}));
        assert_eq!(
            pairs(&default.embed_document("Hello World")),
            [(74_040_069, 1.683_203_8), (613_153_351, 1.683_203_8)]
        );
        // Both words stem to "run": one token seen twice.
        assert_eq!(
            pairs(&default.embed_document("running run")),
            [(243_905_464, 1.907_213)]
        );
        let fox = default.embed_document("the quick brown fox jumps over the lazy dog");
        assert_eq!(
            fox.indices,
            [
                226_376_294,
                741_580_288,
                771_291_085,
                1_312_749_093,
                1_621_867_415,
                1_913_189_942
            ]
        );
        assert!(fox.values.iter().all(|v| *v == 1.665_286_8));
        // Qdrant's unit test: no stopwords or stemming, avg_len 5.
        let plain = bm25(json!({"avg_len": 5, "stopwords": {}, "stemmer": {"type": "none"}}));
        let the = plain.embed_document("the cat sat on the");
        assert_eq!(
            the.values[the.indices.binary_search(&1_132_748_958).unwrap()],
            1.375
        );
        assert_eq!(plain.embed_document("running run").indices.len(), 2);
        // Stopwords alone leave nothing, which is an empty vector.
        assert_eq!(
            default.embed_document("The a an and or but"),
            SparseVector::default()
        );
    }

    #[test]
    fn queries_weigh_each_distinct_token_one() {
        let default = bm25(json!({"model": "ignored", "options": null}));
        assert_eq!(
            pairs(&default.embed_query("I should not fear")),
            [(1_432_942_394, 1.0)]
        );
        assert_eq!(
            pairs(&default.embed_query("It's universally acknowledged, universally")),
            [(482_863_870, 1.0), (849_820_344, 1.0)]
        );
    }

    /// The scores Qdrant's own BM25 test gives (no IDF): a query's weights are
    /// 1, so a score is the sum of the document's weights of the query tokens.
    #[test]
    fn scores_of_qdrants_test_corpus() {
        let bm25 = bm25(json!({}));
        let score = |query: &str, doc: &str| bm25.embed_query(query).dot(&bm25.embed_document(doc));
        assert_eq!(
            score(
                "I should not fear",
                "I must not fear. Fear is the mind-killer."
            ),
            1.898_533_6
        );
        let zombie = "It's a truth universally acknowledged that a zombie in possession of brains must be in want of more brains.";
        let universe = "In the beginning, the universe was created. This has made a lot of people very angry and been widely regarded as a bad move.";
        assert_eq!(score("It's universally acknowledged", zombie), 3.304_194_7);
        assert_eq!(
            score("It's universally acknowledged", universe),
            1.643_419_9
        );
    }

    #[test]
    fn tokenizers_language_and_lengths() {
        let whitespace = bm25(json!({"tokenizer": "whitespace", "stemmer": {"type": "none"}}));
        assert_eq!(
            whitespace.document_tokens("It's Fear's mind-killer"),
            ["fear's", "mind-killer"]
        );
        // Lengths count after stemming: "running" is "run", too short; "killer" too long.
        let word = bm25(json!({"min_token_len": 4, "max_token_len": 5}));
        assert_eq!(
            word.document_tokens("Fear is the mind-killer, running"),
            ["fear", "mind"]
        );
        let prefix = bm25(json!({"tokenizer": "prefix", "min_token_len": 2, "max_token_len": 4}));
        assert_eq!(prefix.document_tokens("the Hello"), ["he", "hel", "hell"]);
        assert_eq!(prefix.query_tokens("The Hello"), ["the", "hell"]);
        let german = bm25(json!({"language": "de"}));
        assert_eq!(
            german.document_tokens("Die Häuser und Katzen"),
            ["haus", "katz"]
        );
        let keep_case = bm25(
            json!({"lowercase": false, "stemmer": {"type": "snowball", "language": "english"}}),
        );
        assert_eq!(keep_case.document_tokens("The Running the"), ["The", "Run"]);
        // A language Qdrant does not know: neither stemmer nor stopwords.
        let none = bm25(json!({"language": "none"}));
        assert_eq!(none.document_tokens("the running"), ["the", "running"]);
        let custom = bm25(json!({"stopwords": {"languages": ["english"], "custom": ["Fear"]}}));
        assert_eq!(custom.document_tokens("I must not fear"), ["must"]);
    }

    #[test]
    fn bad_options_are_refused_with_qdrants_texts() {
        let err = |options: Value| match Bm25::new(options.as_object().unwrap().clone()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{options} accepted"),
        };
        assert_eq!(
            err(json!({"k": "x"})),
            "Wrong input: Invalid BM25 config: Error(\"invalid type: string \\\"x\\\", expected f64\", line: 0, column: 0)"
        );
        assert_eq!(
            err(json!({"k": -1})),
            "Wrong input: BM25 k1 must be finite and >= 0, got -1"
        );
        assert_eq!(
            err(json!({"b": 1.5})),
            "Wrong input: BM25 b must be finite and in [0.0, 1.0], got 1.5"
        );
        assert_eq!(
            err(json!({"avg_len": 0})),
            "Wrong input: BM25 avg_doc_len must be finite and > 0, got 0"
        );
        assert!(err(json!({"tokenizer": "bogus"})).contains("unknown variant `bogus`"));
        assert!(err(json!({"min_token_len": 2.0})).contains("expected usize"));
        assert!(err(json!({"language": "chinese"})).starts_with("Not implemented"));
        assert!(err(json!({"tokenizer": "multilingual"})).starts_with("Not implemented"));
    }
}
