"""Conditional writes: `update_mode` (insert only, update only) and
`update_filter` (replace an existing point only where it matches), over REST
and gRPC, single and batched, on sharded collections too."""

from __future__ import annotations

import pytest
from qdrant_client import models

V = [1.0, 0.0, 0.0, 0.0]


def _setup(client, name):
    client.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    client.upsert(name, wait=True, points=[
        models.PointStruct(id=i, vector=V, payload={"version": 1, "locked": i % 2 == 0}) for i in range(6)
    ])


def _versions(client, name, ids):
    return {r.id: r.payload["version"] for r in client.retrieve(name, ids=ids, with_payload=True)}


def test_insert_only_leaves_existing_points_alone(client, collection_name):
    _setup(client, collection_name)
    client.upsert(collection_name, wait=True, update_mode=models.UpdateMode.INSERT_ONLY, points=[
        models.PointStruct(id=i, vector=V, payload={"version": 2}) for i in (0, 1, 10)
    ])
    assert _versions(client, collection_name, [0, 1, 10]) == {0: 1, 1: 1, 10: 2}


def test_update_only_does_not_create_points(client, collection_name):
    _setup(client, collection_name)
    client.upsert(collection_name, wait=True, update_mode=models.UpdateMode.UPDATE_ONLY, points=[
        models.PointStruct(id=i, vector=V, payload={"version": 2}) for i in (2, 3, 11)
    ])
    assert _versions(client, collection_name, [2, 3, 11]) == {2: 2, 3: 2}
    assert client.count(collection_name, exact=True).count == 6


def test_update_filter_replaces_only_matching_points_and_inserts_new_ones(client, collection_name):
    _setup(client, collection_name)
    unlocked = models.Filter(must=[models.FieldCondition(key="locked", match=models.MatchValue(value=False))])
    client.upsert(collection_name, wait=True, update_filter=unlocked, points=[
        models.PointStruct(id=i, vector=V, payload={"version": 2, "locked": False}) for i in (0, 1, 12)
    ])
    assert _versions(client, collection_name, [0, 1, 12]) == {0: 1, 1: 2, 12: 2}


def test_batched_conditional_upserts(client, collection_name):
    _setup(client, collection_name)
    client.batch_update_points(collection_name, wait=True, update_operations=[
        models.UpsertOperation(upsert=models.PointsList(
            points=[models.PointStruct(id=i, vector=V, payload={"version": 3}) for i in (4, 13)],
            update_mode=models.UpdateMode.UPDATE_ONLY,
        )),
    ])
    assert _versions(client, collection_name, [4, 13]) == {4: 3}


def test_an_unknown_update_mode_is_refused(rest, make_name):
    name = make_name()
    rest.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    r = rest.put(f"/collections/{name}/points?wait=true", json={"points": [{"id": 1, "vector": V}], "update_mode": "sometimes"})
    assert r.status_code == 400, r.text
    assert rest.post(f"/collections/{name}/points/count", json={"exact": True}).json()["result"]["count"] == 0


def test_update_filter_limits_vector_updates_to_matching_points(client, collection_name):
    _setup(client, collection_name)
    locked = models.Filter(must=[models.FieldCondition(key="locked", match=models.MatchValue(value=True))])
    new = [0.0, 0.0, 0.0, 1.0]
    client.update_vectors(collection_name, wait=True, update_filter=locked, points=[
        models.PointVectors(id=i, vector=new) for i in (0, 1, 99)
    ])
    records = {r.id: r.vector for r in client.retrieve(collection_name, ids=[0, 1, 99], with_vectors=True)}
    assert records[0] == pytest.approx(new)
    assert records[1] == pytest.approx(V)
    assert 99 not in records
