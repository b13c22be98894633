"""Indexing follows Qdrant's meaning of the settings: a segment whose vectors
pass `indexing_threshold` kilobytes gets its graph, whatever
`full_scan_threshold` says (that one only steers filtered searches)."""

from __future__ import annotations

import time

from qdrant_client import models

from reference import random_vectors, score

N = 1500
DIM = 16


def test_a_low_indexing_threshold_indexes_every_shard(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
        shard_number=3,
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10),
    )
    vectors = random_vectors(N, DIM, seed=77)
    for start in range(0, N, 250):
        client.upsert(collection_name, wait=True, points=[
            models.PointStruct(id=i, vector=vectors[i]) for i in range(start, start + 250)])
    deadline = time.monotonic() + 90
    while True:
        info = client.get_collection(collection_name)
        indexed = info.indexed_vectors_count or 0
        if info.status == models.CollectionStatus.GREEN and indexed >= N * 3 // 4:
            break
        assert time.monotonic() < deadline, f"{indexed} of {N} vectors indexed, status {info.status}"
        time.sleep(0.25)
    assert info.points_count == N
    hits, total = 0, 0
    for q in random_vectors(10, DIM, seed=78):
        want = sorted(range(N), key=lambda i: -score(models.Distance.DOT, q, vectors[i]))[:10]
        got = [p.id for p in client.query_points(collection_name, query=q, limit=10).points]
        hits += len(set(got) & set(want))
        total += 10
    assert hits / total >= 0.9, f"recall@10 {hits / total}"
