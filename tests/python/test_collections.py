"""Collection lifecycle through qdrant-client, over REST and gRPC."""

from __future__ import annotations

import pytest
from qdrant_client import models

from reference import DISTANCES, random_vectors


def _points(n: int, dim: int, start: int = 1):
    vecs = random_vectors(n, dim, seed=start)
    return [models.PointStruct(id=start + i, vector=v, payload={"i": start + i}) for i, v in enumerate(vecs)]


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_create_single_vector_each_distance(client, collection_name, distance):
    assert client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=8, distance=distance)
    ) is True
    info = client.get_collection(collection_name)
    assert info.status == models.CollectionStatus.GREEN
    assert info.points_count == 0
    vectors = info.config.params.vectors
    assert isinstance(vectors, models.VectorParams), f"expected one unnamed vector, got {vectors!r}"
    assert vectors.size == 8
    assert vectors.distance == distance


def test_create_named_vectors(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "image": models.VectorParams(size=4, distance=models.Distance.DOT),
            "text": models.VectorParams(size=8, distance=models.Distance.COSINE),
        },
    )
    info = client.get_collection(collection_name)
    vectors = info.config.params.vectors
    assert isinstance(vectors, dict), f"expected named vectors, got {vectors!r}"
    assert set(vectors) == {"image", "text"}
    assert (vectors["image"].size, vectors["image"].distance) == (4, models.Distance.DOT)
    assert (vectors["text"].size, vectors["text"].distance) == (8, models.Distance.COSINE)


def _layout_params(deployment) -> dict:
    # A replication factor above the number of data nodes is not meaningful in
    # the one-node layout; the clustered layouts have 3 data planes.
    if deployment.clustered:
        return dict(shard_number=3, replication_factor=2, write_consistency_factor=2)
    return dict(shard_number=2, replication_factor=1, write_consistency_factor=1)


def test_create_with_options_echoes_config(client, collection_name, deployment):
    params = _layout_params(deployment)
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=16, distance=models.Distance.EUCLID),
        hnsw_config=models.HnswConfigDiff(m=20, ef_construct=150),
        on_disk_payload=True,
        **params,
    )
    info = client.get_collection(collection_name)
    assert info.status == models.CollectionStatus.GREEN
    p = info.config.params
    assert p.vectors.size == 16 and p.vectors.distance == models.Distance.EUCLID
    assert p.shard_number == params["shard_number"]
    assert p.replication_factor == params["replication_factor"]
    assert p.write_consistency_factor == params["write_consistency_factor"]
    assert p.on_disk_payload is True
    assert info.config.hnsw_config.m == 20
    assert info.config.hnsw_config.ef_construct == 150


def test_points_count_after_upserts(client, collection_name, deployment):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        shard_number=_layout_params(deployment)["shard_number"],
    )
    client.upsert(collection_name, _points(25, 4, start=1), wait=True)
    info = client.get_collection(collection_name)
    assert info.status == models.CollectionStatus.GREEN
    assert info.points_count == 25
    # 5 more, 2 of which overwrite existing ids -> 28.
    client.upsert(collection_name, _points(5, 4, start=24), wait=True)
    assert client.get_collection(collection_name).points_count == 28
    assert client.count(collection_name, exact=True).count == 28


def test_get_collections_and_exists(client, make_name):
    a, b = make_name("a"), make_name("b")
    for n in (a, b):
        client.create_collection(n, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    names = {c.name for c in client.get_collections().collections}
    assert {a, b} <= names
    assert client.collection_exists(a) is True
    assert client.collection_exists(b) is True
    assert client.collection_exists(a + "_nope") is False


def test_update_collection_hnsw_and_optimizers(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=16),
    )
    client.upsert(collection_name, _points(10, 4), wait=True)
    assert client.update_collection(
        collection_name,
        hnsw_config=models.HnswConfigDiff(m=32, ef_construct=200),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=12345),
    ) is True
    info = client.get_collection(collection_name)
    assert info.config.hnsw_config.m == 32
    assert info.config.hnsw_config.ef_construct == 200
    assert info.config.optimizer_config.indexing_threshold == 12345
    # Data survives a config update.
    assert info.points_count == 10
    assert client.count(collection_name).count == 10


def test_delete_collection(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    client.upsert(collection_name, _points(5, 4), wait=True)
    assert client.collection_exists(collection_name) is True
    assert client.delete_collection(collection_name) is True
    assert client.collection_exists(collection_name) is False
    assert collection_name not in {c.name for c in client.get_collections().collections}
    with pytest.raises(Exception):
        client.get_collection(collection_name)


def test_recreate_after_delete_is_empty(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    client.upsert(collection_name, _points(5, 4), wait=True)
    client.delete_collection(collection_name)
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=6, distance=models.Distance.EUCLID))
    info = client.get_collection(collection_name)
    assert info.points_count == 0
    assert info.config.params.vectors.size == 6
    assert client.count(collection_name).count == 0


def test_collection_metadata_is_kept_and_merged(client, collection_name):
    client.create_collection(collection_name, metadata={"owner": "search", "v": 1},
                             vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    assert client.get_collection(collection_name).config.metadata == {"owner": "search", "v": 1}
    client.update_collection(collection_name, metadata={"v": 2, "note": "reindexed"})
    assert client.get_collection(collection_name).config.metadata == {
        "owner": "search", "v": 2, "note": "reindexed"}


def test_payload_index_parameters_are_kept_and_shown(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.create_payload_index(collection_name, "tenant", wait=True, field_schema=models.KeywordIndexParams(
        type=models.KeywordIndexType.KEYWORD, is_tenant=True))
    client.create_payload_index(collection_name, "ts", wait=True, field_schema=models.IntegerIndexParams(
        type=models.IntegerIndexType.INTEGER, lookup=False, range=True, is_principal=True))
    client.create_payload_index(collection_name, "plain", wait=True, field_schema=models.PayloadSchemaType.FLOAT)
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=[1, 0], payload={"tenant": f"t{i % 2}", "ts": i}) for i in range(6)])
    schema = client.get_collection(collection_name).payload_schema
    assert schema["tenant"].data_type == models.PayloadSchemaType.KEYWORD
    assert schema["tenant"].params.is_tenant is True
    assert schema["ts"].params.is_principal is True and schema["ts"].params.range is True
    assert schema["ts"].params.lookup is False
    assert schema["plain"].params is None
    # The index serves filters on the tenant field as any keyword index does.
    hits = client.count(collection_name, count_filter=models.Filter(must=[
        models.FieldCondition(key="tenant", match=models.MatchValue(value="t1"))]), exact=True)
    assert hits.count == 3
