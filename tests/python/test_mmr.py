"""Diversity by maximal marginal relevance (`nearest` with `mmr`): near
duplicates of the best hit give way to different points, checked against a
plain-Python MMR over the same candidates, over REST and gRPC."""

from __future__ import annotations

import pytest
from qdrant_client import models

from reference import score

DOT = models.Distance.DOT
# Three near-identical points close to the query, and three different ones.
VECTORS = {
    1: [1.0, 0.0, 0.0],
    2: [0.99, 0.01, 0.0],
    3: [0.98, 0.02, 0.0],
    4: [0.6, 0.6, 0.0],
    5: [0.5, 0.0, 0.6],
    6: [0.0, 0.0, 1.0],
}
QUERY = [1.0, 0.2, 0.1]


@pytest.fixture
def clustered(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=3, distance=DOT))
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=v, payload={"i": i}) for i, v in VECTORS.items()
    ])
    return collection_name


def reference_mmr(diversity, limit, candidates_limit):
    relevance = {i: score(DOT, QUERY, v) for i, v in VECTORS.items()}
    pool = sorted(relevance, key=lambda i: (-relevance[i], i))[:max(candidates_limit, limit)]
    picked = []
    while len(picked) < min(limit, len(pool)):
        def value(i):
            redundancy = max((score(DOT, VECTORS[i], VECTORS[p]) for p, _ in picked), default=0.0)
            return (1 - diversity) * relevance[i] - diversity * redundancy
        best = max((i for i in pool if i not in [p for p, _ in picked]), key=lambda i: (value(i), -i))
        picked.append((best, value(best)))
    return picked


def test_mmr_trades_relevance_for_diversity(clustered, client):
    plain = client.query_points(clustered, query=QUERY, limit=3).points
    assert [p.id for p in plain] == [1, 2, 3]
    result = client.query_points(
        clustered,
        query=models.NearestQuery(nearest=QUERY, mmr=models.Mmr(diversity=0.7, candidates_limit=6)),
        limit=3,
        with_payload=True,
    ).points
    want = reference_mmr(0.7, 3, 6)
    assert [p.id for p in result] == [i for i, _ in want]
    assert [p.score for p in result] == pytest.approx([s for _, s in want], abs=1e-4)
    assert all(p.payload["i"] == p.id for p in result)
    assert len({p.id for p in result} & {2, 3}) < 2, "near duplicates should give way"


def test_mmr_without_diversity_is_the_nearest_order(clustered, client):
    result = client.query_points(
        clustered,
        query=models.NearestQuery(nearest=QUERY, mmr=models.Mmr(diversity=0.0, candidates_limit=6)),
        limit=4,
    ).points
    assert [p.id for p in result] == [i for i, _ in reference_mmr(0.0, 4, 6)]


def test_mmr_diversity_out_of_range_is_refused(clustered, rest):
    r = rest.post(f"/collections/{clustered}/points/query", json={
        "query": {"nearest": QUERY, "mmr": {"diversity": 1.5}}, "limit": 3})
    assert r.status_code == 422, r.text
