"""Qdrant to the letter: what a Qdrant user's code sees, compared as whole
bodies and exact texts where Qdrant fixes them (issue 24).

* floats as written: an f32 reaches JSON as the shortest text that reads
  back to it (vectors, scores, configs), as Qdrant writes it;
* a prefetch without a query takes the first points its filter passes, for
  the query above it to rescore; random samples of prefetch results;
* Qdrant's error texts and status codes, and its validation order;
* fields Qdrant leaves out are left out, not sent as null;
* the older gRPC calls (Discover, CreateVectorName, ...) are all served.
"""

from __future__ import annotations

import grpc
import pytest
from qdrant_client import grpc as qgrpc
from qdrant_client import models

DIM = 4
VECTORS = {
    1: [0.1, 0.2, 0.3, 0.4],
    2: [0.5, 0.6, 0.7, 0.8],
    3: [0.9, 0.1, 0.2, 0.3],
    4: [0.4, 0.4, 0.1, 0.0],
    5: [0.05, 0.61, 0.76, 0.74],
    6: [0.19, 0.81, 0.75, 0.11],
}


def _setup(client, name, distance=models.Distance.DOT):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=distance))
    client.upsert(
        name,
        [models.PointStruct(id=i, vector=v, payload={"n": i, "even": i % 2 == 0}) for i, v in VECTORS.items()],
        wait=True,
    )


def _error(resp, status: int) -> str:
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert set(body) == {"status", "time"}, body
    return body["status"]["error"]


def _grpc_code(excinfo) -> grpc.StatusCode:
    return excinfo.value.code()


# ---- floats as written ------------------------------------------------------


def test_floats_come_back_as_written(deployment, rest, collection_name):
    r = rest.put(
        f"/collections/{collection_name}",
        json={
            "vectors": {"size": DIM, "distance": "Dot"},
            "quantization_config": {"scalar": {"type": "int8", "quantile": 0.8}},
        },
    )
    assert r.status_code == 200, r.text
    r = rest.put(
        f"/collections/{collection_name}/points",
        params={"wait": "true"},
        json={"points": [{"id": i, "vector": v} for i, v in VECTORS.items()]},
    )
    assert r.status_code == 200, r.text

    r = rest.post(f"/collections/{collection_name}/points", json={"ids": [1], "with_vector": True})
    assert '"vector":[0.1,0.2,0.3,0.4]' in r.text, r.text
    # Qdrant's retrieve leaves the payload out unless it is asked for.
    assert r.json()["result"] == [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}]

    info = rest.get(f"/collections/{collection_name}").text
    assert '"quantile":0.8' in info, info

    # 0.1*0.1 + 0.2*0.2 + 0.3*0.3 + 0.4*0.4 in f32 is 0.3 to f32 precision:
    # Qdrant prints the shortest text of that f32, never its f64 widening.
    r = rest.post(f"/collections/{collection_name}/points/query", json={"query": VECTORS[1], "limit": 6})
    assert r.status_code == 200, r.text
    raw_scores = r.text.split('"score":')[1:]
    assert len(raw_scores) == 6
    for raw in raw_scores:
        number = raw.split(",")[0].split("}")[0]
        digits = number.replace("-", "").replace(".", "").lstrip("0")
        assert len(digits) <= 9, f"score printed wider than an f32: {number}"

    r = rest.post(
        f"/collections/{collection_name}/points/search/matrix/pairs", json={"sample": 6, "limit": 1}
    )
    assert r.status_code == 200, r.text
    for pair in r.text.split('"score":')[1:]:
        number = pair.split("}")[0]
        assert len(number.replace(".", "").lstrip("0")) <= 9, number


# ---- prefetch without a query; samples of prefetch results -------------------


def test_a_prefetch_without_query_is_rescored(client, collection_name):
    _setup(client, collection_name)
    even = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    hits = client.query_points(
        collection_name,
        prefetch=models.Prefetch(filter=even, limit=2),
        query=VECTORS[2],
        limit=10,
    ).points
    # The first two even points by id (2 and 4), rescored by the outer query.
    assert sorted(h.id for h in hits) == [2, 4]
    assert [h.id for h in hits] == [2, 4]  # dot with [0.5, 0.6, 0.7, 0.8]: 1.74 > 0.44
    assert hits[0].score > hits[1].score


def test_random_sample_of_prefetch_results(client, collection_name):
    _setup(client, collection_name)
    hits = client.query_points(
        collection_name,
        prefetch=models.Prefetch(query=VECTORS[1], limit=3),
        query=models.SampleQuery(sample=models.Sample.RANDOM),
        limit=10,
    ).points
    nearest = {h.id for h in client.query_points(collection_name, query=VECTORS[1], limit=3).points}
    assert {h.id for h in hits} == nearest


# ---- errors: texts, codes and the order Qdrant checks in ---------------------


def test_query_shape_errors(client, transport, rest, collection_name):
    _setup(client, collection_name)
    url = f"/collections/{collection_name}/points/query"
    cases = [
        (
            {"prefetch": [{"query": VECTORS[1]}]},
            "Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query.",
        ),
        (
            {"score_threshold": 10},
            "Bad request: A query is needed to use the score_threshold. Can't have score_threshold without defining a query.",
        ),
        (
            {"query": {"fusion": "rrf"}, "using": "image", "prefetch": [{"query": VECTORS[1]}]},
            "Bad request: Fusion queries cannot be combined with the 'using' field.",
        ),
    ]
    if transport == "rest":
        for body, text in cases:
            assert _error(rest.post(url, json=body), 400) == text
        assert _error(rest.post(url, json={"query": VECTORS[1], "limit": 0}), 422) == (
            "Validation error in JSON body: [internal.limit: value 0 invalid, must be 1 or larger]"
        )
    else:
        with pytest.raises(grpc.RpcError) as ei:
            client.query_points(collection_name, prefetch=models.Prefetch(query=VECTORS[1]))
        assert _grpc_code(ei) == grpc.StatusCode.INVALID_ARGUMENT
        assert "A query is needed to merge the prefetches" in ei.value.details()


def test_missing_points_and_fields_answer_as_qdrant(client, transport, rest, collection_name):
    _setup(client, collection_name)
    if transport == "rest":
        r = rest.put(
            f"/collections/{collection_name}/points/vectors",
            params={"wait": "true"},
            json={"points": [{"id": 424242, "vector": VECTORS[1]}]},
        )
        assert _error(r, 404) == "Not found: No point with id 424242 found"
        r = rest.post(
            f"/collections/{collection_name}/points/count",
            json={"filter": {"must": [{"key": "n"}]}},
        )
        assert "At least one field condition must be specified" in _error(r, 422)
        r = rest.post(
            f"/collections/{collection_name}/points/recommend",
            json={"positive": [], "negative": [], "strategy": "best_score", "limit": 3},
        )
        assert _error(r, 400) == (
            "Bad request: At least one positive or negative vector ID required with this strategy"
        )
        r = rest.put(f"/collections/{collection_name}", params={"timeout": "0"},
                     json={"vectors": {"size": DIM, "distance": "Dot"}})
        assert _error(r, 422) == (
            "Validation error in query parameters: [timeout: value 0 invalid, must be 1 or larger]"
        )
        # Qdrant checks the body before it looks the collection up.
        r = rest.put(f"/collections/{collection_name}",
                     json={"vectors": {"size": DIM, "distance": "Dot"}, "hnsw_config": {"ef_construct": 0}})
        assert _error(r, 422) == (
            "Validation error in JSON body: [hnsw_config.ef_construct: value 0 invalid, must be 4 or larger]"
        )
    else:
        with pytest.raises(grpc.RpcError) as ei:
            client.update_vectors(collection_name, [models.PointVectors(id=424242, vector=VECTORS[1])], wait=True)
        assert _grpc_code(ei) == grpc.StatusCode.NOT_FOUND
    # Only negatives are enough for best_score.
    hits = client.query_points(
        collection_name,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(negative=[1], strategy=models.RecommendStrategy.BEST_SCORE)
        ),
        limit=3,
    ).points
    assert len(hits) == 3 and 1 not in {h.id for h in hits}
    assert client.count(collection_name).count == len(VECTORS)


def test_order_by_refuses_an_offset(client, transport, rest, collection_name):
    _setup(client, collection_name)
    client.create_payload_index(collection_name, "n", models.PayloadSchemaType.INTEGER, wait=True)
    if transport == "rest":
        r = rest.post(
            f"/collections/{collection_name}/points/scroll",
            json={"order_by": "n", "offset": 3, "limit": 2},
        )
        assert _error(r, 400).startswith("Wrong input: Cannot use an `offset` when using `order_by`.")
    else:
        with pytest.raises(grpc.RpcError) as ei:
            client.scroll(collection_name, order_by="n", offset=3, limit=2)
        assert _grpc_code(ei) == grpc.StatusCode.INVALID_ARGUMENT
    # order_by over a prefetch's points: the same order as the root query's.
    hits = client.query_points(
        collection_name,
        prefetch=models.Prefetch(query=VECTORS[1], limit=3),
        query=models.OrderByQuery(order_by=models.OrderBy(key="n", direction=models.Direction.DESC)),
        limit=10,
    ).points
    nearest = [h.id for h in client.query_points(collection_name, query=VECTORS[1], limit=3).points]
    assert [h.id for h in hits] == sorted(nearest, reverse=True)


# ---- fields omitted, metadata merged ------------------------------------------


def test_collection_info_leaves_out_what_qdrant_leaves_out(client, rest, collection_name):
    _setup(client, collection_name)
    r = rest.get(f"/collections/{collection_name}")
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert set(result) == {
        "status", "optimizer_status", "indexed_vectors_count", "points_count",
        "segments_count", "config", "payload_schema", "update_queue",
    }
    assert result["update_queue"] == {"length": 0}
    params = result["config"]["params"]
    assert set(params) == {
        "vectors", "shard_number", "replication_factor", "write_consistency_factor", "on_disk_payload",
    }, params
    assert params["vectors"] == {"size": DIM, "distance": "Dot"}


def test_inline_storage_without_quantization_is_warned_of(rest, collection_name):
    r = rest.put(
        f"/collections/{collection_name}",
        json={"vectors": {"v": {"size": DIM, "distance": "Dot", "hnsw_config": {"inline_storage": True}}}},
    )
    assert r.status_code == 200, r.text
    result = rest.get(f"/collections/{collection_name}").json()["result"]
    assert result["warnings"] == [{
        "message": "The `hnsw_config.inline_storage` option for vector 'v' requires quantization "
                   "to be enabled. This option will be ignored."
    }]


def test_metadata_keys_set_to_null_are_removed(rest, collection_name):
    base = f"/collections/{collection_name}"
    assert rest.put(base, json={"vectors": {"size": DIM, "distance": "Dot"},
                                "metadata": {"a": 1, "b": "x"}}).status_code == 200
    assert rest.patch(base, json={"metadata": {"b": None, "c": [1, 2]}}).status_code == 200
    assert rest.get(base).json()["result"]["config"]["metadata"] == {"a": 1, "c": [1, 2]}


# ---- payload paths as Qdrant walks them ---------------------------------------


def test_payload_paths_and_selectors(client, rest, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    country = {"name": "Germany", "capital": "Berlin",
               "cities": [{"name": "Berlin", "population": 3.7}, {"name": "Hamburg", "population": 1.8}]}
    client.upsert(collection_name, [models.PointStruct(id=1, vector=VECTORS[1], payload={"country": country})],
                  wait=True)
    scroll = f"/collections/{collection_name}/points/scroll"
    # An array on the way is walked into only where the key says `[]`.
    flt = lambda key: {"must": [{"key": key, "range": {"gte": 3.0}}]}  # noqa: E731
    assert rest.post(scroll, json={"filter": flt("country.cities.population")}).json()["result"]["points"] == []
    assert len(rest.post(scroll, json={"filter": flt("country.cities[].population")}).json()["result"]["points"]) == 1
    # A selector keeps nested paths only.
    r = rest.post(scroll, json={"with_payload": {"include": ["country.name", "country.cities[].name"]}})
    assert r.json()["result"]["points"][0]["payload"] == {
        "country": {"name": "Germany", "cities": [{"name": "Berlin"}, {"name": "Hamburg"}]}
    }
    r = rest.post(scroll, json={"with_payload": {"exclude": ["country.cities"]}})
    assert r.json()["result"]["points"][0]["payload"] == {"country": {"name": "Germany", "capital": "Berlin"}}


def test_two_updates_of_one_point_in_a_batch_both_apply(client, collection_name):
    client.create_collection(collection_name, vectors_config={
        "text": models.VectorParams(size=DIM, distance=models.Distance.DOT),
        "image": models.VectorParams(size=2, distance=models.Distance.DOT),
    })
    client.upsert(collection_name, [models.PointStruct(id=7, vector={"text": VECTORS[1], "image": [0.1, 0.2]})],
                  wait=True)
    client.update_vectors(collection_name, [
        models.PointVectors(id=7, vector={"text": VECTORS[2]}),
        models.PointVectors(id=7, vector={"image": [0.3, 0.4]}),
    ], wait=True)
    point = client.retrieve(collection_name, [7], with_vectors=True)[0]
    assert point.vector["text"] == pytest.approx(VECTORS[2])
    assert point.vector["image"] == pytest.approx([0.3, 0.4])


def test_multi_vector_euclid_scores_as_qdrant(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(
        size=3, distance=models.Distance.EUCLID,
        multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
    ))
    client.upsert(collection_name, [models.PointStruct(id=2, vector=[[3.0, 3.0, 3.0], [4.0, 2.0, 1.0]])], wait=True)
    hits = client.query_points(collection_name, query=[[1.0, 2.0, 3.0], [3.0, 3.0, 3.0], [4.0, 5.0, 6.0]]).points
    # Qdrant: the root of the summed squared distances to each best match, sqrt(5 + 0 + 14).
    assert hits[0].score == pytest.approx(19 ** 0.5, rel=1e-6)


# ---- every gRPC call ------------------------------------------------------------


def test_older_grpc_calls_are_served(client, transport, collection_name):
    if transport != "grpc":
        pytest.skip("gRPC calls")
    client.create_collection(collection_name, vectors_config={
        "a": models.VectorParams(size=DIM, distance=models.Distance.DOT)})
    client.upsert(collection_name, [models.PointStruct(id=i, vector={"a": v}) for i, v in VECTORS.items()],
                  wait=True)
    example = lambda i: qgrpc.VectorExample(id=qgrpc.PointId(num=i))  # noqa: E731
    found = client.grpc_points.Discover(qgrpc.DiscoverPoints(
        collection_name=collection_name,
        using="a",
        target=qgrpc.TargetVector(single=example(2)),
        context=[qgrpc.ContextExamplePair(positive=example(3), negative=example(4))],
        limit=3,
    ), timeout=30)
    assert len(found.result) == 3 and not {2, 3, 4} & {p.id.num for p in found.result}
    batch = client.grpc_points.DiscoverBatch(qgrpc.DiscoverBatchPoints(
        collection_name=collection_name,
        discover_points=[qgrpc.DiscoverPoints(using="a", target=qgrpc.TargetVector(single=example(2)), limit=2)] * 2,
    ), timeout=30)
    assert [len(b.result) for b in batch.result] == [2, 2]

    client.grpc_points.CreateVectorName(qgrpc.CreateVectorNameRequest(
        collection_name=collection_name, vector_name="extra", wait=True,
        dense_config=qgrpc.DenseVectorCreationConfig(size=2, distance=qgrpc.Distance.Cosine),
    ), timeout=30)
    vectors = client.get_collection(collection_name).config.params.vectors
    assert set(vectors) == {"a", "extra"} and vectors["extra"].size == 2
    client.upsert(collection_name, [models.PointStruct(id=9, vector={"a": VECTORS[1], "extra": [1.0, 0.0]})],
                  wait=True)
    assert client.retrieve(collection_name, [9], with_vectors=["extra"])[0].vector["extra"] == pytest.approx([1.0, 0.0])
    client.grpc_points.DeleteVectorName(qgrpc.DeleteVectorNameRequest(
        collection_name=collection_name, vector_name="extra", wait=True), timeout=30)
    assert set(client.get_collection(collection_name).config.params.vectors) == {"a"}
    with pytest.raises(grpc.RpcError) as ei:
        client.retrieve(collection_name, [9], with_vectors=["extra"])
    assert _grpc_code(ei) == grpc.StatusCode.INVALID_ARGUMENT


# ---- per-query IDF (Qdrant 1.19) -------------------------------------------------


def test_idf_counts_only_the_corpus_a_query_names(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={},
        sparse_vectors_config={"s": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        shard_number=1,
    )
    sparse = lambda idx: models.SparseVector(indices=idx, values=[1.0] * len(idx))  # noqa: E731
    client.upsert(collection_name, [
        models.PointStruct(id=1, vector={"s": sparse([1])}, payload={"group": "a"}),
        models.PointStruct(id=2, vector={"s": sparse([1, 2])}, payload={"group": "a"}),
        models.PointStruct(id=3, vector={"s": sparse([2])}, payload={"group": "b"}),
        models.PointStruct(id=4, vector={"s": sparse([2])}, payload={"group": "b"}),
    ], wait=True)

    def score_of_2(params):
        hits = client.query_points(collection_name, query=sparse([2]), using="s", search_params=params, limit=4).points
        return {h.id: h.score for h in hits}[2]

    idf = lambda n, df: __import__("math").log((n - df + 0.5) / (df + 0.5) + 1)  # noqa: E731
    # Collection-wide: 4 points hold `s`, 3 of them dimension 2.
    assert score_of_2(None) == pytest.approx(idf(4, 3), rel=1e-5)
    assert score_of_2(models.SearchParams(idf=models.IdfScope.GLOBAL)) == pytest.approx(idf(4, 3), rel=1e-5)
    # Only group a: 2 points, 1 of them holds dimension 2.
    corpus = models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value="a"))])
    narrowed = models.SearchParams(idf=models.IdfCorpusParams(corpus=corpus))
    assert score_of_2(narrowed) == pytest.approx(idf(2, 1), rel=1e-5)


def test_cluster_telemetry_shows_every_replica(deployment, client, rest, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
                             shard_number=2)
    r = rest.get("/cluster/telemetry")
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    entry = result["collections"][collection_name]
    assert entry["id"] == collection_name
    assert [s["id"] for s in entry["shards"]] == [0, 1]
    for shard in entry["shards"]:
        assert [set(r) for r in shard["replicas"]] == [{"peer_id", "state"}] * len(shard["replicas"])
        assert {r["state"] for r in shard["replicas"]} == {"Active"}
    cluster = result["cluster"]
    assert cluster["enabled"] is True
    assert cluster["number_of_peers"] == deployment.expected_peers == len(cluster["peers"])
    assert all(p["responsive"] for p in cluster["peers"].values())


def test_qdrant_119_query_checks(client, rest, transport, collection_name):
    if transport != "rest":
        pytest.skip("REST texts")
    _setup(client, collection_name)
    url = f"/collections/{collection_name}/points/query"
    assert _error(rest.post(url, json={"query": VECTORS[1], "params": {"hnsw_ef": 0}}), 422) == (
        "Validation error in JSON body: [params.hnsw_ef: value 0 invalid, must be 1 or larger]"
    )
    # A missing lookup collection is refused even when no example needs it.
    r = rest.post(url, json={"query": VECTORS[1], "lookup_from": {"collection": "no-such-collection"}})
    assert _error(r, 404) == "Not found: Collection no-such-collection not found"
    # A corpus for IDF applies only to sparse vectors with the idf modifier.
    r = rest.post(url, json={"query": VECTORS[1], "params": {"idf": {"corpus": {"must": [
        {"key": "n", "match": {"value": 1}}]}}}})
    assert "idf" in _error(r, 400)


def test_what_was_not_asked_for_is_left_out(deployment, rest, client, collection_name):
    """Search, query, recommend and group hits and scrolled records carry no
    `payload` or `vector` key unless asked, as Qdrant writes them (measured
    against Qdrant with tests/conformance/diff_qdrant.py)."""
    _setup(client, collection_name)
    r = rest.post(f"/collections/{collection_name}/points/query", json={"query": VECTORS[1], "limit": 2})
    assert r.status_code == 200, r.text
    for hit in r.json()["result"]["points"]:
        assert set(hit) == {"id", "version", "score"}, hit
    r = rest.post(f"/collections/{collection_name}/points/search", json={"vector": VECTORS[1], "limit": 2})
    assert all(set(hit) == {"id", "version", "score"} for hit in r.json()["result"]), r.text
    r = rest.post(
        f"/collections/{collection_name}/points/search/groups",
        json={"vector": VECTORS[1], "group_by": "even", "limit": 2, "group_size": 1},
    )
    assert r.status_code == 200, r.text
    for group in r.json()["result"]["groups"]:
        assert all(set(hit) == {"id", "version", "score"} for hit in group["hits"]), group
    r = rest.post(f"/collections/{collection_name}/points/scroll", json={"limit": 1, "with_payload": False})
    assert r.json()["result"]["points"] == [{"id": 1}], r.text
    r = rest.post(f"/collections/{collection_name}/points", json={"ids": [2]})
    assert r.json()["result"] == [{"id": 2}], r.text
    r = rest.post(f"/collections/{collection_name}/points", json={"ids": [2], "with_payload": True})
    assert r.json()["result"] == [{"id": 2, "payload": {"n": 2, "even": True}}], r.text
