//! The `text` query on one shard: points ranked by BM25 over a payload
//! field's text index (Qdrant 1.20).
//!
//! Definitions, per query term `t` (the query's tokens, as the field's index
//! splits text, each counted once) and point `d` holding the field:
//! - a document is every string value of the field (array elements joined),
//!   split by the index's analyzer; `|d|` is its token count after stopwords;
//! - `tf(t, d)`: tokens of `d` that `t` covers (equal, or for the prefix
//!   tokenizer a token starting with `t`, as `match.text` decides);
//! - `N`: the shard's live points holding the field (only those
//!   `params.idf`'s corpus passes, when given), `n(t)`: those with `tf > 0`;
//! - `IDF(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))`, Qdrant's IDF;
//! - `avgdl`: mean `|d|` over the same `N` points;
//! - `score(d) = Σ IDF(t) · tf·(k + 1) / (tf + k·(1 - b + b·|d| / avgdl))`,
//!   the Okapi BM25 that Qdrant's docs give (`k` 1.2, `b` 0.75 by default).
//!
//! Only points holding a term score, and the request's filter must pass.
//! Statistics are the shard's own, as Qdrant's IDF is.

use tessera_types::idf;
use tessera_types::text_query::{Bm25Params, TextSearchRequest};
use tessera_types::ScoredPoint;

use super::{passes, Shard, ShardError};
use crate::filter::path::JsonPath;
use crate::filter::TextAnalyzer;
use crate::segment::SegmentData;

/// A document's length and its term frequencies, one per query term.
#[derive(Debug, Clone, PartialEq)]
struct Doc {
    len: u64,
    tfs: Vec<u32>,
}

impl Doc {
    fn new<'a>(
        analyzer: &TextAnalyzer,
        texts: impl Iterator<Item = &'a str>,
        terms: &[String],
    ) -> Doc {
        let mut doc = Doc {
            len: 0,
            tfs: vec![0; terms.len()],
        };
        for text in texts {
            for token in analyzer.tokens(text) {
                doc.len += 1;
                for (tf, term) in doc.tfs.iter_mut().zip(terms) {
                    *tf += u32::from(analyzer.covers(&token, term));
                }
            }
        }
        doc
    }

    fn holds_a_term(&self) -> bool {
        self.tfs.iter().any(|&tf| tf > 0)
    }
}

/// The corpus statistics BM25 needs for a query's terms.
#[derive(Debug, Default)]
struct Corpus {
    docs: u64,
    total_len: u64,
    holders: Vec<u64>,
}

impl Corpus {
    fn new(terms: usize) -> Corpus {
        Corpus {
            holders: vec![0; terms],
            ..Corpus::default()
        }
    }

    fn add(&mut self, doc: &Doc) {
        self.docs += 1;
        self.total_len += doc.len;
        for (n, &tf) in self.holders.iter_mut().zip(&doc.tfs) {
            *n += u64::from(tf > 0);
        }
    }

    fn score(&self, doc: &Doc, params: &Bm25Params) -> f32 {
        let (k, b) = (f64::from(params.k()), f64::from(params.b()));
        // An empty corpus (every document of length 0) has nothing to normalize by.
        let avgdl = if self.total_len == 0 {
            1.0
        } else {
            self.total_len as f64 / self.docs as f64
        };
        let norm = k * (1.0 - b + b * doc.len as f64 / avgdl);
        doc.tfs
            .iter()
            .zip(&self.holders)
            .filter(|(&tf, _)| tf > 0)
            .map(|(&tf, &n)| {
                let tf = f64::from(tf);
                f64::from(idf(n, self.docs)) * tf * (k + 1.0) / (tf + norm)
            })
            .sum::<f64>() as f32
    }
}

impl Shard {
    /// The `limit` best points for a text query, best first (equal scores by id).
    pub fn text_search(&self, req: &TextSearchRequest) -> Result<Vec<ScoredPoint>, ShardError> {
        let scored = self
            .inner
            .payload_schema
            .read()
            .get(&req.field)
            .and_then(|f| f.text())
            .is_some_and(|p| p.scoring.is_some());
        let analyzer = self.inner.text_indexes.read().get(&req.field).cloned();
        let (Some(analyzer), true) = (analyzer, scored) else {
            return Err(ShardError::BadInput(format!(
                "field `{}` has no text index with scoring",
                req.field
            )));
        };
        let path = JsonPath::parse(&req.field)
            .map_err(|e| ShardError::BadInput(format!("field `{}`: {e}", req.field)))?;
        let filter = self.inner.compile_filter(req.filter.as_ref())?;
        let corpus_filter = self.inner.compile_filter(req.idf_corpus.as_ref())?;
        let mut terms = analyzer.tokens(&req.query.query);
        terms.sort();
        terms.dedup();

        let mut corpus = Corpus::new(terms.len());
        let mut candidates = Vec::new();
        let mut visit = |data: &SegmentData, row: usize| {
            let payload = data.payload(row);
            let texts: Vec<&str> = path
                .values(&payload)
                .into_iter()
                .filter_map(|v| v.as_str())
                .collect();
            if texts.is_empty() {
                return;
            }
            let doc = Doc::new(&analyzer, texts.into_iter(), &terms);
            if passes(corpus_filter.as_ref(), data, row) {
                corpus.add(&doc);
            }
            if doc.holds_a_term() && passes(filter.as_ref(), data, row) {
                candidates.push((data.ids[row], doc));
            }
        };
        let segments = self.inner.segments();
        {
            let app = segments.appendable.read();
            for row in app.live_rows() {
                visit(&app.data, row);
            }
        }
        for s in &segments.sealed {
            for row in s.live_rows() {
                visit(&s.data, row);
            }
        }

        let mut hits: Vec<ScoredPoint> = candidates
            .into_iter()
            .map(|(id, doc)| ScoredPoint::scored(id, corpus.score(&doc, &req.query.bm25)))
            .filter(|p| req.score_threshold.is_none_or(|t| p.score >= t))
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        hits.truncate(req.limit);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use tessera_types::text::TextIndexParams;

    use super::*;

    const DOCS: [&str; 3] = ["the quick brown fox", "quick quick dog", "lazy dog"];

    fn scores(query: &str, params: Bm25Params) -> Vec<f32> {
        let analyzer = TextAnalyzer::new(&TextIndexParams::default()).unwrap();
        let terms = analyzer.tokens(query);
        let docs: Vec<Doc> = DOCS
            .iter()
            .map(|d| Doc::new(&analyzer, std::iter::once(*d), &terms))
            .collect();
        let mut corpus = Corpus::new(terms.len());
        docs.iter().for_each(|d| corpus.add(d));
        docs.iter().map(|d| corpus.score(d, &params)).collect()
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn bm25_by_hand() {
        // N = 3, avgdl = 9 / 3 = 3; "quick" and "dog" are each in 2 documents:
        // IDF = ln(1 + 1.5 / 2.5) = ln 1.6.
        let idf = 1.6f32.ln();
        // doc 0: tf(quick) 1, |d| 4: 2.2 / (1 + 1.2 (0.25 + 0.75·4/3)) = 0.88.
        // doc 1: tf(quick) 2, tf(dog) 1, |d| 3: 4.4 / 3.2 + 2.2 / 2.2.
        // doc 2: tf(dog) 1, |d| 2: 2.2 / (1 + 1.2 (0.25 + 0.5)).
        let want = [idf * 0.88, idf * (1.375 + 1.0), idf * 2.2 / 1.9];
        assert_close(&scores("Quick dog", Bm25Params::default()), &want);
    }

    #[test]
    fn bm25_params_and_absent_terms() {
        // b = 0: no length normalization; k = 2: tf part 3 tf / (tf + 2).
        let params = Bm25Params {
            k: Some(2.0),
            b: Some(0.0),
        };
        // "fox" is in one document: IDF = ln(1 + 2.5 / 1.5); "cat" in none.
        let idf = (1.0f32 + 2.5 / 1.5).ln();
        assert_close(&scores("fox cat", params), &[idf * 3.0 / 3.0, 0.0, 0.0]);
    }

    #[test]
    fn a_document_is_every_value_of_the_field() {
        let analyzer = TextAnalyzer::new(&TextIndexParams::default()).unwrap();
        let terms = vec!["dog".to_string()];
        let doc = Doc::new(&analyzer, ["dog", "a dog"].into_iter(), &terms);
        assert_eq!(
            doc,
            Doc {
                len: 3,
                tfs: vec![2]
            }
        );
    }
}
