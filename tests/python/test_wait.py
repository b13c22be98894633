"""wait=true vs wait=false on updates."""

from __future__ import annotations

import time

from qdrant_client import models

VISIBLE_WITHIN_S = 10.0


def _poll(fn, what: str):
    deadline = time.monotonic() + VISIBLE_WITHIN_S
    while True:
        if fn():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not visible after {VISIBLE_WITHIN_S}s")
        time.sleep(0.05)


def _create(client, name):
    client.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))


def test_wait_true_is_completed_and_visible(client, collection_name):
    _create(client, collection_name)
    res = client.upsert(
        collection_name, [models.PointStruct(id=i, vector=[i, 0, 0, 1], payload={"i": i}) for i in range(1, 21)], wait=True
    )
    assert res.status == models.UpdateStatus.COMPLETED
    # Visible immediately, no polling.
    assert client.count(collection_name, exact=True).count == 20
    assert len(client.retrieve(collection_name, list(range(1, 21)))) == 20
    res = client.delete(collection_name, models.PointIdsList(points=[1, 2]), wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    assert client.count(collection_name, exact=True).count == 18


def test_wait_false_is_acknowledged_then_visible(client, transport, rest, collection_name):
    _create(client, collection_name)
    res = client.upsert(
        collection_name, [models.PointStruct(id=i, vector=[i, 1, 0, 0], payload={"i": i}) for i in range(1, 11)], wait=False
    )
    assert res.status == models.UpdateStatus.ACKNOWLEDGED
    _poll(lambda: client.count(collection_name, exact=True).count == 10, "10 upserted points")
    (r,) = client.retrieve(collection_name, [7], with_vectors=True)
    assert r.payload == {"i": 7} and r.vector == [7.0, 1.0, 0.0, 0.0]

    res = client.set_payload(collection_name, {"late": True}, points=[3], wait=False)
    assert res.status == models.UpdateStatus.ACKNOWLEDGED
    _poll(lambda: client.retrieve(collection_name, [3])[0].payload.get("late") is True, "set_payload")

    res = client.delete(collection_name, models.PointIdsList(points=[1, 2, 3]), wait=False)
    assert res.status == models.UpdateStatus.ACKNOWLEDGED
    _poll(lambda: client.count(collection_name, exact=True).count == 7, "delete of 3 points")

    if transport == "rest":
        r = rest.put(
            f"/collections/{collection_name}/points",
            params={"wait": "false"},
            json={"points": [{"id": 50, "vector": [0.5, 0.5, 0.5, 0.5]}]},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ok"
        assert body["result"]["status"] == "acknowledged"
        _poll(lambda: len(client.retrieve(collection_name, [50])) == 1, "raw REST upsert")
