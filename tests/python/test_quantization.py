"""Quantization: codes kept for indexed segments, searched with re-scoring (the
default), without it, or ignored, as Qdrant's `quantization` search params say;
settings shown, changed and disabled; bad settings refused."""

from __future__ import annotations

import random
import time

import pytest
from qdrant_client import models

from reference import brute_force, f32, score

N = 1200

SCALAR = models.ScalarQuantization(
    scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True))
PRODUCT = models.ProductQuantization(
    product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X8))
BINARY = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))

# (settings, dimension, oversampling, recall floor with re-scoring)
CASES = {
    "scalar": (SCALAR, 32, 1.0, 0.9),
    "product": (PRODUCT, 32, 3.0, 0.85),
    "binary": (BINARY, 256, 4.0, 0.8),
}


def clustered(n: int, dim: int, seed: int) -> list[list[float]]:
    """Points around 20 centres, spread enough that they differ in many signs."""
    rng = random.Random(seed)
    centres = [[rng.uniform(-1, 1) for _ in range(dim)] for _ in range(20)]
    return [[f32(c + rng.uniform(-1.5, 1.5)) for c in centres[i % 20]] for i in range(n)]


def wait_indexed(client, name: str, n: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        info = client.get_collection(name)
        indexed = info.indexed_vectors_count or 0
        if info.status == models.CollectionStatus.GREEN and indexed >= n:
            return
        assert time.monotonic() < deadline, f"{indexed} of {n} vectors indexed, status {info.status}"
        time.sleep(0.25)


def make_collection(client, name: str, quantization, dim: int) -> list[list[float]]:
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
        shard_number=2,
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10),
        quantization_config=quantization,
    )
    vectors = clustered(N, dim, seed=dim)
    for start in range(0, N, 300):
        client.upsert(name, wait=True, points=[
            models.PointStruct(id=i, vector=vectors[i]) for i in range(start, start + 300)])
    wait_indexed(client, name, N)
    return vectors


def search(client, name, query, quantization: models.QuantizationSearchParams | None):
    return client.query_points(
        name, query=query, limit=10,
        search_params=models.SearchParams(quantization=quantization)).points


@pytest.mark.parametrize("kind", list(CASES))
def test_quantized_search_finds_the_true_neighbours(client, collection_name, kind):
    quantization, dim, oversampling, floor = CASES[kind]
    vectors = make_collection(client, collection_name, quantization, dim)
    by_id = dict(enumerate(vectors))
    rng = random.Random(5)
    queries = [[x + rng.uniform(-0.3, 0.3) for x in vectors[rng.randrange(N)]] for _ in range(10)]
    rescored = models.QuantizationSearchParams(rescore=True, oversampling=oversampling)
    raw = models.QuantizationSearchParams(rescore=False)
    ignored = models.QuantizationSearchParams(ignore=True)
    found = {"rescored": 0, "ignored": 0}
    estimated = False
    for q in queries:
        truth = [i for i, _ in brute_force(models.Distance.COSINE, q, by_id)[:10]]
        for label, params in (("rescored", rescored), ("ignored", ignored)):
            points = search(client, collection_name, q, params)
            found[label] += len({p.id for p in points} & set(truth))
            for p in points:
                # Re-scored and ignored searches report the stored vectors' scores.
                assert p.score == pytest.approx(score(models.Distance.COSINE, q, by_id[p.id]), abs=1e-4)
        for p in search(client, collection_name, q, raw):
            estimated |= abs(p.score - score(models.Distance.COSINE, q, by_id[p.id])) > 1e-4
    assert found["rescored"] / 100 >= floor, f"{kind}: recall@10 {found['rescored'] / 100}"
    assert found["ignored"] / 100 >= 0.9, f"{kind}: recall@10 ignoring codes {found['ignored'] / 100}"
    # Without re-scoring the scores are the codes' estimates: the walk read the codes.
    assert estimated, f"{kind}: every score was exact without re-scoring"


def test_quantization_settings_are_shown_changed_and_disabled(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "a": models.VectorParams(size=8, distance=models.Distance.DOT, quantization_config=PRODUCT),
            "b": models.VectorParams(size=8, distance=models.Distance.DOT),
        },
        quantization_config=SCALAR,
    )
    config = client.get_collection(collection_name).config
    assert config.quantization_config.scalar.type == models.ScalarType.INT8
    assert config.quantization_config.scalar.quantile == pytest.approx(0.99)
    assert config.params.vectors["a"].quantization_config.product.compression == models.CompressionRatio.X8
    assert config.params.vectors["b"].quantization_config is None

    client.update_collection(collection_name, quantization_config=BINARY,
                             vectors_config={"b": models.VectorParamsDiff(quantization_config=SCALAR)})
    config = client.get_collection(collection_name).config
    assert config.quantization_config.binary.always_ram is True
    assert config.params.vectors["b"].quantization_config.scalar.type == models.ScalarType.INT8

    client.update_collection(collection_name, quantization_config=models.Disabled.DISABLED,
                             vectors_config={"a": models.VectorParamsDiff(quantization_config=models.Disabled.DISABLED)})
    config = client.get_collection(collection_name).config
    assert config.quantization_config is None
    assert config.params.vectors["a"].quantization_config is None


def test_bad_quantization_is_refused_and_changes_nothing(rest, make_name):
    name = make_name()
    bad_quantile = {"vectors": {"size": 4, "distance": "Dot"},
                    "quantization_config": {"scalar": {"type": "int8", "quantile": 0.1}}}
    r = rest.put(f"/collections/{name}", json=bad_quantile)
    assert r.status_code == 422, r.text
    assert "quantile" in r.json()["status"]["error"]
    unknown_ratio = {"vectors": {"size": 4, "distance": "Dot"},
                     "quantization_config": {"product": {"compression": "x3"}}}
    assert rest.put(f"/collections/{name}", json=unknown_ratio).status_code == 400
    assert rest.get(f"/collections/{name}/exists").json()["result"]["exists"] is False

    assert rest.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Dot"}}).status_code == 200
    r = rest.post(f"/collections/{name}/points/query", json={
        "query": [1, 0, 0, 0], "params": {"quantization": {"oversampling": 0.5}}})
    assert r.status_code == 422, r.text
    assert "oversampling" in r.json()["status"]["error"]
    r = rest.patch(f"/collections/{name}", json={"quantization_config": {"scalar": {"type": "int8", "quantile": 2}}})
    assert r.status_code == 422, r.text
    assert rest.get(f"/collections/{name}").json()["result"]["config"]["quantization_config"] is None
