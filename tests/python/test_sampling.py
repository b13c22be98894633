"""Random samples through qdrant-client over REST and gRPC: `sample: random`
queries and the distance matrices, whose neighbours and scores are checked
against a brute-force computation over the sampled points."""

from __future__ import annotations

import pytest
from qdrant_client import models

from reference import random_vectors, score

DOT = models.Distance.DOT


@pytest.fixture
def sampled(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=DOT),
                             shard_number=2)
    vectors = random_vectors(30, 4, seed=41)
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=vectors[i], payload={"odd": i % 2 == 1}) for i in range(30)])
    return collection_name, vectors


def test_random_sample_query(client, sampled):
    name, _ = sampled
    odd = models.Filter(must=[models.FieldCondition(key="odd", match=models.MatchValue(value=True))])
    points = client.query_points(name, query=models.SampleQuery(sample=models.Sample.RANDOM),
                                 query_filter=odd, limit=5, with_payload=True).points
    assert len(points) == 5 and len({p.id for p in points}) == 5
    assert all(p.id % 2 == 1 and p.payload == {"odd": True} for p in points)


def test_distance_matrix(client, sampled):
    name, vectors = sampled
    offsets = client.search_matrix_offsets(name, sample=8, limit=3)
    ids = offsets.ids
    assert len(ids) == 8 and len(set(ids)) == 8
    rows = {}
    for row, col, s in zip(offsets.offsets_row, offsets.offsets_col, offsets.scores):
        rows.setdefault(row, []).append((ids[col], s))
    for row, found in rows.items():
        a = ids[row]
        others = sorted((b for b in ids if b != a), key=lambda b: -score(DOT, vectors[a], vectors[b]))[:3]
        assert [b for b, _ in found] == others
        for b, s in found:
            assert s == pytest.approx(score(DOT, vectors[a], vectors[b]), rel=1e-4)
    pairs = client.search_matrix_pairs(name, sample=30, limit=1).pairs
    assert len(pairs) == 30
    for p in pairs:
        best = max((b for b in range(30) if b != p.a), key=lambda b: score(DOT, vectors[p.a], vectors[b]))
        assert p.b == best
