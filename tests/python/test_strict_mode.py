"""Strict mode: a collection's limits refuse requests that ask too much, with
Qdrant's messages (400 "Bad request: ... Help: ..."), before anything runs;
limits count what a request really does (defaults left out, every prefetch,
groups' limit × group_size); rate limits charge Qdrant's costs and answer 429
with Retry-After."""

from __future__ import annotations

import re
import time

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


def rate_limited(response, words, retry_after=None):
    """A 429 in Qdrant's words; `retry_after` bounds its Retry-After, None: no header."""
    assert response.status_code == 429, response.text
    assert words in response.json()["status"]["error"]
    if retry_after is None:
        assert "Retry-After" not in response.headers
    else:
        assert int(response.headers["Retry-After"]) in retry_after


def test_limits_are_refused_with_qdrants_messages(strict, rest):
    base = f"/collections/{strict}/points"
    refused(rest.post(f"{base}/query", json={"query": V, "limit": 6}),
            'Bad request: Limit exceeded 6 > 5 for "limit". Help: Reduce the "limit" parameter to or below 5.')
    refused(rest.post(f"{base}/query", json={
        "prefetch": {"query": V, "limit": 100}, "query": {"fusion": "rrf"}, "limit": 2}), "100 > 5")
    refused(rest.post(f"{base}/query/groups", json={
        "query": V, "group_by": "color", "limit": 3, "group_size": 2}), "6 > 5")
    refused(rest.post(f"{base}/scroll", json={"limit": 50}), "50 > 5")
    refused(rest.post(f"{base}/query", json={"query": V, "limit": 2, "params": {"exact": True}}), "Bad request: Exact search disabled!. Help: Set exact=false.")
    refused(rest.post(f"{base}/query", json={"query": V, "limit": 2, "params": {"hnsw_ef": 100}}), "hnsw_ef")
    refused(rest.post(f"{base}/search/batch", json={"searches": [{"vector": V, "limit": 1}] * 3}), "batch size")
    assert rest.post(f"{base}/query", json={"query": V, "limit": 5}).status_code == 200
    # The gateway's own pages (limit + offset here) are not the caller's limit.
    assert rest.post(f"{base}/query", json={"limit": 5, "offset": 2}).status_code == 200


def test_filters_must_use_indexes_and_stay_small(strict, rest):
    base = f"/collections/{strict}/points"
    unindexed = {"must": [{"key": "size", "range": {"gte": 1}}]}
    unindexed_words = ('Bad request: Index required but not found for "size" of one of the following types: '
                       "[float, integer]. Help: Create an index for this key or use a different filter.")
    refused(rest.post(f"{base}/query", json={"query": V, "limit": 2, "filter": unindexed}), unindexed_words)
    refused(rest.post(f"{base}/delete?wait=true", json={"filter": unindexed}), unindexed_words)
    # An index must serve the condition: a keyword index does not serve full-text matching.
    text = {"must": [{"key": "color", "match": {"text": "red"}}]}
    refused(rest.post(f"{base}/count", json={"filter": text}),
            'Index required but not found for "color" of one of the following types: [text]')
    many = {"must": [{"key": "color", "match": {"value": c}} for c in ("a", "b", "c")]}
    refused(rest.post(f"{base}/count", json={"filter": many}),
            "Bad request: Filter condition limit reached (3 > 2). Help: Reduce the amount of conditions of your filter.")
    wide = {"must": [{"key": "color", "match": {"any": ["a", "b", "c", "d"]}}]}
    refused(rest.post(f"{base}/count", json={"filter": wide}),
            "Bad request: Condition size limit reached (4 > 3). Help: Reduce the size of your condition.")
    refused(rest.post(f"{base}/query/groups", json={"query": V, "group_by": "size", "limit": 1, "group_size": 1}),
            'Bad request: Index required but not found for "size". Help: Create an index supporting `match` for this key.')
    formula = {"prefetch": {"query": V}, "query": {"formula": {"sum": ["$score", "size"]}}}
    refused(rest.post(f"{base}/query", json={**formula, "limit": 2}),
            'Index required but not found for "size" of one of the following types: [float, integer]. '
            "Help: Create an index for this key or use a different formula expression.")
    indexed = {"must": [{"key": "color", "match": {"value": "red"}}]}
    assert rest.post(f"{base}/count", json={"filter": indexed, "exact": True}).json()["result"]["count"] == 3


def test_writes_and_indexes_are_bounded_and_refusals_change_nothing(strict, rest):
    big = rest.put(f"/collections/{strict}/points?wait=true", json={"points": [
        {"id": i, "vector": V} for i in range(10, 14)]})
    refused(big, "4 > 3")
    refused(rest.put(f"/collections/{strict}/index?wait=true", json={"field_name": "size", "field_schema": "integer"}),
            "Bad request: Collection already has the maximum number of payload indices (1). "
            "Help: Please delete an existing index before creating a new one.")
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


def strict_collection(rest, make_name, limits: dict, body: dict | None = None) -> str:
    name = make_name()
    created = rest.put(f"/collections/{name}", json={
        **(body or {"vectors": {"size": 4, "distance": "Dot"}}),
        "strict_mode_config": {"enabled": True, **limits},
    })
    assert created.status_code == 200, created.text
    return name


def test_timeouts_above_max_timeout_are_refused(rest, make_name, client):
    name = strict_collection(rest, make_name, {"max_timeout": 2})
    base = f"/collections/{name}/points"
    assert rest.post(f"{base}/query?timeout=2", json={"query": V}).status_code == 200
    refused(rest.post(f"{base}/query?timeout=3", json={"query": V}),
            'Limit exceeded 3 > 2 for "timeout". Help: Reduce the "timeout" parameter to or below 2.')
    refused(rest.post(f"{base}/scroll?timeout=5", json={}), "timeout")
    assert rest.post(f"{base}/query?timeout=x", json={"query": V}).status_code == 400
    client.query_points(name, query=V, timeout=2)
    with pytest.raises(Exception, match="timeout"):
        client.query_points(name, query=V, timeout=3)


def test_read_and_write_rates_are_limited_per_minute(rest, make_name):
    name = strict_collection(rest, make_name, {"read_rate_limit": 2, "write_rate_limit": 3})
    base = f"/collections/{name}/points"
    reads = [rest.post(f"{base}/query", json={"query": V}) for _ in range(5)]
    assert [r.status_code for r in reads[:2]] == [200, 200]
    # Two tokens a minute: one is back in about 30 s, which Retry-After tells.
    for r in reads[2:]:
        rate_limited(r, "Rate limiting exceeded: Read rate limit exceeded: Operation requires 1 tokens but only 0.0 were available. Retry after ",
                     retry_after=range(25, 31))
    # Writes cost a token per point and have their own bucket; more points than
    # the bucket holds can never pass, so no retry is suggested.
    rate_limited(rest.put(f"{base}?wait=true", json={"points": [{"id": i, "vector": V} for i in range(4)]}),
                 "Rate limiting exceeded: Write rate limit exceeded, request larger than rate limiter capacity, please try to split your request")
    assert rest.put(f"{base}?wait=true", json={"points": [
        {"id": i, "vector": V} for i in range(3)]}).status_code == 200
    rate_limited(rest.put(f"{base}?wait=true", json={"points": [{"id": 9, "vector": V}]}),
                 "Write rate limit exceeded: Operation requires 1 tokens but only 0.0 were available. Retry after ",
                 retry_after=range(15, 21))
    # A refused write changed nothing; switching strict mode off lifts the limits.
    assert rest.patch(f"/collections/{name}", json={"strict_mode_config": {"enabled": False}}).status_code == 200
    assert rest.post(f"/collections/{name}/points/count", json={"exact": True}).json()["result"]["count"] == 3


def test_sparse_and_multi_vectors_are_bounded_per_name(rest, make_name):
    name = strict_collection(rest, make_name, {
        "sparse_config": {"words": {"max_length": 4}},
        "multivector_config": {"tokens": {"max_vectors": 2}},
    }, body={
        "vectors": {"tokens": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}},
        "sparse_vectors": {"words": {}},
    })
    base = f"/collections/{name}/points?wait=true"
    ok = rest.put(base, json={"points": [{"id": 1, "vector": {
        "words": {"indices": [1, 2, 3, 4], "values": [1, 1, 1, 1]}, "tokens": [[1, 0], [0, 1]]}}]})
    assert ok.status_code == 200, ok.text
    refused(rest.put(base, json={"points": [{"id": 2, "vector": {
        "words": {"indices": [1, 2, 3, 4, 5, 6], "values": [1] * 6}}}]}),
        "Sparse vector 'words' has a limit of 4 indices, but 6 were provided!")
    refused(rest.put(f"/collections/{name}/points/vectors?wait=true", json={"points": [{"id": 1, "vector": {
        "tokens": [[1, 0], [0, 1], [1, 1]]}}]}),
        "Multivector 'tokens' has a limit of 2 vectors, but 3 were provided!")
    info = rest.get(f"/collections/{name}").json()["result"]["config"]["strict_mode_config"]
    assert info["sparse_config"] == {"words": {"max_length": 4}}


def test_reads_cost_what_qdrant_charges(rest, make_name):
    name = strict_collection(rest, make_name, {"read_rate_limit": 4}, body={
        "vectors": {"size": 4, "distance": "Dot"}, "sparse_vectors": {"words": {}}})
    base = f"/collections/{name}/points"
    capacity = "Read rate limit exceeded, request larger than rate limiter capacity, please try to split your request"
    # A token per point fetched by id, per example vector and per filter condition.
    rate_limited(rest.post(base, json={"ids": [1, 2, 3, 4, 5]}), capacity)
    rate_limited(rest.post(f"{base}/recommend", json={"positive": [1, 2, 3], "strategy": "best_score", "limit": 1}), capacity)
    many = {"must": [{"key": "k", "match": {"value": i}} for i in range(4)]}
    rate_limited(rest.post(f"{base}/scroll", json={"filter": many}), capacity)
    # A sparse vector costs a token per 64 dimensions.
    sparse = {"indices": list(range(300)), "values": [1.0] * 300}
    rate_limited(rest.post(f"{base}/query", json={"query": sparse, "using": "words"}), capacity)
    assert rest.post(base, json={"ids": [1, 2, 3, 4]}).status_code == 200
    rate_limited(rest.post(base, json={"ids": [1]}), "Read rate limit exceeded: Operation requires 1 tokens but only 0.0 were available",
                 retry_after=range(14, 16))


def test_filtered_writes_cost_the_points_they_touch(rest, make_name):
    name = strict_collection(rest, make_name, {})
    base = f"/collections/{name}/points"
    assert rest.put(f"{base}?wait=true", json={"points": [
        {"id": i, "vector": V, "payload": {"city": "Berlin" if i < 3 else "Paris"}} for i in range(10)]}).status_code == 200
    assert rest.put(f"/collections/{name}/index?wait=true", json={"field_name": "city", "field_schema": "keyword"}).status_code == 200
    assert rest.patch(f"/collections/{name}", json={"strict_mode_config": {"write_rate_limit": 7}}).status_code == 200
    # An indexed filter costs the points it matches: 3 of 7 tokens.
    berlin = {"must": [{"key": "city", "match": {"value": "Berlin"}}]}
    assert rest.post(f"{base}/payload?wait=true", json={"payload": {"seen": True}, "filter": berlin}).status_code == 200
    # A key without an index is taken to match half the points, as Qdrant estimates.
    unindexed = {"must": [{"key": "town", "match": {"value": "Berlin"}}]}
    rate_limited(rest.post(f"{base}/payload?wait=true", json={"payload": {"seen": True}, "filter": unindexed}),
                 "Write rate limit exceeded: Operation requires 5 tokens but only 4.", retry_after=range(1, 10))


@pytest.mark.parametrize("limit,words", [
    ({"max_points_count": 5}, "Bad request: Max points count limit of 5 reached!"),
    # Qdrant states the limit in MB: 80 bytes.
    ({"max_collection_vector_size_bytes": 80}, "Bad request: Max vector storage size limit of 0.000076293945MB reached!"),
])
def test_storage_limits_stop_inserts_once_reached(rest, make_name, limit, words):
    name = strict_collection(rest, make_name, limit)
    base = f"/collections/{name}/points?wait=true"
    assert rest.put(base, json={"points": [{"id": i, "vector": V} for i in range(5)]}).status_code == 200
    # The stored size is counted at most once a second, so a write may pass first.
    deadline = time.monotonic() + 10
    while True:
        r = rest.put(base, json={"points": [{"id": 100, "vector": V}]})
        if r.status_code != 200:
            refused(r, words)
            break
        assert time.monotonic() < deadline, "the limit was never enforced"
        time.sleep(0.2)
    # Deletes still work, and make room again.
    assert rest.post(f"/collections/{name}/points/delete?wait=true", json={"points": [0, 1, 2, 3, 100]}).status_code == 200
    deadline = time.monotonic() + 10
    while rest.put(base, json={"points": [{"id": 7, "vector": V}]}).status_code != 200:
        assert time.monotonic() < deadline, "inserts stayed refused below the limit"
        time.sleep(0.2)


def test_writes_stop_when_the_data_disk_is_past_its_limit(rest, make_name):
    # Any disk holding an operating system and this build is more than 1% full.
    name = strict_collection(rest, make_name, {"max_disk_usage_percent": 1, "max_resident_memory_percent": 100})
    base = f"/collections/{name}/points?wait=true"
    r = rest.put(base, json={"points": [{"id": 1, "vector": V}]})
    refused(r, "Bad request: Disk usage is at ")
    # Qdrant 1.18's text, the last to have the setting.
    assert re.fullmatch(
        r"Bad request: Disk usage is at \d+% of total capacity, exceeding the configured limit of 1%\. "
        r"Help: Reduce disk usage \(e\.g\. delete points or drop collections\) or raise "
        r"`max_disk_usage_percent` in strict mode\.", r.json()["status"]["error"]), r.text
    assert rest.post(f"/collections/{name}/points/count", json={"exact": True}).json()["result"]["count"] == 0
    assert rest.patch(f"/collections/{name}", json={"strict_mode_config": {"max_disk_usage_percent": 100}}).status_code == 200
    assert rest.put(base, json={"points": [{"id": 1, "vector": V}]}).status_code == 200
    # Deletes are never refused for being full.
    assert rest.patch(f"/collections/{name}", json={"strict_mode_config": {"max_disk_usage_percent": 1}}).status_code == 200
    assert rest.post(f"/collections/{name}/points/delete?wait=true", json={"points": [1]}).status_code == 200


def test_payload_storage_limit_stops_inserts_once_reached(rest, make_name):
    name = strict_collection(rest, make_name, {"max_collection_payload_size_bytes": 200})
    base = f"/collections/{name}/points?wait=true"
    assert rest.put(base, json={"points": [
        {"id": i, "vector": V, "payload": {"city": "Berlin", "n": i}} for i in range(10)]}).status_code == 200
    # About 25 bytes of JSON per point: 10 points pass the limit; a later write is refused.
    deadline = time.monotonic() + 10
    while True:
        r = rest.put(base, json={"points": [{"id": 100, "vector": V, "payload": {"city": "Paris"}}]})
        if r.status_code != 200:
            refused(r, "Bad request: Max payload storage size limit of 0.00019073486MB reached!")
            break
        assert time.monotonic() < deadline, "the limit was never enforced"
        time.sleep(0.2)
    assert rest.patch(f"/collections/{name}", json={"strict_mode_config": {"max_collection_payload_size_bytes": 100000}}).status_code == 200
    assert rest.put(base, json={"points": [{"id": 101, "vector": V}]}).status_code == 200


def test_vectors_without_a_graph_cannot_be_scanned_when_exact_search_is_off(rest, make_name):
    name = make_name()
    assert rest.put(f"/collections/{name}", json={
        "vectors": {"flat": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 0, "payload_m": 16}},
                    "graph": {"size": 4, "distance": "Dot"}},
        "strict_mode_config": {"enabled": True, "search_allow_exact": False},
    }).status_code == 200
    assert rest.put(f"/collections/{name}/index?wait=true", json={
        "field_name": "tenant", "field_schema": {"type": "keyword", "is_tenant": True}}).status_code == 200
    assert rest.put(f"/collections/{name}/points?wait=true", json={"points": [
        {"id": i, "vector": {"flat": V, "graph": V}, "payload": {"tenant": "a"}} for i in range(3)]}).status_code == 200
    query = f"/collections/{name}/points/query"
    refused(rest.post(query, json={"query": V, "using": "flat"}),
            "Bad request: Request is forbidden on 'flat' because global vector indexing is disabled "
            "(hnsw_config.m = 0). Help: Use tenant-specific filter, enable global vector indexing or "
            "enable strict mode `search_allow_exact` option")
    refused(rest.post(query, json={"prefetch": [{"query": V, "using": "flat"}], "query": V, "using": "graph"}),
            "because global vector indexing is disabled")
    # A tenant's filter can use the per-tenant graphs; rescoring prefetched points scans only those.
    tenant = {"must": [{"key": "tenant", "match": {"value": "a"}}]}
    assert rest.post(query, json={"query": V, "using": "flat", "filter": tenant}).status_code == 200
    assert rest.post(query, json={"prefetch": [{"query": V, "using": "graph"}], "query": V,
                                  "using": "flat"}).status_code == 200
    assert rest.post(query, json={"query": V, "using": "graph"}).status_code == 200
