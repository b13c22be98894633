"""User-defined sharding (`sharding_method: custom`) through qdrant-client, over
REST and gRPC: each tenant's points live under its shard key, reads can be
narrowed to keys, and writes without a key or with an unknown one are refused."""

from __future__ import annotations

import pytest
from qdrant_client import models

from reference import random_vectors


def _tenants(client, name):
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        sharding_method=models.ShardingMethod.CUSTOM,
    )
    assert client.create_shard_key(name, "acme")
    assert client.create_shard_key(name, "globex", shards_number=2)
    vectors = random_vectors(30, 4, seed=3)
    client.upsert(name, shard_key_selector="acme",
                  points=[models.PointStruct(id=i, vector=vectors[i], payload={"t": "acme"})
                          for i in range(10)])
    client.upsert(name, shard_key_selector="globex",
                  points=[models.PointStruct(id=100 + i, vector=vectors[10 + i], payload={"t": "globex"})
                          for i in range(20)])
    return vectors


def test_shard_keys_keep_tenants_apart(client, collection_name):
    vectors = _tenants(client, collection_name)
    assert client.count(collection_name, shard_key_selector="acme").count == 10
    assert client.count(collection_name, shard_key_selector="globex").count == 20
    assert client.count(collection_name).count == 30
    hits = client.query_points(collection_name, query=vectors[0], limit=50,
                               shard_key_selector="acme").points
    assert sorted(h.id for h in hits) == list(range(10))
    page, _ = client.scroll(collection_name, limit=100, shard_key_selector=["acme", "globex"])
    assert len(page) == 30
    found = client.retrieve(collection_name, ids=[1, 105], shard_key_selector="acme")
    assert [r.id for r in found] == [1]
    assert sorted(r.id for r in client.retrieve(collection_name, ids=[1, 105])) == [1, 105]

    assert client.delete_shard_key(collection_name, "acme")
    assert client.count(collection_name).count == 20
    with pytest.raises(Exception) as unknown:
        client.count(collection_name, shard_key_selector="acme")
    assert "acme" in str(unknown.value)


def test_custom_sharding_refusals(client, rest, collection_name):
    _tenants(client, collection_name)
    point = {"id": 1, "vector": [1.0, 0.0, 0.0, 0.0]}
    path = f"/collections/{collection_name}"
    no_key = rest.put(f"{path}/points?wait=true", json={"points": [point]})
    assert no_key.status_code == 400, no_key.text
    assert "shard_key" in no_key.json()["status"]["error"]
    unknown = rest.put(f"{path}/points?wait=true", json={"points": [point], "shard_key": "initech"})
    assert unknown.status_code == 404, unknown.text
    again = rest.put(f"{path}/shards", json={"shard_key": "acme"})
    assert again.status_code == 400, again.text
    listed = rest.get(f"{path}/shards").json()["result"]["shard_keys"]
    assert [k["key"] for k in listed] == ["acme", "globex"]
    assert client.count(collection_name).count == 30


def test_automatic_collections_refuse_shard_keys(client, rest, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
    )
    refused = rest.put(f"/collections/{collection_name}/shards", json={"shard_key": "a"})
    assert refused.status_code == 400, refused.text
    with pytest.raises(Exception):
        client.upsert(collection_name, shard_key_selector="a",
                      points=[models.PointStruct(id=1, vector=[1.0, 0.0, 0.0, 0.0])])
    assert client.count(collection_name).count == 0
