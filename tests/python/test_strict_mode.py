"""Strict mode: a collection's limits refuse requests that ask too much, with
Qdrant's messages, before anything runs; limits count what a request really
does (defaults left out, every prefetch, groups' limit × group_size)."""

from __future__ import annotations

import pytest
from qdrant_client import models

V = [0.1, 0.2, 0.3, 0.4]


@pytest.fixture
def strict(rest, make_name):
    name = make_name()
    created = rest.put(f"/collections/{name}", json={
        "vectors": {"size": 4, "distance": "Dot"},
        "strict_mode_config": {
            "enabled": True,
            "max_query_limit": 5,
            "unindexed_filtering_retrieve": False,
            "unindexed_filtering_update": False,
            "search_allow_exact": False,
            "search_max_hnsw_ef": 64,
            "upsert_max_batchsize": 3,
            "search_max_batchsize": 2,
            "filter_max_conditions": 2,
            "condition_max_size": 3,
            "max_payload_index_count": 1,
        },
    })
    assert created.status_code == 200, created.text
    assert rest.put(f"/collections/{name}/index?wait=true", json={"field_name": "color", "field_schema": "keyword"}).status_code == 200
    ok = rest.put(f"/collections/{name}/points?wait=true", json={"points": [
        {"id": i, "vector": V, "payload": {"color": "red", "size": i}} for i in range(3)]})
    assert ok.status_code == 200, ok.text
    return name


def refused(response, words):
    assert response.status_code == 400, response.text
    assert words in response.json()["status"]["error"]


def test_limits_are_refused_with_qdrants_messages(strict, rest):
    base = f"/collections/{strict}/points"
    refused(rest.post(f"{base}/query", json={"query": V, "limit": 6}), 'Limit exceeded 6 > 5 for "limit"')
    refused(rest.post(f"{base}/query", json={
        "prefetch": {"query": V, "limit": 100}, "query": {"fusion": "rrf"}, "limit": 2}), "100 > 5")
    refused(rest.post(f"{base}/query/groups", json={
        "query": V, "group_by": "color", "limit": 3, "group_size": 2}), "6 > 5")
    refused(rest.post(f"{base}/scroll", json={"limit": 50}), "50 > 5")
    refused(rest.post(f"{base}/query", json={"query": V, "limit": 2, "params": {"exact": True}}), "Exact search disabled")
    refused(rest.post(f"{base}/query", json={"query": V, "limit": 2, "params": {"hnsw_ef": 100}}), "hnsw_ef")
    refused(rest.post(f"{base}/search/batch", json={"searches": [{"vector": V, "limit": 1}] * 3}), "batch size")
    assert rest.post(f"{base}/query", json={"query": V, "limit": 5}).status_code == 200
    # The gateway's own pages (limit + offset here) are not the caller's limit.
    assert rest.post(f"{base}/query", json={"limit": 5, "offset": 2}).status_code == 200


def test_filters_must_use_indexes_and_stay_small(strict, rest):
    base = f"/collections/{strict}/points"
    unindexed = {"must": [{"key": "size", "range": {"gte": 1}}]}
    refused(rest.post(f"{base}/query", json={"query": V, "limit": 2, "filter": unindexed}), 'Index required but not found for "size"')
    refused(rest.post(f"{base}/delete?wait=true", json={"filter": unindexed}), 'Index required but not found for "size"')
    many = {"must": [{"key": "color", "match": {"value": c}} for c in ("a", "b", "c")]}
    refused(rest.post(f"{base}/count", json={"filter": many}), "filter conditions")
    wide = {"must": [{"key": "color", "match": {"any": ["a", "b", "c", "d"]}}]}
    refused(rest.post(f"{base}/count", json={"filter": wide}), "condition size")
    indexed = {"must": [{"key": "color", "match": {"value": "red"}}]}
    assert rest.post(f"{base}/count", json={"filter": indexed, "exact": True}).json()["result"]["count"] == 3


def test_writes_and_indexes_are_bounded_and_refusals_change_nothing(strict, rest):
    big = rest.put(f"/collections/{strict}/points?wait=true", json={"points": [
        {"id": i, "vector": V} for i in range(10, 14)]})
    refused(big, "4 > 3")
    refused(rest.put(f"/collections/{strict}/index?wait=true", json={"field_name": "size", "field_schema": "integer"}), "payload index count")
    assert rest.post(f"/collections/{strict}/points/count", json={"exact": True}).json()["result"]["count"] == 3
    info = rest.get(f"/collections/{strict}").json()["result"]
    assert info["config"]["strict_mode_config"]["max_query_limit"] == 5
    assert set(info["payload_schema"]) == {"color"}


def test_strict_mode_is_changed_and_switched_off_by_update(strict, client):
    client.update_collection(strict, strict_mode_config=models.StrictModeConfig(max_query_limit=10))
    assert len(client.query_points(strict, query=V, limit=8).points) == 3
    client.update_collection(strict, strict_mode_config=models.StrictModeConfig(enabled=False))
    assert len(client.query_points(strict, query=V, limit=100, search_params=models.SearchParams(exact=True)).points) == 3
    assert client.get_collection(strict).config.strict_mode_config.enabled is False
