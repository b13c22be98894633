"""`order_by` in scroll and in the query API, through qdrant-client over REST
and gRPC: points come in the order of an indexed numeric field, checked
against sorting the inserted payloads; without a numeric index it is refused."""

from __future__ import annotations

import random

import pytest
from qdrant_client import models


@pytest.fixture
def priced(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
        shard_number=2)
    rng = random.Random(5)
    prices = {i: rng.randint(0, 1000) for i in range(40)}
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=[1.0, 0.0], payload={"price": p, "rating": p / 10})
        for i, p in prices.items()] + [models.PointStruct(id=100, vector=[0.0, 1.0], payload={})])
    client.create_payload_index(collection_name, "price", models.PayloadSchemaType.INTEGER, wait=True)
    client.create_payload_index(collection_name, "rating", models.PayloadSchemaType.FLOAT, wait=True)
    return collection_name, prices


def _expected(prices, descending=False, start=None, limit=10):
    items = sorted(prices.items(), key=lambda kv: ((-kv[1] if descending else kv[1]), kv[0]))
    if start is not None:
        items = [kv for kv in items if (kv[1] <= start if descending else kv[1] >= start)]
    return [i for i, _ in items[:limit]]


def test_scroll_in_field_order(client, priced):
    name, prices = priced
    page, next_offset = client.scroll(name, order_by="price", limit=10)
    assert [p.id for p in page] == _expected(prices)
    assert [p.order_value for p in page] == [prices[p.id] for p in page]
    assert next_offset is None
    page, _ = client.scroll(name, order_by=models.OrderBy(
        key="price", direction=models.Direction.DESC, start_from=500), limit=7)
    assert [p.id for p in page] == _expected(prices, descending=True, start=500, limit=7)
    filtered, _ = client.scroll(name, order_by="rating", limit=100, scroll_filter=models.Filter(
        must=[models.FieldCondition(key="price", range=models.Range(lt=300))]))
    assert [p.id for p in filtered] == _expected({i: p for i, p in prices.items() if p < 300}, limit=100)


def test_query_in_field_order(client, priced):
    name, prices = priced
    points = client.query_points(name, query=models.OrderByQuery(order_by="price"), limit=5,
                                 offset=2).points
    assert [p.id for p in points] == _expected(prices, limit=7)[2:]


def test_order_by_needs_a_numeric_index(rest, priced):
    name, _ = priced
    reply = rest.post(f"/collections/{name}/points/scroll", json={"order_by": "missing"})
    assert reply.status_code == 400, reply.text
    assert "No range index for `order_by` key" in reply.json()["status"]["error"]
