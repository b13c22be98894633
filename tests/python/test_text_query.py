"""The `text` query (Qdrant 1.20): points ranked by BM25 over the text index
of the payload field named by `using`, which must have `scoring` set.

Scores are checked against BM25 computed by hand over the shard's corpus
(one shard: statistics are per shard). With k = 1.2, b = 0.75:
    IDF(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))
    score  = sum over query terms of IDF(t) * tf (k + 1) / (tf + k (1 - b + b |d| / avgdl))
"""

from __future__ import annotations

import math
import re

import pytest
from qdrant_client import models

# Points 1-4 hold `body` (N = 4, lengths 4, 3, 2, 2: avgdl = 2.75); point 5 does not.
POINTS = {
    1: ("the quick brown fox", "a", [1.0, 0.0]),
    2: ("quick quick dog", "b", [0.0, 1.0]),
    3: ("lazy dog", "a", [0.9, 0.0]),
    4: ("a cat", "a", [0.0, 1.0]),
}


def bm25(terms, n=4, avgdl=2.75, k=1.2, b=0.75):
    """terms: (tf, document length, documents holding the term) per matching term."""
    return sum(
        math.log(1 + (n - held + 0.5) / (held + 0.5)) * tf * (k + 1) / (tf + k * (1 - b + b * dl / avgdl))
        for tf, dl, held in terms
    )


# "quick dog": each term is in two of the four documents.
QUICK_DOG = {
    2: bm25([(2, 3, 2), (1, 3, 2)]),
    3: bm25([(1, 2, 2)]),
    1: bm25([(1, 4, 2)]),
}


@pytest.fixture
def docs(client, collection_name):
    client.create_collection(
        collection_name,
        shard_number=1,
        vectors_config={"v": models.VectorParams(size=2, distance=models.Distance.DOT)},
    )
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector={"v": v}, payload={"body": t, "plain": t, "stemmed": t, "category": c})
        for i, (t, c, v) in POINTS.items()
    ] + [models.PointStruct(id=5, vector={"v": [0.0, 1.0]}, payload={"category": "a"})])
    client.create_payload_index(collection_name, "body", models.TextIndexParams(
        type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD, scoring=True), wait=True)
    client.create_payload_index(collection_name, "stemmed", models.TextIndexParams(
        type=models.TextIndexType.TEXT, stopwords=models.Language.ENGLISH,
        stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.ENGLISH),
        scoring=models.TextScoringParams(type=models.TextScoringType.BM25)), wait=True)
    client.create_payload_index(collection_name, "plain", models.TextIndexParams(
        type=models.TextIndexType.TEXT), wait=True)
    client.create_payload_index(collection_name, "category", models.PayloadSchemaType.KEYWORD, wait=True)
    return collection_name


def ranked(points):
    return [(p.id, round(p.score, 5)) for p in points]


def expected(scores):
    return [(i, round(s, 5)) for i, s in scores.items()]


def test_ranks_by_bm25(docs, client):
    hits = client.query_points(docs, query=models.TextQuery(text="Quick DOG"), using="body", limit=10).points
    assert ranked(hits) == expected(QUICK_DOG)
    # A query term repeated counts once; terms no point holds add nothing.
    hits = client.query_points(docs, query=models.TextQuery(text="dog dog unicorn"), using="body").points
    assert ranked(hits) == expected({3: bm25([(1, 2, 2)]), 2: bm25([(1, 3, 2)])})
    assert client.query_points(docs, query=models.TextQuery(text="unicorn"), using="body").points == []
    hits = client.query_points(docs, query=models.TextQuery(text="quick dog"), using="body", limit=1,
                               with_payload=True).points
    assert [(p.id, p.payload["body"]) for p in hits] == [(2, "quick quick dog")]


def test_bm25_parameters(docs, client):
    query = models.TextQuery(text=models.TextQueryInput(
        query="quick dog", scoring=models.Bm25Scoring(bm25=models.Bm25Params(k=2.0, b=0.0))))
    hits = client.query_points(docs, query=query, using="body").points
    # Without length normalization the two documents holding one "dog" or one "quick" tie.
    want = {2: bm25([(2, 3, 2), (1, 3, 2)], k=2.0, b=0.0), 1: bm25([(1, 4, 2)], k=2.0, b=0.0),
            3: bm25([(1, 2, 2)], k=2.0, b=0.0)}
    assert ranked(hits) == expected(want)


def test_tokenized_as_the_field_index_says(docs, client):
    # Stopwords ("the") are dropped and "Foxes" is stemmed like "fox"; the
    # stemmed field's documents have lengths 3, 3, 2, 1 (avgdl 2.25).
    hits = client.query_points(docs, query=models.TextQuery(text="the Foxes"), using="stemmed").points
    assert ranked(hits) == expected({1: bm25([(1, 3, 1)], avgdl=2.25)})


def test_filter_narrows_the_results_not_the_statistics(docs, client):
    hits = client.query_points(
        docs, query=models.TextQuery(text="quick dog"), using="body",
        query_filter=models.Filter(must=[models.FieldCondition(key="category", match=models.MatchValue(value="a"))]),
    ).points
    assert ranked(hits) == expected({3: QUICK_DOG[3], 1: QUICK_DOG[1]})
    hits = client.query_points(docs, query=models.TextQuery(text="quick dog"), using="body",
                               score_threshold=0.7).points
    assert [p.id for p in hits] == [2, 3]


def test_in_prefetches_and_fusion(docs, client):
    # Rescoring: the two points nearest [1, 0] (1 and 3), ranked by text.
    hits = client.query_points(
        docs, prefetch=models.Prefetch(query=[1.0, 0.0], using="v", limit=2),
        query=models.TextQuery(text="quick dog"), using="body",
    ).points
    assert ranked(hits) == expected({3: QUICK_DOG[3], 1: QUICK_DOG[1]})
    # Hybrid: text ranks 3, 2; vectors rank 1, 3. RRF (k = 2): 3 first.
    hits = client.query_points(
        docs,
        prefetch=[
            models.Prefetch(query=models.TextQuery(text="dog"), using="body"),
            models.Prefetch(query=[1.0, 0.0], using="v", limit=2),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
    ).points
    assert [p.id for p in hits] == [3, 1, 2]


def test_rest_shapes(docs, rest):
    body = {"query": {"text": {"query": "quick dog", "scoring": {"bm25": {"k": 1.2}}}}, "using": "body"}
    r = rest.post(f"/collections/{docs}/points/query", json=body)
    assert r.status_code == 200, r.text
    assert [(p["id"], round(p["score"], 5)) for p in r.json()["result"]["points"]] == expected(QUICK_DOG)
    schema = rest.get(f"/collections/{docs}").json()["result"]["payload_schema"]
    assert schema["body"]["params"]["scoring"] == {"type": "bm25"}
    assert "scoring" not in schema["plain"]["params"]


def test_index_shows_scoring(docs, client):
    schema = client.get_collection(docs).payload_schema
    assert schema["body"].params.scoring.type == models.TextScoringType.BM25
    assert schema["plain"].params.scoring is None


@pytest.mark.parametrize("using, message", [
    ("nope", 'Index required but not found for "nope" of one of the following types: [text]'),
    ("category", 'Index required but not found for "category" of one of the following types: [text]'),
    ("plain", 'Text index of "plain" has no scoring'),
])
def test_refusals(docs, client, rest, using, message):
    r = rest.post(f"/collections/{docs}/points/query", json={"query": {"text": "dog"}, "using": using})
    assert r.status_code == 400, r.text
    assert message in r.json()["status"]["error"]
    # The REST client shows the raw body, its quotes escaped.
    with pytest.raises(Exception, match=re.escape(message).replace('"', r'\\*"')):
        client.query_points(docs, query=models.TextQuery(text="dog"), using=using)


def test_bad_parameters(docs, client, rest):
    r = rest.post(f"/collections/{docs}/points/query",
                  json={"query": {"text": {"query": "dog", "scoring": {"bm25": {"b": 2}}}}, "using": "body"})
    assert r.status_code == 400, r.text
    assert "bm25.b must be between 0 and 1" in r.json()["status"]["error"]
    r = rest.post(f"/collections/{docs}/points/query", json={"query": {"text": "dog"}})
    assert r.status_code == 400, r.text
    assert "name the field in `using`" in r.json()["status"]["error"]
