"""Error handling. REST is checked with raw HTTP (status and body); gRPC through
the client raising. After every error the state must be unchanged.

Qdrant 1.18's answers, which these tests expect:
* wrong vector size          -> 400 "Wrong input: Vector dimension error: expected dim: 8, got 3"
                                gRPC INVALID_ARGUMENT
* unknown collection         -> 404 "Not found: Collection `x` doesn't exist!"; gRPC NOT_FOUND
* malformed JSON             -> 400 "Format error in JSON body: ..."
* existing collection        -> 409 "Wrong input: Collection `x` already exists!"
                                (StorageError::AlreadyExists; older Qdrant answered 400);
                                gRPC ALREADY_EXISTS
* shard_number: 0            -> 422 "Validation error in JSON body: [shard_number: ...]";
                                gRPC INVALID_ARGUMENT
* undeserializable filter    -> 400 "Format error in JSON body: ..."; gRPC INVALID_ARGUMENT
"""

from __future__ import annotations

import grpc
import pytest
from qdrant_client import grpc as qgrpc
from qdrant_client import models

DIM = 8


def _error_body(resp, status: int | tuple[int, ...]) -> str:
    """Assert Qdrant's error shape {"status": {"error": str}, "time": float}; return the message."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp.status_code in statuses, f"expected HTTP {status}, got {resp.status_code}: {resp.text[:500]}"
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {resp.text[:500]!r}")
    assert isinstance(body.get("status"), dict), f"status must be an object: {body}"
    msg = body["status"].get("error")
    assert isinstance(msg, str) and msg, f"status.error must be a non-empty string: {body}"
    assert isinstance(body.get("time"), float), f"time must be a float: {body}"
    return msg


def _grpc_error(excinfo, code: grpc.StatusCode) -> str:
    err = excinfo.value
    assert err.code() == code, f"expected {code}, got {err.code()}: {err.details()}"
    assert err.details(), "gRPC error must carry a message"
    return err.details()


def _setup(client, name, n=5):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.upsert(
        name,
        [models.PointStruct(id=i, vector=[float(i)] * DIM, payload={"i": i}) for i in range(1, n + 1)],
        wait=True,
    )


def _points_count(rest, name) -> int:
    r = rest.get(f"/collections/{name}")
    assert r.status_code == 200, r.text
    return r.json()["result"]["points_count"]


def _exists(rest, name) -> bool:
    r = rest.get(f"/collections/{name}/exists")
    assert r.status_code == 200, r.text
    return r.json()["result"]["exists"]


def test_wrong_vector_size(client, transport, rest, collection_name):
    _setup(client, collection_name)
    bad = [0.1, 0.2, 0.3]
    if transport == "rest":
        r = rest.put(
            f"/collections/{collection_name}/points",
            params={"wait": "true"},
            json={"points": [{"id": 100, "vector": bad, "payload": {"bad": True}}]},
        )
        msg = _error_body(r, 400)
        r = rest.post(f"/collections/{collection_name}/points/query", json={"query": bad, "limit": 3})
        qmsg = _error_body(r, 400)
    else:
        with pytest.raises(grpc.RpcError) as ei:
            client.upsert(collection_name, [models.PointStruct(id=100, vector=bad, payload={"bad": True})], wait=True)
        msg = _grpc_error(ei, grpc.StatusCode.INVALID_ARGUMENT)
        with pytest.raises(grpc.RpcError) as ei:
            client.query_points(collection_name, query=bad, limit=3)
        qmsg = _grpc_error(ei, grpc.StatusCode.INVALID_ARGUMENT)
    for m in (msg, qmsg):
        assert "dim" in m.lower() and str(DIM) in m and "3" in m, f"message should name the dimensions: {m!r}"
    assert _points_count(rest, collection_name) == 5
    assert client.retrieve(collection_name, [100]) == []


def test_unknown_collection(client, transport, rest, collection_name):
    missing = collection_name  # never created
    if transport == "rest":
        msg = _error_body(rest.get(f"/collections/{missing}"), 404)
        assert missing in msg, msg
        _error_body(rest.post(f"/collections/{missing}/points/query", json={"query": [0.0] * DIM}), 404)
        _error_body(
            rest.put(f"/collections/{missing}/points", params={"wait": "true"},
                     json={"points": [{"id": 1, "vector": [0.0] * DIM}]}),
            404,
        )
        _error_body(rest.post(f"/collections/{missing}/points/count", json={}), 404)
    else:
        with pytest.raises(grpc.RpcError) as ei:
            client.get_collection(missing)
        assert missing in _grpc_error(ei, grpc.StatusCode.NOT_FOUND)
        with pytest.raises(grpc.RpcError) as ei:
            client.query_points(missing, query=[0.0] * DIM)
        _grpc_error(ei, grpc.StatusCode.NOT_FOUND)
        with pytest.raises(grpc.RpcError) as ei:
            client.upsert(missing, [models.PointStruct(id=1, vector=[0.0] * DIM)])
        _grpc_error(ei, grpc.StatusCode.NOT_FOUND)
    assert not _exists(rest, missing), "an upsert into a missing collection must not create it"


def test_malformed_json(transport, rest, client, make_name):
    if transport != "rest":
        pytest.skip("malformed JSON has no gRPC equivalent")
    existing, fresh = make_name("existing"), make_name("fresh")
    _setup(client, existing)
    headers = {"content-type": "application/json"}
    r = rest.put(f"/collections/{existing}/points?wait=true", content=b'{"points": [{"id": 9, "vector": [', headers=headers)
    _error_body(r, 400)
    r = rest.put(f"/collections/{fresh}", content=b'{"vectors": {"size": 4, "distance": "Dot"', headers=headers)
    # Qdrant's text whole, with no other prefix.
    assert _error_body(r, 400) == "Format error in JSON body: EOF while parsing an object at line 1 column 41", r.text
    r = rest.post(f"/collections/{existing}/points/query", content=b"not json at all", headers=headers)
    _error_body(r, 400)
    assert _points_count(rest, existing) == 5
    assert not _exists(rest, fresh)


def test_create_existing_collection(client, transport, rest, collection_name):
    _setup(client, collection_name)
    if transport == "rest":
        r = rest.put(f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Cosine"}})
        msg = _error_body(r, 409)
    else:
        with pytest.raises(grpc.RpcError) as ei:
            client.create_collection(
                collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
            )
        msg = _grpc_error(ei, grpc.StatusCode.ALREADY_EXISTS)
    assert "already exists" in msg and collection_name in msg, msg
    info = client.get_collection(collection_name)
    assert info.config.params.vectors.size == DIM, "the existing collection must be untouched"
    assert info.config.params.vectors.distance == models.Distance.DOT
    assert info.points_count == 5


def test_shard_number_zero(client, transport, rest, collection_name):
    if transport == "rest":
        r = rest.put(
            f"/collections/{collection_name}",
            json={"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 0},
        )
        # Qdrant answers 422 for validation errors in JSON bodies.
        msg = _error_body(r, 422)
    else:
        with pytest.raises(grpc.RpcError) as ei:
            client.create_collection(
                collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT), shard_number=0
            )
        msg = _grpc_error(ei, grpc.StatusCode.INVALID_ARGUMENT)
    assert "shard_number" in msg, f"message should name the field: {msg!r}"
    assert not _exists(rest, collection_name)


BAD_FILTERS = [
    {"must": [{"no_such_condition": 1}]},
    {"must": [{"key": "i", "range": {"gte": "ten"}}]},
    {"must": [{"key": "i", "match": {"value": {"an": "object"}}}]},
]


def test_bad_filter(client, transport, rest, collection_name):
    _setup(client, collection_name)
    if transport == "rest":
        for flt in BAD_FILTERS:
            _error_body(rest.post(f"/collections/{collection_name}/points/count", json={"filter": flt}), 400)
            _error_body(rest.post(f"/collections/{collection_name}/points/scroll", json={"filter": flt}), 400)
            _error_body(
                rest.post(f"/collections/{collection_name}/points/delete", params={"wait": "true"},
                          json={"filter": flt}),
                400,
            )
    else:
        # A condition with none of its variants set cannot be expressed through
        # the client's models; send it with the client's own gRPC stub.
        bad = qgrpc.Filter(must=[qgrpc.Condition()])
        with pytest.raises(grpc.RpcError) as ei:
            client.grpc_points.Count(qgrpc.CountPoints(collection_name=collection_name, filter=bad, exact=True), timeout=30)
        _grpc_error(ei, grpc.StatusCode.INVALID_ARGUMENT)
        with pytest.raises(grpc.RpcError) as ei:
            client.grpc_points.Delete(
                qgrpc.DeletePoints(collection_name=collection_name, wait=True, points=qgrpc.PointsSelector(filter=bad)),
                timeout=30,
            )
        _grpc_error(ei, grpc.StatusCode.INVALID_ARGUMENT)
    assert _points_count(rest, collection_name) == 5, "a rejected delete must delete nothing"
    assert client.count(collection_name).count == 5


def test_unknown_vector_name(client, transport, rest, collection_name):
    client.create_collection(collection_name, vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT)})
    client.upsert(collection_name, [models.PointStruct(id=1, vector={"a": [1.0, 0.0]})], wait=True)
    if transport == "rest":
        r = rest.post(f"/collections/{collection_name}/points/query", json={"query": [1.0, 0.0], "using": "nope"})
        msg = _error_body(r, 400)  # Qdrant: "Wrong input: Not existing vector name error: nope"
    else:
        with pytest.raises(grpc.RpcError) as ei:
            client.query_points(collection_name, query=[1.0, 0.0], using="nope")
        msg = _grpc_error(ei, grpc.StatusCode.INVALID_ARGUMENT)
    assert "nope" in msg, msg


def test_refusals_with_a_body_keep_the_connection(rest):
    # A kept-alive client sends one request after another: every refusal of a
    # request with a body is answered, none dropped with the connection.
    for n in range(500):
        path = "/collections/anything/points/bad" if n % 2 else "/no/such/route"
        reply = rest.post(path, json={})
        assert reply.status_code in (404, 405), reply.text


def test_wrong_method_and_unknown_route_answer_json(rest):
    wrong = rest.delete("/collections/anything/points/search")
    assert "method" in _error_body(wrong, 405).lower()
    assert wrong.headers.get("allow") == "POST"
    assert "no endpoint" in _error_body(rest.get("/no/such/route"), 404)
    rest.put("/collections/err_formula", json={"vectors": {"size": 2, "distance": "Dot"}})
    try:
        reply = rest.post("/collections/err_formula/points/query", json={"query": {"formula": {"sum": []}}})
        assert "prefetch" in _error_body(reply, 400)
        unknown = rest.post("/collections/err_formula/points/query", json={"query": {"telepathy": {}}})
        assert "telepathy" in _error_body(unknown, 400)
    finally:
        rest.delete("/collections/err_formula")
