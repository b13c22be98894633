//! Full-text matching on fields with a text index: text is split into tokens
//! as the index's parameters say (tokenizer, case, length bounds, ASCII
//! folding, stopwords, stemming), and `match.text` needs every query token,
//! `match.text_any` one of them, `match.phrase` all of them in a row. Fields
//! without a text index match by substring, as in Qdrant.

use std::collections::HashSet;

use tessera_types::text::{Stopwords, TextIndexParams, Tokenizer, STOPWORD_LANGUAGES};

use super::FilterError;

/// Turns text into the tokens a text index keeps.
pub(crate) struct TextAnalyzer {
    tokenizer: Tokenizer,
    lowercase: bool,
    ascii_folding: bool,
    min_len: usize,
    max_len: usize,
    stopwords: HashSet<String>,
    stemmer: Option<rust_stemmers::Stemmer>,
}

impl std::fmt::Debug for TextAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextAnalyzer")
            .field("tokenizer", &self.tokenizer)
            .field("stopwords", &self.stopwords.len())
            .field("stemmer", &self.stemmer.is_some())
            .finish()
    }
}

impl TextAnalyzer {
    pub fn new(params: &TextIndexParams) -> Result<TextAnalyzer, FilterError> {
        let mut stopwords = HashSet::new();
        let (languages, custom) = match &params.stopwords {
            None => (Vec::new(), Vec::new()),
            Some(Stopwords::Language(language)) => (vec![language.clone()], Vec::new()),
            Some(Stopwords::Set { languages, custom }) => (
                languages.clone().unwrap_or_default(),
                custom.clone().unwrap_or_default(),
            ),
        };
        for language in &languages {
            let code = STOPWORD_LANGUAGES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(language))
                .map(|(_, code)| *code)
                .ok_or_else(|| {
                    FilterError::Invalid(format!("no stopword list for language `{language}`"))
                })?;
            stopwords.extend(stop_words::get(code));
        }
        stopwords.extend(custom);
        let stemmer = match &params.stemmer {
            None => None,
            Some(s) => Some(rust_stemmers::Stemmer::create(snowball(&s.language)?)),
        };
        let lowercase = params.lowercase.unwrap_or(true);
        let mut analyzer = TextAnalyzer {
            tokenizer: params.tokenizer.unwrap_or_default(),
            lowercase,
            ascii_folding: params.ascii_folding.unwrap_or(false),
            min_len: params.min_token_len.unwrap_or(0),
            max_len: params.max_token_len.unwrap_or(usize::MAX),
            stopwords: HashSet::new(),
            stemmer,
        };
        // Stopwords are compared as tokens are: normalized the same way.
        analyzer.stopwords = stopwords.iter().map(|w| analyzer.normalize(w)).collect();
        Ok(analyzer)
    }

    fn normalize(&self, token: &str) -> String {
        let token = if self.lowercase {
            token.to_lowercase()
        } else {
            token.to_string()
        };
        if self.ascii_folding {
            fold_to_ascii(&token)
        } else {
            token
        }
    }

    /// The tokens of `text`, in order.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let raw: Vec<&str> = match self.tokenizer {
            Tokenizer::Whitespace => text.split_whitespace().collect(),
            Tokenizer::Word | Tokenizer::Prefix => text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|t| !t.is_empty())
                .collect(),
            Tokenizer::Multilingual => multilingual(text),
        };
        raw.into_iter()
            .map(|t| self.normalize(t))
            .filter(|t| {
                let chars = t.chars().count();
                chars >= self.min_len && chars <= self.max_len && !self.stopwords.contains(t)
            })
            .map(|t| match &self.stemmer {
                Some(stemmer) => stemmer.stem(&t).into_owned(),
                None => t,
            })
            .collect()
    }

    /// Whether the document token satisfies the query token: equal, or for the
    /// prefix tokenizer, starting with it.
    pub fn covers(&self, document: &str, query: &str) -> bool {
        match self.tokenizer {
            Tokenizer::Prefix => document.starts_with(query),
            _ => document == query,
        }
    }

    /// `match.text`: every query token is in the text. A query with no tokens
    /// (all stopwords) matches nothing.
    pub fn all(&self, text: &str, query: &[String]) -> bool {
        let tokens = self.tokens(text);
        !query.is_empty()
            && query
                .iter()
                .all(|q| tokens.iter().any(|t| self.covers(t, q)))
    }

    /// `match.text_any`: one query token is in the text.
    pub fn any(&self, text: &str, query: &[String]) -> bool {
        let tokens = self.tokens(text);
        query
            .iter()
            .any(|q| tokens.iter().any(|t| self.covers(t, q)))
    }

    /// `match.phrase`: the query tokens appear in the text one after another.
    pub fn phrase(&self, text: &str, query: &[String]) -> bool {
        let tokens = self.tokens(text);
        !query.is_empty()
            && tokens
                .windows(query.len())
                .any(|window| window.iter().zip(query).all(|(t, q)| self.covers(t, q)))
    }
}

fn snowball(language: &str) -> Result<rust_stemmers::Algorithm, FilterError> {
    use rust_stemmers::Algorithm as A;
    Ok(match language.to_ascii_lowercase().as_str() {
        "arabic" => A::Arabic,
        "danish" => A::Danish,
        "dutch" => A::Dutch,
        "english" => A::English,
        "finnish" => A::Finnish,
        "french" => A::French,
        "german" => A::German,
        "greek" => A::Greek,
        "hungarian" => A::Hungarian,
        "italian" => A::Italian,
        "norwegian" => A::Norwegian,
        "portuguese" => A::Portuguese,
        "romanian" => A::Romanian,
        "russian" => A::Russian,
        "spanish" => A::Spanish,
        "swedish" => A::Swedish,
        "tamil" => A::Tamil,
        "turkish" => A::Turkish,
        other => {
            return Err(FilterError::Invalid(format!(
                "no snowball stemmer for language `{other}`"
            )))
        }
    })
}

/// Words of letters and digits; each CJK ideograph or kana is a word of its own.
fn multilingual(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let ideograph = is_ideograph(c);
        if c.is_alphanumeric() && !ideograph {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            out.push(&text[s..i]);
        }
        if ideograph {
            out.push(&text[i..i + c.len_utf8()]);
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

fn is_ideograph(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF)
}

/// Accented Latin letters as their plain ASCII letter (é → e, ß → ss).
fn fold_to_ascii(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    for c in token.chars() {
        let folded = match c {
            'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
            'À'..='Å' | 'Ā' | 'Ă' | 'Ą' => "A",
            'ç' | 'ć' | 'č' => "c",
            'Ç' | 'Ć' | 'Č' => "C",
            'è'..='ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'È'..='Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
            'ì'..='ï' | 'ī' | 'į' => "i",
            'Ì'..='Ï' | 'Ī' | 'Į' => "I",
            'ñ' | 'ń' | 'ň' => "n",
            'Ñ' | 'Ń' | 'Ň' => "N",
            'ò'..='ö' | 'ø' | 'ō' | 'ő' => "o",
            'Ò'..='Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
            'ù'..='ü' | 'ū' | 'ů' | 'ű' => "u",
            'Ù'..='Ü' | 'Ū' | 'Ů' | 'Ű' => "U",
            'ý' | 'ÿ' => "y",
            'Ý' => "Y",
            'ś' | 'š' => "s",
            'Ś' | 'Š' => "S",
            'ź' | 'ż' | 'ž' => "z",
            'Ź' | 'Ż' | 'Ž' => "Z",
            'ł' => "l",
            'Ł' => "L",
            'ß' => "ss",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(folded);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::text::{Stemmer, StemmerType};

    fn analyzer(params: TextIndexParams) -> TextAnalyzer {
        TextAnalyzer::new(&params).unwrap()
    }

    #[test]
    fn words_are_lowercased_and_matched_whole() {
        let a = analyzer(TextIndexParams::default());
        let q = a.tokens("Quick FOX");
        assert!(a.all("the quick brown fox", &q));
        assert!(!a.all("the quickest brown fox", &q));
        assert!(a.any("a fox", &q));
        assert!(a.phrase("the Quick fox!", &q));
        assert!(!a.phrase("the quick brown fox", &q));
    }

    #[test]
    fn prefixes_stopwords_stems_and_folding() {
        let prefix = analyzer(TextIndexParams {
            tokenizer: Some(Tokenizer::Prefix),
            ..Default::default()
        });
        assert!(prefix.all("searching engines", &prefix.tokens("sea eng")));
        let english = analyzer(TextIndexParams {
            stopwords: Some(Stopwords::Language("english".into())),
            stemmer: Some(Stemmer {
                kind: StemmerType::Snowball,
                language: "english".into(),
            }),
            ascii_folding: Some(true),
            ..Default::default()
        });
        assert_eq!(
            english.tokens("The runners were running"),
            vec!["runner", "run"]
        );
        assert!(english.all("Crème brûlée recipes", &english.tokens("creme recipe")));
        assert!(TextAnalyzer::new(&TextIndexParams {
            stopwords: Some(Stopwords::Language("klingon".into())),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn ideographs_are_tokens_of_their_own() {
        assert_eq!(multilingual("東京 tower"), vec!["東", "京", "tower"]);
    }
}
