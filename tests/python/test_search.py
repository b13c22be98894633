"""Vector search (query_points, query_batch_points, legacy search endpoints)
checked against a plain-Python brute force over the inserted data."""

from __future__ import annotations

import math
import types

import pytest
from qdrant_client import grpc as qgrpc
from qdrant_client import models

from harness import unique_name
from reference import (
    DISTANCES,
    assert_ranking,
    brute_force,
    higher_is_better,
    random_vectors,
)

N, DIM, SEED = 300, 8, 42
QUERIES = random_vectors(6, DIM, seed=1234)


def _payload(pid: int) -> dict:
    return {"group": pid % 3, "tag": "even" if pid % 2 == 0 else "odd", "pos": pid}


@pytest.fixture(scope="module")
def search_data(deployment, setup_client):
    """One collection per distance, 300 x 8 seeded random points, created once per layout."""
    shards = 3 if deployment.clustered else 2
    vectors = dict(zip(range(1, N + 1), random_vectors(N, DIM, SEED)))
    names = {}
    for distance in DISTANCES:
        name = unique_name(f"search_{distance.value}")
        setup_client.create_collection(
            name, vectors_config=models.VectorParams(size=DIM, distance=distance), shard_number=shards
        )
        ids = list(vectors)
        for start in range(0, N, 100):
            chunk = ids[start:start + 100]
            setup_client.upsert(
                name,
                models.Batch(ids=chunk, vectors=[vectors[i] for i in chunk], payloads=[_payload(i) for i in chunk]),
                wait=True,
            )
        names[distance] = name
    yield types.SimpleNamespace(names=names, vectors=vectors)
    for name in names.values():
        try:
            setup_client.delete_collection(name)
        except Exception:
            pass


EXACT = models.SearchParams(exact=True)


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_exact_search_matches_brute_force(client, search_data, distance):
    name = search_data.names[distance]
    assert client.count(name).count == N
    for qi, q in enumerate(QUERIES):
        res = client.query_points(name, query=q, limit=10, search_params=EXACT)
        expected = brute_force(distance, q, search_data.vectors)[:10]
        assert_ranking(res.points, expected, f"{distance.value} query {qi}")


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_query_by_point_id(client, search_data, distance):
    name = search_data.names[distance]
    for pid in (1, 150, 300):
        res = client.query_points(name, query=pid, limit=5, search_params=EXACT)
        expected = brute_force(distance, search_data.vectors[pid], search_data.vectors, exclude={pid})[:5]
        assert pid not in [p.id for p in res.points], "the query point itself is excluded"
        assert_ranking(res.points, expected, f"{distance.value} by id {pid}")


def test_limit_and_offset(client, search_data):
    d = models.Distance.DOT
    name, q = search_data.names[d], QUERIES[0]
    ref = brute_force(d, q, search_data.vectors)
    res = client.query_points(name, query=q, limit=5, offset=3, search_params=EXACT)
    assert_ranking(res.points, ref[3:8], "limit 5 offset 3")
    res = client.query_points(name, query=q, limit=1, search_params=EXACT)
    assert_ranking(res.points, ref[:1], "limit 1")
    res = client.query_points(name, query=q, limit=7, offset=N - 4, search_params=EXACT)
    assert_ranking(res.points, ref[N - 4:], "offset near the end")


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_score_threshold(client, search_data, distance):
    name, q = search_data.names[distance], QUERIES[1]
    ref = brute_force(distance, q, search_data.vectors)
    # Threshold between the 7th and 8th best: exactly 7 results qualify.
    thr = (ref[6][1] + ref[7][1]) / 2
    res = client.query_points(name, query=q, limit=50, score_threshold=thr, search_params=EXACT)
    assert_ranking(res.points, ref[:7], f"{distance.value} score_threshold {thr}")
    for p in res.points:
        assert (p.score >= thr) if higher_is_better(distance) else (p.score <= thr)


def test_with_payload_and_with_vectors(client, search_data):
    d = models.Distance.EUCLID
    name, q = search_data.names[d], QUERIES[2]
    res = client.query_points(name, query=q, limit=3, with_payload=True, with_vectors=True, search_params=EXACT)
    assert len(res.points) == 3
    for p in res.points:
        assert p.payload == _payload(p.id)
        assert len(p.vector) == DIM
        assert all(abs(a - b) < 1e-6 for a, b in zip(p.vector, search_data.vectors[p.id]))
    res = client.query_points(name, query=q, limit=3, with_payload=False, with_vectors=False, search_params=EXACT)
    for p in res.points:
        assert not p.payload and p.vector is None
    res = client.query_points(name, query=q, limit=3, with_payload=["tag"], search_params=EXACT)
    for p in res.points:
        assert p.payload == {"tag": _payload(p.id)["tag"]}


def test_cosine_vectors_are_returned_normalized(client, search_data):
    d = models.Distance.COSINE
    res = client.query_points(search_data.names[d], query=QUERIES[3], limit=3, with_vectors=True, search_params=EXACT)
    for p in res.points:
        orig = search_data.vectors[p.id]
        norm = math.sqrt(sum(x * x for x in orig))
        assert abs(math.sqrt(sum(x * x for x in p.vector)) - 1.0) < 1e-5
        assert all(abs(a - b / norm) < 1e-5 for a, b in zip(p.vector, orig))


def test_hnsw_ef_search_recall(client, search_data):
    d = models.Distance.COSINE
    name = search_data.names[d]
    hits = 0
    for q in QUERIES:
        res = client.query_points(name, query=q, limit=10, search_params=models.SearchParams(hnsw_ef=128))
        scores = [p.score for p in res.points]
        assert len(res.points) == 10
        assert scores == sorted(scores, reverse=True), "results are ordered best first"
        expected = {pid for pid, _ in brute_force(d, q, search_data.vectors)[:10]}
        hits += len(expected & {p.id for p in res.points})
    recall = hits / (10 * len(QUERIES))
    assert recall >= 0.9, f"recall@10 with hnsw_ef=128 on 300 points is {recall}"


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_filtered_exact_search(client, search_data, distance):
    name, q = search_data.names[distance], QUERIES[4]
    flt = models.Filter(
        must=[models.FieldCondition(key="group", match=models.MatchValue(value=1))],
        must_not=[models.FieldCondition(key="pos", range=models.Range(gte=200))],
    )
    keep = lambda pid: pid % 3 == 1 and not pid >= 200  # noqa: E731
    res = client.query_points(name, query=q, query_filter=flt, limit=15, search_params=EXACT)
    assert_ranking(res.points, brute_force(distance, q, search_data.vectors, keep=keep)[:15], "filtered")
    # A filter matching nothing returns nothing.
    none = models.Filter(must=[models.FieldCondition(key="tag", match=models.MatchValue(value="none"))])
    assert client.query_points(name, query=q, query_filter=none, search_params=EXACT).points == []


def test_named_vectors_using(client, collection_name):
    n = 80
    img = dict(zip(range(1, n + 1), random_vectors(n, 4, seed=5)))
    txt = dict(zip(range(1, n + 1), random_vectors(n, 6, seed=6)))
    client.create_collection(
        collection_name,
        vectors_config={
            "image": models.VectorParams(size=4, distance=models.Distance.EUCLID),
            "text": models.VectorParams(size=6, distance=models.Distance.DOT),
        },
    )
    client.upsert(
        collection_name,
        [models.PointStruct(id=i, vector={"image": img[i], "text": txt[i]}) for i in img],
        wait=True,
    )
    qi, qt = random_vectors(1, 4, seed=7)[0], random_vectors(1, 6, seed=8)[0]
    res = client.query_points(collection_name, query=qi, using="image", limit=8, search_params=EXACT)
    assert_ranking(res.points, brute_force(models.Distance.EUCLID, qi, img)[:8], "using=image")
    res = client.query_points(
        collection_name, query=qt, using="text", limit=8, search_params=EXACT, with_vectors=["text"]
    )
    assert_ranking(res.points, brute_force(models.Distance.DOT, qt, txt)[:8], "using=text")
    assert all(set(p.vector) == {"text"} for p in res.points)
    # By id, on the named vector.
    res = client.query_points(collection_name, query=10, using="text", limit=5, search_params=EXACT)
    assert_ranking(res.points, brute_force(models.Distance.DOT, txt[10], txt, exclude={10})[:5], "by id, using=text")


def test_query_batch_points(client, search_data):
    d = models.Distance.MANHATTAN
    name, vecs = search_data.names[d], search_data.vectors
    flt = models.Filter(must=[models.FieldCondition(key="tag", match=models.MatchValue(value="even"))])
    reqs = [
        models.QueryRequest(query=QUERIES[0], limit=5, params=EXACT),
        models.QueryRequest(query=QUERIES[1], limit=8, filter=flt, params=EXACT, with_payload=True),
        models.QueryRequest(query=42, limit=3, offset=2, params=EXACT),
    ]
    out = client.query_batch_points(name, requests=reqs)
    assert len(out) == 3
    assert_ranking(out[0].points, brute_force(d, QUERIES[0], vecs)[:5], "batch[0]")
    assert_ranking(
        out[1].points, brute_force(d, QUERIES[1], vecs, keep=lambda p: p % 2 == 0)[:8], "batch[1] filtered"
    )
    assert all(p.payload == _payload(p.id) for p in out[1].points)
    assert_ranking(out[2].points, brute_force(d, vecs[42], vecs, exclude={42})[2:5], "batch[2] by id")


def _scored(items):
    return [types.SimpleNamespace(id=i, score=s) for i, s in items]


def _grpc_id(pid) -> int | str:
    return pid.num if pid.HasField("num") else pid.uuid


def test_legacy_search_and_search_batch(client, transport, rest, search_data):
    """qdrant-client 1.20 has no `search`/`search_batch`; REST users call
    /points/search(/batch), gRPC users the Points.Search/SearchBatch RPCs."""
    assert not hasattr(client, "search"), "installed client has search(); test it through the client"
    d = models.Distance.COSINE
    name, vecs = search_data.names[d], search_data.vectors
    exp0 = brute_force(d, QUERIES[0], vecs)[:6]
    exp1 = brute_force(d, QUERIES[1], vecs, keep=lambda p: p % 3 == 2)[:4]
    if transport == "rest":
        r = rest.post(
            f"/collections/{name}/points/search",
            json={"vector": QUERIES[0], "limit": 6, "params": {"exact": True}, "with_payload": True},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ok" and isinstance(body["time"], float)
        hits = body["result"]
        assert_ranking(_scored((h["id"], h["score"]) for h in hits), exp0, "REST /points/search")
        assert all(h["payload"] == _payload(h["id"]) for h in hits)

        r = rest.post(
            f"/collections/{name}/points/search/batch",
            json={
                "searches": [
                    {"vector": QUERIES[0], "limit": 6, "params": {"exact": True}},
                    {
                        "vector": QUERIES[1],
                        "limit": 4,
                        "params": {"exact": True},
                        "filter": {"must": [{"key": "group", "match": {"value": 2}}]},
                    },
                ]
            },
        )
        assert r.status_code == 200, r.text
        res = r.json()["result"]
        assert len(res) == 2
        assert_ranking(_scored((h["id"], h["score"]) for h in res[0]), exp0, "REST batch[0]")
        assert_ranking(_scored((h["id"], h["score"]) for h in res[1]), exp1, "REST batch[1]")
    else:
        params = qgrpc.SearchParams(exact=True)
        resp = client.grpc_points.Search(
            qgrpc.SearchPoints(
                collection_name=name,
                vector=QUERIES[0],
                limit=6,
                params=params,
                with_payload=qgrpc.WithPayloadSelector(enable=True),
            ),
            timeout=30,
        )
        assert_ranking(_scored((_grpc_id(h.id), h.score) for h in resp.result), exp0, "gRPC Search")
        assert all(h.payload["tag"].string_value == _payload(_grpc_id(h.id))["tag"] for h in resp.result)
        flt = qgrpc.Filter(
            must=[qgrpc.Condition(field=qgrpc.FieldCondition(key="group", match=qgrpc.Match(integer=2)))]
        )
        resp = client.grpc_points.SearchBatch(
            qgrpc.SearchBatchPoints(
                collection_name=name,
                search_points=[
                    qgrpc.SearchPoints(collection_name=name, vector=QUERIES[0], limit=6, params=params),
                    qgrpc.SearchPoints(collection_name=name, vector=QUERIES[1], limit=4, params=params, filter=flt),
                ],
            ),
            timeout=30,
        )
        assert len(resp.result) == 2
        assert_ranking(_scored((_grpc_id(h.id), h.score) for h in resp.result[0].result), exp0, "gRPC batch[0]")
        assert_ranking(_scored((_grpc_id(h.id), h.score) for h in resp.result[1].result), exp1, "gRPC batch[1]")
