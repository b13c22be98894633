"""Qdrant's service endpoints, over raw HTTP: `/`, the Kubernetes probes,
`/issues`, `/telemetry`, `/metrics` and a collection's `/optimizations`,
with Qdrant 1.19's texts and shapes."""

from __future__ import annotations

import re

import pytest

QDRANT_VERSION = "1.19.0"


def _result(resp) -> object:
    assert resp.status_code == 200, resp.text[:500]
    body = resp.json()
    assert isinstance(body.pop("time"), float)
    assert body["status"] == "ok", body
    return body["result"]


@pytest.fixture
def collection(rest, collection_name):
    """One shard, a few points: every shard answers from one node."""
    created = rest.put(f"/collections/{collection_name}", json={
        "vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1})
    assert created.status_code == 200, created.text
    points = [{"id": i, "vector": [1.0, float(i)]} for i in range(3)]
    upserted = rest.put(f"/collections/{collection_name}/points?wait=true", json={"points": points})
    assert upserted.status_code == 200, upserted.text
    return collection_name


def test_root_reports_qdrants_title_version_and_commit(rest):
    resp = rest.get("/")
    assert resp.status_code == 200
    body = resp.json()
    assert re.fullmatch(r"[0-9a-f]{40}", body.get("commit", "")), body
    assert body == {"title": "qdrant - vector search engine", "version": QDRANT_VERSION,
                    "commit": body["commit"]}


@pytest.mark.parametrize("path, status, text", [
    ("/healthz", 200, "healthz check passed"),
    ("/livez", 200, "healthz check passed"),
    ("/readyz", 200, "all shards are ready"),
])
def test_probes_answer_qdrants_plain_texts(rest, path, status, text):
    resp = rest.get(path)
    assert (resp.status_code, resp.text) == (status, text)
    assert resp.headers["content-type"].startswith("text/plain")


def test_issues_are_none_and_clearing_them_succeeds(rest):
    assert _result(rest.get("/issues")) == {"issues": []}
    assert _result(rest.delete("/issues")) is True


def test_telemetry_level_0_has_qdrants_minimal_shape(rest, collection):
    result = _result(rest.get("/telemetry"))
    assert set(result) == {"id", "app", "collections", "cluster", "requests", "quota"}
    assert set(result["app"]) == {"name", "version", "startup"}
    assert (result["app"]["name"], result["app"]["version"]) == ("qdrant", QDRANT_VERSION)
    assert set(result["collections"]) == {"number_of_collections"}
    assert result["collections"]["number_of_collections"] >= 1
    assert result["cluster"] == {"enabled": True, "resharding_enabled": False}
    assert result["quota"] == {"config": {"enabled": False},
                               "exceeded": {"resident_memory": None, "disk_usage": None}}
    upserts = result["requests"]["rest"]["responses"]["PUT /collections/{collection_name}/points"]
    assert set(upserts["200"]) == {"count", "avg_duration_micros"}
    assert upserts["200"]["count"] >= 1
    assert isinstance(result["requests"]["grpc"]["responses"], dict)


def test_telemetry_levels_add_details(rest, collection):
    level1 = _result(rest.get("/telemetry", params={"details_level": 1}))
    assert set(level1) == {"id", "app", "collections", "cluster", "requests", "memory",
                           "hardware", "search_pool", "quota"}
    assert set(level1["collections"]) == {"number_of_collections", "collections", "snapshots"}
    for entry in level1["collections"]["collections"]:
        assert set(entry) == {"vectors", "optimizers_status", "params"}
    upserts = level1["requests"]["rest"]["responses"]["PUT /collections/{collection_name}/points"]
    assert set(upserts["200"]) == {"count", "avg_duration_micros", "min_duration_micros",
                                   "max_duration_micros", "total_duration_micros", "last_responded"}

    level2 = _result(rest.get("/telemetry", params={"details_level": 2}))
    config = _result(rest.get(f"/collections/{collection}"))["config"]
    entries = {c["id"]: c for c in level2["collections"]["collections"]}
    assert entries[collection] == {"id": collection, "init_time_ms": 0, "config": config}
    assert {"id": collection} in level2["collections"]["snapshots"]


def test_metrics_carry_qdrants_series_beside_tesseras(rest, collection):
    rest.post(f"/collections/{collection}/points/scroll", json={"limit": 1})
    text = rest.get("/metrics").text
    for line in [
        "# HELP app_info information about qdrant server",
        "# TYPE app_info gauge",
        f'app_info{{name="qdrant",version="{QDRANT_VERSION}"}} 1',
        "# HELP app_status_recovery_mode features enabled in qdrant server",
        "app_status_recovery_mode 0",
        "# HELP collections_total number of collections",
        "# HELP collections_vector_total total number of vectors in all collections",
        f'collection_vectors{{collection="{collection}",vector=""}} 3',
        f'collection_points{{id="{collection}"}} 3',
        "# HELP cluster_enabled is cluster support enabled",
        "cluster_enabled 1",
        "# HELP rest_responses_total total number of responses",
        "# HELP rest_responses_avg_duration_seconds average response duration",
        "# HELP rest_responses_duration_seconds response duration histogram",
    ]:
        assert line in text.splitlines(), line
    assert re.search(r'^rest_responses_total\{method="POST",'
                     r'endpoint="/collections/\{collection_name\}/points/scroll",status="200"\} [1-9]',
                     text, re.M), text[-3000:]
    assert "tessera_requests_total" in text


def test_optimizations_of_an_idle_collection(rest, collection_name):
    created = rest.put(f"/collections/{collection_name}", json={
        "vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1})
    assert created.status_code == 200, created.text
    url = f"/collections/{collection_name}/optimizations"
    summary = {"queued_optimizations": 0, "queued_segments": 0, "queued_points": 0,
               "idle_segments": 1}
    assert _result(rest.get(url)) == {"summary": summary, "running": []}
    everything = _result(rest.get(url, params={"with": "queued , completed,idle_segments"}))
    idle = everything.pop("idle_segments")
    assert everything == {"summary": summary, "running": [], "queued": [], "completed": []}
    assert [s["points_count"] for s in idle] == [0]
    assert re.fullmatch(r"[0-9a-f-]{36}", idle[0]["uuid"])

    wrong = rest.get(url, params={"with": "running"})
    assert wrong.status_code == 400
    assert wrong.json()["status"] == {"error": "Wrong input: Unknown field in 'with' parameter: running"}
