"""Qdrant 1.17–1.20 query and filter API through qdrant-client, over REST and
gRPC: relevance feedback (checked against a plain-Python scorer), the `slice`
condition (against a plain-Python SipHash-2-4), keyword `prefix` and
`substring` matches, and `read_fan_out_delay_ms`."""

from __future__ import annotations

import uuid

import pytest
from qdrant_client import QdrantClient, models

from reference import _norm, assert_ranking, random_vectors

DIM = 4
N = 30
VECTORS = dict(enumerate(random_vectors(N, DIM, seed=117)))
STRATEGY = models.NaiveFeedbackStrategy(naive=models.NaiveFeedbackStrategyParams(a=0.7, b=1.5, c=2.0))


def raw_similarity(distance, a, b) -> float:
    """Qdrant's internal similarity: larger is closer, Euclid squared."""
    if distance == models.Distance.COSINE:
        return sum(x * y for x, y in zip(_norm(a), _norm(b)))
    if distance == models.Distance.DOT:
        return sum(x * y for x, y in zip(a, b))
    if distance == models.Distance.EUCLID:
        return -sum((x - y) ** 2 for x, y in zip(a, b))
    return -sum(abs(x - y) for x, y in zip(a, b))


def feedback_reference(distance, target, feedback, a, b, c, exclude=(), keep=None):
    """(id, score) best first, as Qdrant's naive strategy scores."""
    pairs = [
        (ei, ej, (si - sj) ** b * c)
        for i, (ei, si) in enumerate(feedback)
        for j, (ej, sj) in enumerate(feedback)
        if i != j and si - sj > 0
    ]
    scored = []
    for pid, x in VECTORS.items():
        if pid in exclude or (keep is not None and not keep(pid)):
            continue
        s = a * raw_similarity(distance, target, x)
        s += sum(w * (raw_similarity(distance, p, x) - raw_similarity(distance, n, x)) for p, n, w in pairs)
        scored.append((pid, s))
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored


def make_collection(client, name, distance):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=distance))
    client.upsert(name, wait=True, points=[
        models.PointStruct(id=i, vector=v, payload={"i": i}) for i, v in VECTORS.items()
    ])


# ---- relevance feedback ----------------------------------------------------


@pytest.mark.parametrize("distance", [models.Distance.DOT, models.Distance.COSINE, models.Distance.EUCLID])
def test_relevance_feedback_ranks_as_qdrants_naive_strategy(client, collection_name, distance):
    make_collection(client, collection_name, distance)
    target = [0.3, -0.2, 0.5, 0.1]
    inline = [0.9, 0.1, -0.4, 0.2]
    # Examples by id and inline; two share a score, so they make no pair.
    feedback = [(3, 0.9), (7, 0.2), (inline, 0.6), (11, 0.2)]
    result = client.query_points(
        collection_name,
        query=models.RelevanceFeedbackQuery(relevance_feedback=models.RelevanceFeedbackInput(
            target=target,
            feedback=[models.FeedbackItem(example=e, score=s) for e, s in feedback],
            strategy=STRATEGY,
        )),
        limit=8,
        with_payload=True,
    ).points
    as_vectors = [(VECTORS[e] if isinstance(e, int) else e, s) for e, s in feedback]
    expected = feedback_reference(distance, target, as_vectors, 0.7, 1.5, 2.0, exclude={3, 7, 11})[:8]
    assert_ranking(result, expected, f"relevance feedback, {distance}")
    assert all(p.payload == {"i": p.id} for p in result)


def test_single_feedback_item_with_a_1_is_nearest(client, collection_name):
    # Qdrant's own check: without pairs the score is `a * sim(target, x)`.
    make_collection(client, collection_name, models.Distance.DOT)
    target = [0.1, 0.2, 0.3, 0.4]
    feedback = client.query_points(collection_name, limit=3, query=models.RelevanceFeedbackQuery(
        relevance_feedback=models.RelevanceFeedbackInput(
            target=target,
            feedback=[models.FeedbackItem(example=[0.42] * 4, score=0.85)],
            strategy=models.NaiveFeedbackStrategy(naive=models.NaiveFeedbackStrategyParams(a=1.0, b=100.0, c=100.0)),
        ))).points
    nearest = client.query_points(collection_name, query=target, limit=3).points
    assert [(p.id, p.score) for p in feedback] == [(p.id, p.score) for p in nearest]


def test_relevance_feedback_in_a_prefetch_and_over_prefetched_candidates(client, collection_name):
    make_collection(client, collection_name, models.Distance.DOT)
    target = [0.5, 0.5, -0.1, 0.0]
    query = models.RelevanceFeedbackQuery(relevance_feedback=models.RelevanceFeedbackInput(
        target=target,
        feedback=[models.FeedbackItem(example=2, score=1.0), models.FeedbackItem(example=5, score=0.0)],
        strategy=STRATEGY,
    ))
    low = models.Filter(must=[models.FieldCondition(key="i", range=models.Range(lt=15))])
    expected = feedback_reference(
        models.Distance.DOT, target, [(VECTORS[2], 1.0), (VECTORS[5], 0.0)], 0.7, 1.5, 2.0,
        exclude={2, 5}, keep=lambda i: i < 15,
    )
    # Over the candidates of a prefetch (every point below 15).
    over = client.query_points(collection_name, query=query, limit=5, prefetch=[
        models.Prefetch(filter=low, limit=100),
    ]).points
    assert_ranking(over, expected[:5], "feedback over a prefetch")
    # As a prefetch, whose results a fusion passes on in its order.
    inner = client.query_points(collection_name, query=models.FusionQuery(fusion=models.Fusion.RRF), limit=4, prefetch=[
        models.Prefetch(query=query, filter=low, limit=4),
    ]).points
    assert [p.id for p in inner] == [i for i, _ in expected[:4]]


def test_relevance_feedback_errors_as_qdrant(client, rest, collection_name):
    make_collection(client, collection_name, models.Distance.DOT)

    def body(feedback, b=1.25):
        return {"query": {"relevance_feedback": {
            "target": [0.1, 0.2, 0.3, 0.4],
            "feedback": feedback,
            "strategy": {"naive": {"a": 0.12, "b": b, "c": 0.99}},
        }}}

    url = f"/collections/{collection_name}/points/query"
    r = rest.post(url, json=body([{"example": 10000, "score": 0.85}]))
    assert r.status_code == 404
    assert r.json()["status"]["error"] == "Not found: No point with id 10000 found"
    r = rest.post(url, json=body([]))
    assert r.status_code == 422
    assert "feedback elements must be non-empty" in r.json()["status"]["error"]
    r = rest.post(url, json=body([{"example": 1, "score": 0.85}], b=-1.0))
    assert r.status_code == 422
    assert r.json()["status"]["error"] == (
        "Validation error in JSON body: [internal.query.relevance_feedback.strategy.naive.b: "
        "value -1.0 invalid, must be 0.0 or larger]"
    )
    # The same refusals through the client, whichever transport.
    with pytest.raises(Exception, match="No point with id 10000 found"):
        client.query_points(collection_name, query=models.RelevanceFeedbackQuery(
            relevance_feedback=models.RelevanceFeedbackInput(
                target=[0.1, 0.2, 0.3, 0.4],
                feedback=[models.FeedbackItem(example=10000, score=0.85)],
                strategy=STRATEGY,
            )))


# ---- slice -----------------------------------------------------------------

MASK = (1 << 64) - 1


def siphash24(data: bytes) -> int:
    """SipHash-2-4 with a zero key."""
    v = [0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573]

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & MASK

    def rounds(k):
        for _ in range(k):
            v[0] = (v[0] + v[1]) & MASK; v[1] = rotl(v[1], 13) ^ v[0]; v[0] = rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & MASK; v[3] = rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & MASK; v[3] = rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & MASK; v[1] = rotl(v[1], 17) ^ v[2]; v[2] = rotl(v[2], 32)

    tail = len(data) - len(data) % 8
    blocks = [int.from_bytes(data[i:i + 8], "little") for i in range(0, tail, 8)]
    blocks.append(((len(data) & 0xFF) << 56) | int.from_bytes(data[tail:], "little"))
    for m in blocks:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def id_hash(pid) -> int:
    if isinstance(pid, int):
        return siphash24(pid.to_bytes(8, "little"))
    return siphash24(uuid.UUID(pid).bytes)


def test_reference_siphash_matches_qdrants_contract():
    assert id_hash(0) == 0xE849E8BB6FFE2567
    assert id_hash(42) == 0x0FC2553F07619DD3
    assert id_hash("550e8400-e29b-41d4-a716-446655440000") == 0xF5D0CA21BA34D504


SLICE_IDS = list(range(16)) + [f"00000000-0000-0000-0000-{seed:012x}" for seed in range(16)]


@pytest.fixture
def sliced(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=pid, vector=[0.1, 0.2]) for pid in SLICE_IDS
    ])
    return collection_name


def slice_filter(total, index, negate=False):
    condition = models.SliceCondition(slice=models.Slice(total=total, index=index))
    return models.Filter(must_not=[condition]) if negate else models.Filter(must=[condition])


def ids_of(points):
    return {str(p.id) for p in points}


def test_slices_partition_the_ids_by_their_hash(client, sliced):
    for total in (1, 2, 4, 5):
        seen = set()
        for index in range(total):
            got = ids_of(client.scroll(sliced, scroll_filter=slice_filter(total, index), limit=100)[0])
            want = {str(pid) for pid in SLICE_IDS if id_hash(pid) % total == index}
            assert got == want, (total, index)
            assert not seen & got
            seen |= got
        assert len(seen) == len(SLICE_IDS)
    inverted = ids_of(client.scroll(sliced, scroll_filter=slice_filter(4, 0, negate=True), limit=100)[0])
    assert inverted == {str(pid) for pid in SLICE_IDS if id_hash(pid) % 4 != 0}
    count = client.count(sliced, count_filter=slice_filter(2, 1), exact=True).count
    assert count == sum(1 for pid in SLICE_IDS if id_hash(pid) % 2 == 1)
    hits = client.query_points(sliced, query=[1.0, 1.0], query_filter=slice_filter(4, 2), limit=100).points
    assert ids_of(hits) == {str(pid) for pid in SLICE_IDS if id_hash(pid) % 4 == 2}


def test_slice_errors(client, rest, sliced):
    url = f"/collections/{sliced}/points/scroll"
    r = rest.post(url, json={"filter": {"must": [{"slice": {"total": 4, "index": 4}}]}, "limit": 1})
    assert r.status_code == 422
    assert "Slice index must be less than the total number of slices" in r.json()["status"]["error"]
    r = rest.post(url, json={"filter": {"must": [{"slice": {"total": 0, "index": 0}}]}, "limit": 1})
    assert r.status_code == 400
    with pytest.raises(Exception, match="Slice index must be less than the total number of slices"):
        client.scroll(sliced, scroll_filter=slice_filter(3, 3), limit=1)


# ---- prefix and substring --------------------------------------------------

PATHS = {
    1: "/usr/local/bin",
    2: "/usr/lib",
    3: "/USR/share",
    4: ["/opt/x", "/usr/src"],
    5: 17,
    6: None,
    7: "qdrant.tech/docs",
    8: "https://qdrant.tech/",
    9: "ünïcode/é",
}


@pytest.fixture
def paths(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=[0.1, 0.2], payload={"path": p}) for i, p in PATHS.items()
    ])
    return collection_name


def matching(test):
    def strings(value):
        return value if isinstance(value, list) else [value]

    return {i for i, p in PATHS.items() if any(isinstance(s, str) and test(s) for s in strings(p))}


def scroll_ids(client, name, match):
    flt = models.Filter(must=[models.FieldCondition(key="path", match=match)])
    return {p.id for p in client.scroll(name, scroll_filter=flt, limit=100)[0]}


@pytest.mark.parametrize("indexed", [False, True])
def test_prefix_and_substring_matches(client, paths, indexed):
    if indexed:
        client.create_payload_index(paths, "path", wait=True, field_schema=models.KeywordIndexParams(
            type=models.KeywordIndexType.KEYWORD, prefix=True))
        schema = client.get_collection(paths).payload_schema["path"]
        assert schema.data_type == models.PayloadSchemaType.KEYWORD
        assert schema.params.prefix is True
    for prefix in ["/usr/", "/usr", "/USR", "ü", "", "qdrant.tech"]:
        got = scroll_ids(client, paths, models.MatchPrefix(prefix=prefix))
        assert got == matching(lambda s: s.startswith(prefix)), prefix
    for sub in ["qdrant.tech/", "lib", "usr", "é", "/"]:
        got = scroll_ids(client, paths, models.MatchSubstring(substring=sub))
        assert got == matching(lambda s: sub in s), sub
    # As must_not: every point not matching, non-strings included.
    flt = models.Filter(must_not=[models.FieldCondition(key="path", match=models.MatchPrefix(prefix="/usr"))])
    got = {p.id for p in client.scroll(paths, scroll_filter=flt, limit=100)[0]}
    assert got == set(PATHS) - matching(lambda s: s.startswith("/usr"))


def test_strict_mode_wants_a_prefix_index_for_prefix_matches(client, paths):
    client.update_collection(paths, strict_mode_config=models.StrictModeConfig(
        enabled=True, unindexed_filtering_retrieve=False))
    match = models.MatchPrefix(prefix="/usr")
    with pytest.raises(Exception, match=r"keyword \(with prefix: true\)"):
        scroll_ids(client, paths, match)
    client.create_payload_index(paths, "path", wait=True, field_schema=models.PayloadSchemaType.KEYWORD)
    with pytest.raises(Exception, match=r"keyword \(with prefix: true\)"):
        scroll_ids(client, paths, match)
    client.create_payload_index(paths, "path", wait=True, field_schema=models.KeywordIndexParams(
        type=models.KeywordIndexType.KEYWORD, prefix=True))
    assert scroll_ids(client, paths, match) == {1, 2, 4}


# ---- read_fan_out_delay_ms -------------------------------------------------


def test_read_fan_out_delay_is_stored_shown_and_reads_still_answer(client, collection_name):
    client.create_collection(collection_name, replication_factor=2,
                             vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=v) for i, v in VECTORS.items()
    ])
    assert client.get_collection(collection_name).config.params.read_fan_out_delay_ms is None
    before = client.query_points(collection_name, query=[0.1, 0.2, 0.3, 0.4], limit=5).points
    # One millisecond: the second replica is asked on nearly every read.
    client.update_collection(collection_name, collection_params=models.CollectionParamsDiff(read_fan_out_delay_ms=1))
    assert client.get_collection(collection_name).config.params.read_fan_out_delay_ms == 1
    for _ in range(5):
        after = client.query_points(collection_name, query=[0.1, 0.2, 0.3, 0.4], limit=5).points
        assert [(p.id, p.score) for p in after] == [(p.id, p.score) for p in before]
    assert client.count(collection_name, exact=True).count == N


# ---- X-Qdrant-Route-Affinity -------------------------------------------------


def test_reads_with_a_route_affinity_token_answer_as_without(deployment, transport, client, collection_name):
    client.create_collection(collection_name, replication_factor=2,
                             vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=v) for i, v in VECTORS.items()
    ])
    plain = client.query_points(collection_name, query=[0.4, 0.3, 0.2, 0.1], limit=5).points
    # REST sends it as a header, gRPC as metadata.
    sticky = QdrantClient(host="127.0.0.1", port=deployment.http_port, grpc_port=deployment.grpc_port,
                          prefer_grpc=(transport == "grpc"), headers={"x-qdrant-route-affinity": "user-42"})
    try:
        for _ in range(3):
            hits = sticky.query_points(collection_name, query=[0.4, 0.3, 0.2, 0.1], limit=5).points
            assert [(p.id, p.score) for p in hits] == [(p.id, p.score) for p in plain]
            assert sticky.count(collection_name, exact=True).count == N
            assert len(sticky.scroll(collection_name, limit=100)[0]) == N
    finally:
        sticky.close()
