"""Snapshots through qdrant-client, over REST and gRPC: a collection snapshot
is listed with its sha256, recovered after the collection is deleted with the
same search results, and deleted; shard and full-storage snapshots likewise."""

from __future__ import annotations

import hashlib
import socket
import threading

import httpx
import pytest
from qdrant_client import models

from reference import random_vectors


def _filled(client, name, n=60):
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
        shard_number=2,
    )
    vectors = random_vectors(n, 4, seed=11)
    client.upsert(name, wait=True, points=[
        models.PointStruct(id=i, vector=vectors[i], payload={"i": i}) for i in range(n)
    ])
    return vectors


def _ranked(client, name, vector):
    hits = client.query_points(name, query=vector, limit=10).points
    return [(h.id, round(h.score, 5)) for h in hits]


def test_collection_snapshot_recovered_after_delete(client, deployment, collection_name):
    vectors = _filled(client, collection_name)
    before = _ranked(client, collection_name, vectors[0])
    snapshot = client.create_snapshot(collection_name, wait=True)
    assert snapshot.name.endswith(".snapshot") and snapshot.size > 0
    listed = {s.name: s for s in client.list_snapshots(collection_name)}
    assert listed[snapshot.name].checksum == snapshot.checksum

    path = f"/collections/{collection_name}/snapshots/{snapshot.name}"
    data = httpx.get(deployment.http_url + path, timeout=30).content
    assert hashlib.sha256(data).hexdigest() == snapshot.checksum

    client.delete_collection(collection_name)
    url = deployment.url_inside_cluster + path
    assert client.recover_snapshot(collection_name, url, priority=models.SnapshotPriority.SNAPSHOT,
                                   checksum=snapshot.checksum)
    assert client.count(collection_name).count == len(vectors)
    assert _ranked(client, collection_name, vectors[0]) == before

    assert client.delete_snapshot(collection_name, snapshot.name)
    assert snapshot.name not in {s.name for s in client.list_snapshots(collection_name)}


def test_shard_snapshot_recovered(client, deployment, collection_name):
    _filled(client, collection_name)
    snapshot = client.create_shard_snapshot(collection_name, shard_id=1)
    assert snapshot.name in {s.name for s in client.list_shard_snapshots(collection_name, shard_id=1)}
    in_shard = client.count(collection_name).count
    client.delete(collection_name, points_selector=models.FilterSelector(filter=models.Filter()), wait=True)
    url = (f"{deployment.url_inside_cluster}/collections/{collection_name}"
           f"/shards/1/snapshots/{snapshot.name}")
    assert client.recover_shard_snapshot(collection_name, shard_id=1, location=url,
                                         priority=models.SnapshotPriority.SNAPSHOT)
    restored = client.count(collection_name).count
    assert 0 < restored < in_shard
    assert client.delete_shard_snapshot(collection_name, shard_id=1, snapshot_name=snapshot.name)


def test_full_snapshot_lists_and_deletes(client, collection_name):
    _filled(client, collection_name, n=10)
    snapshot = client.create_full_snapshot(wait=True)
    assert snapshot.name.startswith("full-snapshot-")
    assert snapshot.name in {s.name for s in client.list_full_snapshots()}
    assert client.delete_full_snapshot(snapshot.name)
    assert snapshot.name not in {s.name for s in client.list_full_snapshots()}


def test_snapshot_refusals(rest, deployment, collection_name, tmp_path):
    missing = rest.get("/collections/no-such-collection/snapshots")
    assert missing.status_code == 404, missing.text
    unknown = rest.delete("/snapshots/no-such.snapshot")
    assert unknown.status_code == 404, unknown.text
    assert "not found" in unknown.json()["status"]["error"]
    junk = tmp_path / "junk.snapshot"
    junk.write_bytes(b"not a snapshot at all" * 100)
    refused = rest.put(f"/collections/{collection_name}/snapshots/recover",
                       json={"location": f"file://{junk}"})
    assert refused.status_code == 400, refused.text
    # In containers the file is not there at all, which is refused as Qdrant refuses it.
    expected = "damaged" if deployment.shares_files else f'Bad request: Snapshot file "{junk}" does not exist'
    assert expected in refused.json()["status"]["error"]
    assert rest.get(f"/collections/{collection_name}/exists").json()["result"]["exists"] is False


def test_snapshot_upload_recovers(client, deployment, rest, collection_name):
    vectors = _filled(client, collection_name, n=20)
    before = _ranked(client, collection_name, vectors[3])
    snapshot = client.create_snapshot(collection_name, wait=True)
    data = rest.get(f"/collections/{collection_name}/snapshots/{snapshot.name}").content
    client.delete_collection(collection_name)
    uploaded = rest.post(f"/collections/{collection_name}/snapshots/upload?priority=snapshot",
                         files={"snapshot": ("c.snapshot", data)})
    assert uploaded.status_code == 200, uploaded.text
    assert _ranked(client, collection_name, vectors[3]) == before


def _serve_cut_short(body: bytes) -> tuple[str, threading.Thread]:
    """An HTTP server, for one request, that promises `body` whole and closes the
    connection halfway through it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode()
                         + body[: len(body) // 2])
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/cut.snapshot", thread


def test_a_snapshot_download_that_breaks_off_changes_nothing(client, deployment, rest,
                                                            collection_name):
    if not deployment.shares_files:
        pytest.skip("the data nodes run in containers: they cannot reach this test's server")
    vectors = _filled(client, collection_name, n=40)
    before = _ranked(client, collection_name, vectors[5])
    snapshot = client.create_snapshot(collection_name, wait=True)
    data = rest.get(f"/collections/{collection_name}/snapshots/{snapshot.name}").content
    listed = sorted(s.name for s in client.list_snapshots(collection_name))
    client.delete(collection_name, points_selector=models.PointIdsList(points=list(range(20))),
                  wait=True)
    after_delete = _ranked(client, collection_name, vectors[5])
    url, server = _serve_cut_short(data)
    refused = rest.put(f"/collections/{collection_name}/snapshots/recover?wait=true",
                       json={"location": url, "priority": "snapshot"})
    server.join(timeout=10)
    assert refused.status_code >= 400, refused.text
    # The collection keeps what it held, and no store kept the half-read file.
    assert client.count(collection_name).count == 20
    assert _ranked(client, collection_name, vectors[5]) == after_delete != before
    assert sorted(s.name for s in client.list_snapshots(collection_name)) == listed
