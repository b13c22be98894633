"""Sparse vectors: the hybrid-search collection every RAG tutorial starts from
(a dense and a sparse vector per point), written and read back through
qdrant-client over REST and gRPC, searched alone, weighted by IDF and fused
with the dense search, each answer checked against a brute-force computation.
"""

from __future__ import annotations

import math
import random
import time

import pytest
from qdrant_client import models

from reference import f32, random_vectors, score

N = 300
VOCABULARY = 60
DOT = models.Distance.DOT


def random_sparse(n: int, seed: int) -> list[models.SparseVector | None]:
    """Sparse vectors of 1 to 8 dimensions; every tenth point has none."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 10 == 7:
            out.append(None)
            continue
        dims = rng.sample(range(VOCABULARY), rng.randint(1, 8))
        out.append(models.SparseVector(indices=dims, values=[f32(rng.uniform(0.1, 2.0)) for _ in dims]))
    return out


def overlap_dot(query: models.SparseVector, doc: models.SparseVector | None):
    """The score of a sparse search, None when the two share no dimension."""
    if doc is None:
        return None
    weights = dict(zip(doc.indices, doc.values))
    shared = [(i, v) for i, v in zip(query.indices, query.values) if i in weights]
    return sum(v * weights[i] for i, v in shared) if shared else None


def expected_top(query, docs, limit):
    scored = [(overlap_dot(query, d), i) for i, d in enumerate(docs)]
    scored = [(s, i) for s, i in scored if s is not None]
    scored.sort(key=lambda si: (-si[0], si[1]))
    return scored[:limit]


def assert_ranked(points, expected, tolerance=1e-4):
    """Same scores in the same order; ids must carry the scores they claim."""
    assert len(points) == len(expected)
    for p, (want, _) in zip(points, expected):
        assert p.score == pytest.approx(want, abs=tolerance)


@pytest.fixture
def hybrid(client, collection_name):
    """A collection with a dense vector `dense` and a sparse vector `words`,
    sealed into several segments so the inverted index is searched too."""
    client.create_collection(
        collection_name,
        vectors_config={"dense": models.VectorParams(size=4, distance=DOT)},
        sparse_vectors_config={"words": models.SparseVectorParams()},
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10),
    )
    dense = random_vectors(N, 4, seed=31)
    sparse = random_sparse(N, seed=32)
    for start in range(0, N, 50):
        points = []
        for i in range(start, start + 50):
            vector = {"dense": dense[i]}
            if sparse[i] is not None:
                vector["words"] = sparse[i]
            points.append(models.PointStruct(id=i, vector=vector, payload={"even": i % 2 == 0}))
        client.upsert(collection_name, points=points, wait=True)
    wait_sealed(client, collection_name)
    return collection_name, dense, sparse


def wait_sealed(client, name, deadline_s=60):
    """Waits until the optimizer has sealed segments and gone quiet."""
    deadline = time.monotonic() + deadline_s
    while True:
        info = client.get_collection(name)
        if info.status == models.CollectionStatus.GREEN and info.segments_count >= 2:
            return
        assert time.monotonic() < deadline, f"collection stayed {info.status}, {info.segments_count} segments"
        time.sleep(0.2)


def test_sparse_vectors_read_back_sorted_by_index(hybrid, client):
    name, dense, sparse = hybrid
    records = client.retrieve(name, ids=[0, 7, 8], with_vectors=True)
    by_id = {r.id: r for r in records}
    for i in (0, 8):
        got = by_id[i].vector["words"]
        pairs = sorted(zip(sparse[i].indices, sparse[i].values))
        assert got.indices == [p[0] for p in pairs]
        assert got.values == pytest.approx([p[1] for p in pairs])
        assert by_id[i].vector["dense"] == pytest.approx(dense[i])
    assert "words" not in by_id[7].vector


def test_sparse_search_matches_brute_force(hybrid, client):
    name, _, sparse = hybrid
    rng = random.Random(5)
    for _ in range(5):
        dims = rng.sample(range(VOCABULARY), 4)
        query = models.SparseVector(indices=dims, values=[f32(rng.uniform(0.5, 1.5)) for _ in dims])
        result = client.query_points(name, query=query, using="words", limit=10).points
        assert_ranked(result, expected_top(query, sparse, 10))
        for p in result:
            assert p.score == pytest.approx(overlap_dot(query, sparse[p.id]), abs=1e-4)


def test_sparse_search_with_a_filter_and_the_older_search_call(hybrid, client, rest):
    name, _, sparse = hybrid
    query = models.SparseVector(indices=[3, 11, 40], values=[1.0, 0.5, 2.0])
    only_even = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    result = client.query_points(name, query=query, using="words", query_filter=only_even, limit=5).points
    even_docs = [d if i % 2 == 0 else None for i, d in enumerate(sparse)]
    assert_ranked(result, expected_top(query, even_docs, 5))
    assert all(p.id % 2 == 0 for p in result)
    legacy = rest.post(f"/collections/{name}/points/search", json={
        "vector": {"name": "words", "vector": {"indices": query.indices, "values": query.values}},
        "limit": 5,
    })
    assert legacy.status_code == 200, legacy.text
    hits = [models.ScoredPoint(**p) for p in legacy.json()["result"]]
    assert_ranked(hits, expected_top(query, sparse, 5))


def test_hybrid_query_fuses_dense_and_sparse(hybrid, client):
    name, dense, sparse = hybrid
    dense_query = [0.3, -0.2, 0.9, 0.1]
    sparse_query = models.SparseVector(indices=[2, 9, 33, 51], values=[1.0, 1.0, 1.0, 1.0])
    result = client.query_points(
        name,
        prefetch=[
            models.Prefetch(query=dense_query, using="dense", limit=20),
            models.Prefetch(query=sparse_query, using="words", limit=20),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=10,
    ).points
    dense_ranked = sorted(range(N), key=lambda i: (-score(DOT, dense_query, dense[i]), i))[:20]
    sparse_ranked = [i for _, i in expected_top(sparse_query, sparse, 20)]
    fused: dict[int, float] = {}
    for ranked in (dense_ranked, sparse_ranked):
        for rank, pid in enumerate(ranked):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (rank + 2)
    want = sorted(fused.values(), reverse=True)[:10]
    assert [p.score for p in result] == pytest.approx(want, abs=1e-5)
    for p in result:
        assert p.score == pytest.approx(fused[p.id], abs=1e-5)


def test_sparse_vectors_are_updated_and_deleted(hybrid, client):
    name, _, _ = hybrid
    replacement = models.SparseVector(indices=[59, 1], values=[3.0, 1.0])
    client.update_vectors(name, points=[models.PointVectors(id=4, vector={"words": replacement})], wait=True)
    top = client.query_points(name, query=models.SparseVector(indices=[59], values=[1.0]), using="words", limit=1)
    assert top.points[0].id == 4 and top.points[0].score == pytest.approx(3.0)
    client.delete_vectors(name, vectors=["words"], points=[4], wait=True)
    record = client.retrieve(name, ids=[4], with_vectors=True)[0]
    assert "words" not in record.vector and "dense" in record.vector
    top = client.query_points(name, query=models.SparseVector(indices=[59], values=[1.0]), using="words", limit=50)
    assert 4 not in [p.id for p in top.points]
    has_words = models.Filter(must=[models.HasVectorCondition(has_vector="words")])
    counted = client.count(name, count_filter=has_words, exact=True).count
    assert counted == N - N // 10 - 1


def test_idf_modifier_weighs_rare_dimensions_more(client, collection_name):
    # One shard: IDF statistics are a shard's own.
    client.create_collection(
        collection_name,
        vectors_config={},
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        shard_number=1,
    )
    docs = random_sparse(120, seed=41)
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector={"bm25": d} if d is not None else {}) for i, d in enumerate(docs)
    ])
    present = [d for d in docs if d is not None]
    total = len(present)

    def idf(dim):
        n = sum(1 for d in present if dim in d.indices)
        return math.log((total - n + 0.5) / (n + 0.5) + 1.0)

    query = models.SparseVector(indices=[0, 5, 17, 42], values=[1.0, 1.0, 1.0, 1.0])
    weighted = models.SparseVector(indices=query.indices, values=[v * idf(i) for i, v in zip(query.indices, query.values)])
    result = client.query_points(collection_name, query=query, using="bm25", limit=10).points
    assert_ranked(result, expected_top(weighted, docs, 10), tolerance=1e-3)
    info = client.get_collection(collection_name)
    assert info.config.params.sparse_vectors["bm25"].modifier == models.Modifier.IDF


def test_bad_sparse_vectors_are_refused_and_change_nothing(rest, make_name):
    name = make_name()
    created = rest.put(f"/collections/{name}", json={
        "vectors": {"dense": {"size": 2, "distance": "Dot"}},
        "sparse_vectors": {"words": {}},
    })
    assert created.status_code == 200, created.text
    cases = [
        {"indices": [1, 2], "values": [1.0]},
        {"indices": [3, 3], "values": [1.0, 2.0]},
    ]
    for bad in cases:
        r = rest.put(f"/collections/{name}/points?wait=true", json={"points": [{"id": 1, "vector": {"words": bad}}]})
        assert r.status_code == 422, r.text
        assert "error" in r.json()["status"]
    wrong_kind = rest.put(f"/collections/{name}/points?wait=true", json={"points": [{"id": 1, "vector": {"dense": {"indices": [1], "values": [1.0]}}}]})
    assert wrong_kind.status_code == 400, wrong_kind.text
    dense_for_sparse = rest.post(f"/collections/{name}/points/query", json={"query": [1.0, 2.0], "using": "words"})
    assert dense_for_sparse.status_code == 400, dense_for_sparse.text
    clash = rest.put(f"/collections/{make_name('clash')}", json={
        "vectors": {"x": {"size": 2, "distance": "Dot"}},
        "sparse_vectors": {"x": {}},
    })
    assert clash.status_code == 400, clash.text
    count = rest.post(f"/collections/{name}/points/count", json={"exact": True}).json()["result"]["count"]
    assert count == 0
