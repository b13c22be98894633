"""Cluster introspection: GET /cluster, collection cluster info, server version."""

from __future__ import annotations

import importlib.metadata
import time

import pytest
from qdrant_client import models
from qdrant_client.common.version_check import is_compatible

from reference import random_vectors

RAFT_ROLES = {"Follower", "Candidate", "Leader", "PreCandidate"}


def _cluster(rest) -> dict:
    r = rest.get("/cluster")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert isinstance(body["time"], float)
    return body["result"]


def test_cluster_status_shape(deployment, rest):
    """GET /cluster has no gRPC counterpart, so this runs once per layout."""
    res = _cluster(rest)
    assert res["status"] == "enabled"
    assert isinstance(res["peer_id"], int) and res["peer_id"] >= 0
    peers = res["peers"]
    assert isinstance(peers, dict)
    assert len(peers) == deployment.expected_peers, f"peers: {peers}"
    for pid, info in peers.items():
        assert pid.isdigit(), f"peer ids are the map's keys, as decimal strings: {pid!r}"
        assert isinstance(info.get("uri"), str) and info["uri"].startswith("http"), info
    if deployment.clustered:
        uris = {info["uri"].rstrip("/") for info in peers.values()}
        assert uris == set(deployment.data_plane_uris), "peers are the data planes, by the --uri they were given"
    raft = res["raft_info"]
    for key in ("term", "commit"):
        assert isinstance(raft[key], int) and raft[key] >= 0, raft
    assert raft["term"] >= 1, f"a leader has been elected, so the term is at least 1: {raft}"
    assert isinstance(raft.get("leader"), int), f"leader must be known once the cluster is ready: {raft}"
    assert raft.get("role") in RAFT_ROLES, raft


def test_cluster_commit_advances_with_collection_ops(deployment, rest, client, collection_name):
    before = _cluster(rest)["raft_info"]["commit"]
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    after = _cluster(rest)["raft_info"]["commit"]
    assert after > before, f"creating a collection is a consensus operation: commit {before} -> {after}"


def _shard_layout(client, transport, rest, name):
    """(shard_count, [(shard_id, peer_id|None, state, points_count|None)], own peer_id)."""
    if transport == "rest":
        r = rest.get(f"/collections/{name}/cluster")
        assert r.status_code == 200, r.text
        res = r.json()["result"]
        for key in ("peer_id", "shard_count", "local_shards", "remote_shards", "shard_transfers"):
            assert key in res, f"missing {key}: {res}"
        assert isinstance(res["local_shards"], list) and isinstance(res["remote_shards"], list)
        shards = [(s["shard_id"], None, s["state"], s["points_count"]) for s in res["local_shards"]]
        shards += [(s["shard_id"], s["peer_id"], s["state"], None) for s in res["remote_shards"]]
        return res["shard_count"], shards, res["peer_id"]
    info = client.collection_cluster_info(name)
    shards = [(s.shard_id, None, str(s.state.value), s.points_count) for s in info.local_shards]
    shards += [(s.shard_id, s.peer_id, str(s.state.value), None) for s in info.remote_shards]
    return info.shard_count, shards, info.peer_id


def _fill(client, name, n):
    ids = list(range(1, n + 1))
    client.upsert(name, models.Batch(ids=ids, vectors=random_vectors(n, 4, seed=3)), wait=True)


def test_collection_cluster_info(deployment, client, transport, rest, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        shard_number=3,
        replication_factor=1,
    )
    _fill(client, collection_name, 60)
    count, shards, own = _shard_layout(client, transport, rest, collection_name)
    assert count == 3
    assert len(shards) == 3, f"one replica per shard: {shards}"
    assert sorted(s[0] for s in shards) == [0, 1, 2]
    assert all(s[2] == "Active" for s in shards), shards
    local = [s for s in shards if s[1] is None]
    if len(local) == len(shards):
        assert sum(s[3] for s in local) == 60, f"local shards hold every point: {shards}"
    if deployment.clustered:
        peers = {int(p) for p in _cluster(rest)["peers"]}
        hosts = {s[1] if s[1] is not None else own for s in shards}
        assert hosts <= peers, f"shards live on data-plane peers {peers}: {shards}"
        assert len(hosts) >= 2, f"3 shards on 3 data planes should be spread out: {shards}"


def test_replicated_collection(deployment, client, transport, rest, collection_name):
    if not deployment.clustered:
        pytest.skip("replication needs more than one data plane")
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        shard_number=3,
        replication_factor=2,
    )
    _fill(client, collection_name, 30)
    count, shards, own = _shard_layout(client, transport, rest, collection_name)
    assert count == 3
    assert len(shards) == 6, f"3 shards x 2 replicas: {shards}"
    for sid in range(3):
        replicas = [s for s in shards if s[0] == sid]
        hosts = {s[1] if s[1] is not None else own for s in replicas}
        assert len(replicas) == 2 and len(hosts) == 2, f"shard {sid} needs 2 replicas on 2 peers: {shards}"
    assert all(s[2] == "Active" for s in shards), shards
    # Replicas are not double counted.
    assert client.count(collection_name, exact=True).count == 30
    assert client.get_collection(collection_name).points_count == 30
    recs, nxt = client.scroll(collection_name, limit=100)
    assert nxt is None and sorted(r.id for r in recs) == list(range(1, 31))
    res = client.query_points(collection_name, query=[1.0, 0.0, 0.0, 0.0], limit=100,
                              search_params=models.SearchParams(exact=True))
    assert sorted(p.id for p in res.points) == list(range(1, 31))


def test_server_version_is_compatible(client, rest):
    r = rest.get("/")
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("title"), str) and isinstance(body.get("version"), str), body
    client_version = importlib.metadata.version("qdrant-client")
    assert is_compatible(client_version, body["version"]), (
        f"qdrant-client {client_version} warns against server version {body['version']}"
    )
    info = client.info()  # gRPC HealthCheck or REST /
    assert info.version == body["version"]


def test_read_consistency_over_both_transports(deployment, client, collection_name):
    """Every read accepts Qdrant's `consistency`; a factor above the replica
    count is refused with a message, and no level hides a point."""
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        replication_factor=2,
    )
    vectors = random_vectors(20, 4, seed=11)
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=v) for i, v in enumerate(vectors)],
        wait=True,
    )
    for level in (1, models.ReadConsistencyType.ALL, models.ReadConsistencyType.MAJORITY):
        hits = client.query_points(collection_name, query=vectors[0], limit=3, consistency=level).points
        assert len(hits) == 3
        page, _ = client.scroll(collection_name, limit=50, consistency=level)
        assert len(page) == 20
        assert len(client.retrieve(collection_name, ids=[1, 2], consistency=level)) == 2
    with pytest.raises(Exception) as refused:
        client.scroll(collection_name, limit=5, consistency=5)
    assert "consistency" in str(refused.value)


def _replicas(client, transport, rest, name) -> dict[int, str]:
    """Peer -> state of shard 0's replicas, as the collection cluster info shows."""
    _, shards, _ = _shard_layout(client, transport, rest, name)
    return {peer: state for sid, peer, state, _ in shards if sid == 0}


def test_replicate_and_drop_a_shard_with_the_client(deployment, client, transport, rest, collection_name):
    """The seed's cluster operations through qdrant-client's own call, over
    REST and gRPC: a replica is added, becomes Active with every point, the
    original is dropped, and dropping the last copy is refused."""
    if not deployment.clustered:
        pytest.skip("moving replicas needs more than one data plane")
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        shard_number=1,
    )
    vectors = random_vectors(50, 4, seed=5)
    client.upsert(collection_name, wait=True,
                  points=[models.PointStruct(id=i, vector=v) for i, v in enumerate(vectors)])
    (holder,) = _replicas(client, transport, rest, collection_name)
    other = next(int(p) for p in _cluster(rest)["peers"] if int(p) != holder)
    assert client.cluster_collection_update(
        collection_name,
        cluster_operation=models.ReplicateShardOperation(
            replicate_shard=models.ReplicateShard(shard_id=0, from_peer_id=holder, to_peer_id=other)),
    )
    deadline = time.monotonic() + 30
    while _replicas(client, transport, rest, collection_name) != {holder: "Active", other: "Active"}:
        assert time.monotonic() < deadline, _replicas(client, transport, rest, collection_name)
        time.sleep(0.1)
    assert client.cluster_collection_update(
        collection_name,
        cluster_operation=models.DropReplicaOperation(
            drop_replica=models.Replica(shard_id=0, peer_id=holder)),
    )
    assert _replicas(client, transport, rest, collection_name) == {other: "Active"}
    assert client.count(collection_name, exact=True).count == 50
    with pytest.raises(Exception) as refused:
        client.cluster_collection_update(
            collection_name,
            cluster_operation=models.DropReplicaOperation(
                drop_replica=models.Replica(shard_id=0, peer_id=other)),
        )
    assert "last active replica" in str(refused.value)
