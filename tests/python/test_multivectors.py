"""Multi-vectors (late interaction, as ColBERT embeddings are searched): each
point holds several vectors of one size; a query of several vectors scores a
point by the sum, over the query's vectors, of their best match among the
point's. Checked against brute force over REST and gRPC.
"""

from __future__ import annotations

import random

import pytest
from qdrant_client import models

from reference import f32, random_vectors, score

N = 80
DIM = 4
COSINE = models.Distance.COSINE


def random_multi(n: int, seed: int) -> list[list[list[float]]]:
    rng = random.Random(seed)
    return [random_vectors(rng.randint(1, 5), DIM, seed=seed * 1000 + i) for i in range(n)]


def max_sim(query, doc):
    return sum(max(score(COSINE, q, d) for d in doc) for q in query)


@pytest.fixture
def colbert(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "colbert": models.VectorParams(
                size=DIM,
                distance=COSINE,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
            "dense": models.VectorParams(size=DIM, distance=COSINE),
        },
    )
    docs = random_multi(N, seed=7)
    dense = random_vectors(N, DIM, seed=8)
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector={"colbert": docs[i], "dense": dense[i]}, payload={"group": i % 3})
        for i in range(N)
    ])
    return collection_name, docs


def test_multivector_search_scores_by_max_sim(colbert, client):
    name, docs = colbert
    rng = random.Random(3)
    for _ in range(3):
        query = [[f32(rng.uniform(-1, 1)) for _ in range(DIM)] for _ in range(3)]
        result = client.query_points(name, query=query, using="colbert", limit=10).points
        want = sorted((max_sim(query, d) for d in docs), reverse=True)[:10]
        assert [p.score for p in result] == pytest.approx(want, abs=1e-4)
        for p in result:
            assert p.score == pytest.approx(max_sim(query, docs[p.id]), abs=1e-4)


def test_a_single_vector_queries_a_multivector_as_a_multivector_of_one(colbert, client):
    name, docs = colbert
    query = [0.2, -0.4, 0.9, 0.1]
    only = models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=1))])
    result = client.query_points(name, query=query, using="colbert", query_filter=only, limit=5).points
    want = sorted((max_sim([query], docs[i]) for i in range(N) if i % 3 == 1), reverse=True)[:5]
    assert [p.score for p in result] == pytest.approx(want, abs=1e-4)


def test_multivectors_read_back_normalized(colbert, client):
    name, docs = colbert
    record = client.retrieve(name, ids=[5], with_vectors=True)[0]
    got = record.vector["colbert"]
    assert len(got) == len(docs[5])
    for stored, written in zip(got, docs[5]):
        norm = sum(x * x for x in written) ** 0.5
        assert stored == pytest.approx([x / norm for x in written], abs=1e-5)


def test_multivectors_of_the_wrong_size_are_refused(rest, make_name):
    name = make_name()
    created = rest.put(f"/collections/{name}", json={"vectors": {
        "size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}})
    assert created.status_code == 200, created.text
    info = rest.get(f"/collections/{name}").json()["result"]
    assert info["config"]["params"]["vectors"]["multivector_config"] == {"comparator": "max_sim"}
    bad = rest.put(f"/collections/{name}/points?wait=true", json={"points": [{"id": 1, "vector": [[1.0, 2.0], [3.0]]}]})
    # Qdrant validates the inner vectors' shape before the config: a 422.
    assert bad.status_code == 422, bad.text
    assert bad.json()["status"]["error"] == (
        "Validation error in JSON body: [points[0].vector.?.data: all vectors must have the same "
        "dimension, found vector with dimension 1]"
    )
    empty = rest.put(f"/collections/{name}/points?wait=true", json={"points": [{"id": 1, "vector": []}]})
    assert empty.status_code == 400, empty.text
    good = rest.put(f"/collections/{name}/points?wait=true", json={"points": [{"id": 1, "vector": [[1.0, 2.0], [3.0, 4.0]]}]})
    assert good.status_code == 200, good.text
    hits = rest.post(f"/collections/{name}/points/query", json={"query": [[1.0, 0.0]]}).json()["result"]["points"]
    assert hits[0]["id"] == 1 and hits[0]["score"] == pytest.approx(3.0)
