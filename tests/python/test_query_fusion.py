"""The universal query API's prefetch, fusion, rescoring and recommend,
through qdrant-client over REST and gRPC, each result checked against a
brute-force computation over the inserted vectors (small collections are
searched exactly, so ranks are deterministic)."""

from __future__ import annotations

import math

import pytest
from qdrant_client import models

from reference import random_vectors, score

N = 60
DOT = models.Distance.DOT


@pytest.fixture
def two_vectors(client, collection_name):
    client.create_collection(collection_name, vectors_config={
        "a": models.VectorParams(size=4, distance=DOT),
        "b": models.VectorParams(size=4, distance=DOT),
    })
    a, b = random_vectors(N, 4, seed=21), random_vectors(N, 4, seed=22)
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector={"a": a[i], "b": b[i]}, payload={"even": i % 2 == 0})
        for i in range(N)
    ])
    return collection_name, a, b


def _ranked(vectors, query, ids=None):
    ids = range(len(vectors)) if ids is None else ids
    return sorted(ids, key=lambda i: -score(DOT, query, vectors[i]))


def _rrf(lists, k=2):
    fused = {}
    for ranked in lists:
        for rank, pid in enumerate(ranked):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (rank + k)
    return fused


def _dbsf(lists_with_scores):
    fused = {}
    for scored in lists_with_scores:
        values = [s for _, s in scored]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        low, high = mean - 3 * sd, mean + 3 * sd
        for pid, s in scored:
            fused[pid] = fused.get(pid, 0.0) + (s - low) / (high - low)
    return fused


def _check(points, expected, limit):
    want = sorted(expected.items(), key=lambda kv: -kv[1])[:limit]
    assert [p.id for p in points] == [pid for pid, _ in want]
    for p, (_, s) in zip(points, want):
        assert p.score == pytest.approx(s, rel=1e-4)


def test_rrf_fuses_two_named_vectors(client, two_vectors):
    name, a, b = two_vectors
    qa, qb = a[0], b[1]
    result = client.query_points(name, prefetch=[
        models.Prefetch(query=qa, using="a", limit=15),
        models.Prefetch(query=qb, using="b", limit=15),
    ], query=models.FusionQuery(fusion=models.Fusion.RRF), limit=10, with_payload=True).points
    expected = _rrf([_ranked(a, qa)[:15], _ranked(b, qb)[:15]])
    _check(result, expected, 10)
    assert all(p.payload == {"even": p.id % 2 == 0} for p in result)


def test_dbsf_fuses_scores_by_their_distribution(client, two_vectors):
    name, a, b = two_vectors
    qa, qb = a[3], b[4]
    result = client.query_points(name, prefetch=[
        models.Prefetch(query=qa, using="a", limit=12),
        models.Prefetch(query=qb, using="b", limit=12),
    ], query=models.FusionQuery(fusion=models.Fusion.DBSF), limit=8).points
    lists = [[(i, score(DOT, qa, a[i])) for i in _ranked(a, qa)[:12]],
             [(i, score(DOT, qb, b[i])) for i in _ranked(b, qb)[:12]]]
    _check(result, _dbsf(lists), 8)


def test_a_query_rescores_its_prefetch_and_filters_reach_down(client, two_vectors):
    name, a, b = two_vectors
    qa, qb = a[5], b[6]
    even = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    result = client.query_points(name, prefetch=models.Prefetch(query=qa, using="a", limit=20),
                                 query=qb, using="b", query_filter=even, limit=5).points
    candidates = [i for i in _ranked(a, qa) if i % 2 == 0][:20]
    want = _ranked(b, qb, candidates)[:5]
    assert [p.id for p in result] == want
    for p in result:
        assert p.score == pytest.approx(score(DOT, qb, b[p.id]), rel=1e-4)


def test_nested_prefetch(client, two_vectors):
    name, a, b = two_vectors
    qa, qb = a[7], b[8]
    inner = models.Prefetch(prefetch=[
        models.Prefetch(query=qa, using="a", limit=20),
        models.Prefetch(query=qb, using="b", limit=20),
    ], query=models.FusionQuery(fusion=models.Fusion.RRF), limit=10)
    result = client.query_points(name, prefetch=inner, query=qa, using="a", limit=3).points
    fused = _rrf([_ranked(a, qa)[:20], _ranked(b, qb)[:20]])
    top10 = [pid for pid, _ in sorted(fused.items(), key=lambda kv: -kv[1])[:10]]
    assert [p.id for p in result] == _ranked(a, qa, top10)[:3]


def test_recommend_by_average_vector(client, two_vectors):
    name, a, _ = two_vectors
    positive, negative = [10, 11], [12]
    result = client.query_points(name, query=models.RecommendQuery(recommend=models.RecommendInput(
        positive=positive, negative=negative)), using="a", limit=5).points
    avg_pos = [(a[10][d] + a[11][d]) / 2 for d in range(4)]
    target = [2 * avg_pos[d] - a[12][d] for d in range(4)]
    others = [i for i in range(N) if i not in positive + negative]
    assert [p.id for p in result] == _ranked(a, target, others)[:5]


def test_older_recommend_and_rrf_parameters_over_rest(rest, two_vectors):
    name, a, b = two_vectors
    reply = rest.post(f"/collections/{name}/points/recommend",
                      json={"positive": [20], "using": "a", "limit": 4})
    assert reply.status_code == 200, reply.text
    others = [i for i in range(N) if i != 20]
    assert [p["id"] for p in reply.json()["result"]] == _ranked(a, a[20], others)[:4]
    batch = rest.post(f"/collections/{name}/points/recommend/batch",
                      json={"searches": [{"positive": [20], "using": "a", "limit": 2},
                                         {"positive": [a[1]], "negative": [21], "using": "a", "limit": 2}]})
    assert batch.status_code == 200, batch.text
    assert len(batch.json()["result"]) == 2

    qa, qb = a[0], b[0]
    fused = rest.post(f"/collections/{name}/points/query", json={
        "prefetch": [{"query": qa, "using": "a", "limit": 10}, {"query": qb, "using": "b", "limit": 10}],
        "query": {"rrf": {"k": 60}}, "limit": 5})
    assert fused.status_code == 200, fused.text
    expected = _rrf([_ranked(a, qa)[:10], _ranked(b, qb)[:10]], k=60)
    want = [pid for pid, _ in sorted(expected.items(), key=lambda kv: -kv[1])[:5]]
    assert [p["id"] for p in fused.json()["result"]["points"]] == want

    no_prefetch = rest.post(f"/collections/{name}/points/query", json={"query": {"fusion": "rrf"}})
    assert no_prefetch.status_code == 400, no_prefetch.text
    formula = rest.post(f"/collections/{name}/points/query", json={
        "query": {"formula": {"sum": ["$score"]}}, "using": "a"})
    assert formula.status_code == 400 and "prefetch" in formula.text, formula.text


def test_lookup_from_another_collection(client, two_vectors, make_name):
    name, a, _ = two_vectors
    other = make_name()
    client.create_collection(other, vectors_config={"e": models.VectorParams(size=4, distance=DOT)})
    examples = random_vectors(3, 4, seed=23)
    client.upsert(other, wait=True, points=[
        models.PointStruct(id=i, vector={"e": examples[i]}) for i in range(3)])
    lookup = models.LookupLocation(collection=other, vector="e")
    nearest = client.query_points(name, query=1, using="a", lookup_from=lookup, limit=4).points
    # Point 1 of the other collection stands for its vector; point 1 here is not left out.
    assert [p.id for p in nearest] == _ranked(a, examples[1])[:4]
    recommended = client.query_points(name, query=models.RecommendQuery(recommend=models.RecommendInput(
        positive=[0, 2])), using="a", lookup_from=lookup, limit=4).points
    avg = [(examples[0][d] + examples[2][d]) / 2 for d in range(4)]
    assert [p.id for p in recommended] == _ranked(a, avg)[:4]


@pytest.mark.parametrize("strategy", [models.RecommendStrategy.BEST_SCORE,
                                      models.RecommendStrategy.SUM_SCORES])
def test_recommend_by_scores(client, two_vectors, strategy):
    name, a, _ = two_vectors
    positive, negative = [30, 31], [32, 33]
    result = client.query_points(name, query=models.RecommendQuery(recommend=models.RecommendInput(
        positive=positive, negative=negative, strategy=strategy)), using="a", limit=6).points

    def expected(i):
        pos = [score(DOT, a[i], a[p]) for p in positive]
        neg = [score(DOT, a[i], a[n]) for n in negative]
        if strategy == models.RecommendStrategy.SUM_SCORES:
            return sum(pos) - sum(neg)
        squash = lambda x: 0.5 * (x / (1 + abs(x)) + 1)  # noqa: E731
        return squash(max(pos)) if max(pos) > max(neg) else -squash(max(neg))

    others = [i for i in range(N) if i not in positive + negative]
    want = sorted(others, key=lambda i: (-expected(i), i))[:6]
    assert [p.id for p in result] == want
    for p in result:
        assert p.score == pytest.approx(expected(p.id), rel=1e-3, abs=1e-5)


def _sq(x):
    return 0.5 * (x / (1 + abs(x)) + 1)


def test_discover_and_context(client, rest, two_vectors):
    name, a, _ = two_vectors
    pairs = [(40, 41), (42, 43)]
    examples = [40, 41, 42, 43]
    others = [i for i in range(N) if i not in examples + [44]]

    def side(i, p, n):
        sp, sn = score(DOT, a[i], a[p]), score(DOT, a[i], a[n])
        return (sp > sn) - (sp < sn)

    context = [models.ContextPair(positive=p, negative=n) for p, n in pairs]
    found = client.query_points(name, using="a", limit=5, query=models.DiscoverQuery(
        discover=models.DiscoverInput(target=44, context=context))).points
    discover_score = {i: sum(side(i, p, n) for p, n in pairs) + _sq(score(DOT, a[i], a[44]))
                      for i in others}
    assert [p.id for p in found] == sorted(others, key=lambda i: (-discover_score[i], i))[:5]

    found = client.query_points(name, using="a", limit=5,
                                query=models.ContextQuery(context=context)).points
    def loss(i):  # noqa: E306
        total = 0.0
        for p, n in pairs:
            d = min(score(DOT, a[i], a[p]) - score(DOT, a[i], a[n]) - 1.1920929e-07, 0.0)
            total += d / (1 + abs(d))
        return total
    for p in found:
        assert p.score == pytest.approx(loss(p.id), abs=1e-5)
    ranked = sorted((i for i in range(N) if i not in examples), key=lambda i: -loss(i))
    assert pytest.approx([p.score for p in found], abs=1e-5) == [loss(i) for i in ranked[:5]]

    legacy = rest.post(f"/collections/{name}/points/discover", json={
        "target": 44, "context": [{"positive": p, "negative": n} for p, n in pairs],
        "using": "a", "limit": 5})
    assert legacy.status_code == 200, legacy.text
    assert [p["id"] for p in legacy.json()["result"]] == sorted(
        others, key=lambda i: (-discover_score[i], i))[:5]
