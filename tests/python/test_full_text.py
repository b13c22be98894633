"""Full-text matching: with a text index, `match.text` needs every word of the
query, `match.phrase` the words in a row, `match.text_any` any of them, split
and normalized as the index says (tokenizer, case, stopwords, stemming,
folding); without one, text matches substrings, as in Qdrant."""

from __future__ import annotations

import pytest
from qdrant_client import models

DOCS = {
    1: "The quick brown fox jumps over the lazy dog",
    2: "A quick brown dog",
    3: "Runners were running through the Crème brûlée festival",
    4: "Search engines index searching users",
    5: "brown quick foxes",
}


def match(client, name, key, condition):
    f = models.Filter(must=[models.FieldCondition(key=key, match=condition)])
    points, _ = client.scroll(name, scroll_filter=f, limit=100)
    return sorted(p.id for p in points)


@pytest.fixture
def texts(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=[1.0, 0.0], payload={"plain": t, "words": t, "english": t, "prefix": t})
        for i, t in DOCS.items()
    ])
    client.create_payload_index(collection_name, "words", models.TextIndexParams(
        type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD, lowercase=True), wait=True)
    client.create_payload_index(collection_name, "english", models.TextIndexParams(
        type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD, ascii_folding=True,
        stopwords=models.Language.ENGLISH,
        stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.ENGLISH)), wait=True)
    client.create_payload_index(collection_name, "prefix", models.TextIndexParams(
        type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.PREFIX), wait=True)
    return collection_name


def test_without_an_index_text_matches_substrings(texts, client):
    assert match(client, texts, "plain", models.MatchText(text="quick brown")) == [1, 2]
    assert match(client, texts, "plain", models.MatchText(text="uick")) == [1, 2, 5]


def test_an_index_matches_words_in_any_order(texts, client):
    assert match(client, texts, "words", models.MatchText(text="Brown QUICK")) == [1, 2, 5]
    assert match(client, texts, "words", models.MatchText(text="uick")) == []
    assert match(client, texts, "words", models.MatchPhrase(phrase="quick brown")) == [1, 2]
    assert match(client, texts, "words", models.MatchTextAny(text_any="lazy foxes")) == [1, 5]


def test_stopwords_stemming_and_folding(texts, client):
    assert match(client, texts, "english", models.MatchText(text="the run")) == [3]
    assert match(client, texts, "english", models.MatchText(text="creme brulee")) == [3]
    assert match(client, texts, "english", models.MatchText(text="fox")) == [1, 5]


def test_prefix_tokenizer_matches_word_beginnings(texts, client):
    assert match(client, texts, "prefix", models.MatchText(text="sea eng")) == [4]
    assert match(client, texts, "prefix", models.MatchText(text="bro qui")) == [1, 2, 5]


def test_an_unknown_stopword_language_is_refused(texts, rest):
    r = rest.put(f"/collections/{texts}/index?wait=true", json={
        "field_name": "other", "field_schema": {"type": "text", "stopwords": "klingon"}})
    assert r.status_code in (400, 422), r.text
    assert "other" not in rest.get(f"/collections/{texts}").json()["result"]["payload_schema"]
