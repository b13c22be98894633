"""Point CRUD, payload operations, scroll and count, over REST and gRPC."""

from __future__ import annotations

import random

import pytest
from qdrant_client import models

from reference import new_uuid, random_vectors

DIM = 4


def _create(client, name, **kw):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT), **kw)


def _close(a, b, tol=1e-6):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def _by_id(records):
    out = {r.id: r for r in records}
    assert len(out) == len(records), f"duplicate ids in {[r.id for r in records]}"
    return out


def test_upsert_list_and_retrieve(client, collection_name):
    _create(client, collection_name)
    vecs = random_vectors(10, DIM, seed=1)
    points = [
        models.PointStruct(id=i + 1, vector=v, payload={"n": i + 1, "name": f"p{i + 1}", "odd": (i + 1) % 2 == 1})
        for i, v in enumerate(vecs)
    ]
    res = client.upsert(collection_name, points, wait=True)
    assert res.status == models.UpdateStatus.COMPLETED

    one = client.retrieve(collection_name, [3], with_payload=True, with_vectors=True)
    assert len(one) == 1
    assert one[0].id == 3
    assert one[0].payload == {"n": 3, "name": "p3", "odd": True}
    assert _close(one[0].vector, vecs[2])

    many = _by_id(client.retrieve(collection_name, [1, 5, 10, 999], with_payload=True, with_vectors=False))
    assert set(many) == {1, 5, 10}, "unknown ids are skipped, known ones returned"
    for pid, rec in many.items():
        assert rec.payload == {"n": pid, "name": f"p{pid}", "odd": pid % 2 == 1}
        assert rec.vector is None


def test_retrieve_selectors(client, collection_name):
    _create(client, collection_name)
    vec = [0.5, -0.25, 0.125, 1.0]
    client.upsert(
        collection_name,
        [models.PointStruct(id=7, vector=vec, payload={"a": 1, "b": "two", "c": [3], "d": {"e": 5}})],
        wait=True,
    )
    (r,) = client.retrieve(collection_name, [7], with_payload=False, with_vectors=False)
    assert not r.payload and r.vector is None
    (r,) = client.retrieve(collection_name, [7], with_payload=True, with_vectors=True)
    assert r.payload == {"a": 1, "b": "two", "c": [3], "d": {"e": 5}}
    assert _close(r.vector, vec)
    (r,) = client.retrieve(collection_name, [7], with_payload=["a", "d"], with_vectors=False)
    assert r.payload == {"a": 1, "d": {"e": 5}}
    (r,) = client.retrieve(
        collection_name, [7], with_payload=models.PayloadSelectorExclude(exclude=["b", "c"])
    )
    assert r.payload == {"a": 1, "d": {"e": 5}}


def test_upsert_batch_form_with_uuid_ids(client, collection_name):
    _create(client, collection_name)
    rng = random.Random(5)
    ids = [new_uuid(rng) for _ in range(6)] + [101, 102]
    vecs = random_vectors(len(ids), DIM, seed=2)
    payloads = [{"k": i} for i in range(len(ids))]
    res = client.upsert(collection_name, models.Batch(ids=ids, vectors=vecs, payloads=payloads), wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    assert client.count(collection_name, exact=True).count == len(ids)

    got = _by_id(client.retrieve(collection_name, ids, with_payload=True, with_vectors=True))
    assert set(got) == set(ids)
    for i, pid in enumerate(ids):
        assert got[pid].payload == {"k": i}
        assert _close(got[pid].vector, vecs[i])
    # UUIDs come back in canonical form; upper-case input addresses the same point.
    (r,) = client.retrieve(collection_name, [ids[0].upper()], with_payload=True)
    assert r.id == ids[0] and r.payload == {"k": 0}


def test_upsert_overwrites_vector_and_payload(client, collection_name):
    _create(client, collection_name)
    client.upsert(collection_name, [models.PointStruct(id=1, vector=[1, 0, 0, 0], payload={"v": 1, "old": True})])
    client.upsert(collection_name, [models.PointStruct(id=1, vector=[0, 1, 0, 0], payload={"v": 2})])
    (r,) = client.retrieve(collection_name, [1], with_payload=True, with_vectors=True)
    assert r.payload == {"v": 2}, "upsert replaces the whole payload"
    assert _close(r.vector, [0, 1, 0, 0])
    assert client.count(collection_name).count == 1


def test_named_vectors_points(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "image": models.VectorParams(size=2, distance=models.Distance.DOT),
            "text": models.VectorParams(size=3, distance=models.Distance.EUCLID),
        },
    )
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=1, vector={"image": [1.0, 2.0], "text": [0.5, 0.25, 0.125]}, payload={"x": 1}),
            models.PointStruct(id=2, vector={"image": [3.0, 4.0], "text": [1.0, 2.0, 3.0]}, payload={"x": 2}),
        ],
        wait=True,
    )
    recs = _by_id(client.retrieve(collection_name, [1, 2], with_vectors=True))
    assert set(recs[1].vector) == {"image", "text"}
    assert _close(recs[1].vector["image"], [1.0, 2.0])
    assert _close(recs[2].vector["text"], [1.0, 2.0, 3.0])
    (r,) = client.retrieve(collection_name, [2], with_vectors=["text"])
    assert set(r.vector) == {"text"}
    assert _close(r.vector["text"], [1.0, 2.0, 3.0])
    # Batch form with named vectors.
    client.upsert(
        collection_name,
        models.Batch(ids=[3, 4], vectors={"image": [[0.0, 1.0], [1.0, 0.0]], "text": [[1, 1, 1], [2, 2, 2]]}),
        wait=True,
    )
    (r,) = client.retrieve(collection_name, [4], with_vectors=["image"])
    assert _close(r.vector["image"], [1.0, 0.0])
    assert client.count(collection_name).count == 4


def _seed(client, name, n=20):
    vecs = random_vectors(n, DIM, seed=3)
    client.upsert(
        name,
        [
            models.PointStruct(id=i + 1, vector=v, payload={"n": i + 1, "parity": "odd" if (i + 1) % 2 else "even"})
            for i, v in enumerate(vecs)
        ],
        wait=True,
    )
    return list(range(1, n + 1))


def _all_ids(client, name):
    recs, nxt = client.scroll(name, limit=1000, with_payload=False)
    assert nxt is None
    return sorted(r.id for r in recs)


def test_delete_by_ids(client, collection_name):
    _create(client, collection_name)
    ids = _seed(client, collection_name)
    res = client.delete(collection_name, models.PointIdsList(points=[2, 4, 6, 999]), wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    assert _all_ids(client, collection_name) == [i for i in ids if i not in (2, 4, 6)]
    assert client.retrieve(collection_name, [2, 4, 6]) == []
    assert client.count(collection_name).count == len(ids) - 3
    assert client.get_collection(collection_name).points_count == len(ids) - 3


def test_delete_by_filter(client, collection_name):
    _create(client, collection_name)
    ids = _seed(client, collection_name)
    flt = models.Filter(
        must=[
            models.FieldCondition(key="parity", match=models.MatchValue(value="even")),
            models.FieldCondition(key="n", range=models.Range(gt=10)),
        ]
    )
    client.delete(collection_name, models.FilterSelector(filter=flt), wait=True)
    expected = [i for i in ids if not (i % 2 == 0 and i > 10)]
    assert _all_ids(client, collection_name) == expected
    assert client.count(collection_name, count_filter=flt).count == 0


def test_set_payload(client, collection_name):
    _create(client, collection_name)
    _seed(client, collection_name, n=6)
    client.set_payload(collection_name, {"color": "red", "n": 100}, points=[1, 2], wait=True)
    recs = _by_id(client.retrieve(collection_name, [1, 2, 3]))
    assert recs[1].payload == {"n": 100, "parity": "odd", "color": "red"}, "set_payload merges keys"
    assert recs[2].payload == {"n": 100, "parity": "even", "color": "red"}
    assert recs[3].payload == {"n": 3, "parity": "odd"}
    # Points selected by a filter.
    client.set_payload(
        collection_name,
        {"flag": True},
        points=models.Filter(must=[models.FieldCondition(key="parity", match=models.MatchValue(value="even"))]),
        wait=True,
    )
    flagged = client.count(
        collection_name, count_filter=models.Filter(must=[models.FieldCondition(key="flag", match=models.MatchValue(value=True))])
    ).count
    assert flagged == 3


def test_set_payload_with_key(client, collection_name):
    _create(client, collection_name)
    client.upsert(collection_name, [models.PointStruct(id=1, vector=[1, 0, 0, 0], payload={"meta": {"color": "red"}, "x": 0})])
    client.set_payload(collection_name, {"size": 3}, points=[1], key="meta", wait=True)
    (r,) = client.retrieve(collection_name, [1])
    assert r.payload == {"meta": {"color": "red", "size": 3}, "x": 0}


def test_overwrite_payload(client, collection_name):
    _create(client, collection_name)
    _seed(client, collection_name, n=4)
    client.overwrite_payload(collection_name, {"only": "this"}, points=[1, 2], wait=True)
    recs = _by_id(client.retrieve(collection_name, [1, 2, 3]))
    assert recs[1].payload == {"only": "this"}
    assert recs[2].payload == {"only": "this"}
    assert recs[3].payload == {"n": 3, "parity": "odd"}


def test_delete_payload_keys(client, collection_name):
    _create(client, collection_name)
    client.upsert(
        collection_name,
        [models.PointStruct(id=i, vector=[1, 0, 0, 0], payload={"a": i, "b": i, "c": i}) for i in (1, 2)],
    )
    client.delete_payload(collection_name, keys=["a", "c", "missing"], points=[1], wait=True)
    recs = _by_id(client.retrieve(collection_name, [1, 2]))
    assert recs[1].payload == {"b": 1}
    assert recs[2].payload == {"a": 2, "b": 2, "c": 2}


def test_clear_payload(client, collection_name):
    _create(client, collection_name)
    _seed(client, collection_name, n=4)
    client.clear_payload(collection_name, points_selector=models.PointIdsList(points=[1, 3]), wait=True)
    recs = _by_id(client.retrieve(collection_name, [1, 2, 3], with_vectors=True))
    assert not recs[1].payload and not recs[3].payload
    assert recs[2].payload == {"n": 2, "parity": "even"}
    assert recs[1].vector is not None, "clearing payload keeps the vector"
    assert client.count(collection_name).count == 4


def _scroll_all(client, name, limit, scroll_filter=None):
    pages, offset = [], None
    for _ in range(1000):
        recs, offset = client.scroll(name, scroll_filter=scroll_filter, limit=limit, offset=offset, with_payload=True)
        pages.append([r.id for r in recs])
        if offset is None:
            return pages
    raise AssertionError("scroll did not terminate")


def test_scroll_pages_cover_all_points_once(client, collection_name, deployment):
    _create(client, collection_name, shard_number=3 if deployment.clustered else 2)
    ids = _seed(client, collection_name, n=57)
    pages = _scroll_all(client, collection_name, limit=10)
    flat = [i for p in pages for i in p]
    assert flat == sorted(ids), f"pages must be ordered by id and cover all points once: {pages}"
    assert [len(p) for p in pages] == [10, 10, 10, 10, 10, 7]

    # Explicit offset: start at id 30 (inclusive).
    recs, nxt = client.scroll(collection_name, limit=5, offset=30)
    assert [r.id for r in recs] == [30, 31, 32, 33, 34]
    assert nxt == 35


def test_scroll_with_filter(client, collection_name):
    _create(client, collection_name)
    ids = _seed(client, collection_name, n=40)
    flt = models.Filter(must=[models.FieldCondition(key="parity", match=models.MatchValue(value="odd"))])
    pages = _scroll_all(client, collection_name, limit=7, scroll_filter=flt)
    flat = [i for p in pages for i in p]
    assert flat == [i for i in ids if i % 2 == 1]
    assert all(len(p) == 7 for p in pages[:-1])


def test_scroll_mixed_id_kinds(client, collection_name):
    _create(client, collection_name)
    rng = random.Random(11)
    ids = [new_uuid(rng) for _ in range(9)] + list(range(1, 10))
    client.upsert(collection_name, models.Batch(ids=ids, vectors=random_vectors(len(ids), DIM, seed=4)), wait=True)
    pages = _scroll_all(client, collection_name, limit=4)
    flat = [i for p in pages for i in p]
    assert sorted(map(str, flat)) == sorted(map(str, ids))
    assert len(flat) == len(set(map(str, flat)))


def test_count_exact_with_and_without_filter(client, collection_name):
    _create(client, collection_name)
    ids = _seed(client, collection_name, n=33)
    assert client.count(collection_name, exact=True).count == 33
    flt = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=5, lt=20))])
    assert client.count(collection_name, count_filter=flt, exact=True).count == len([i for i in ids if 5 <= i < 20])
    none = models.Filter(must=[models.FieldCondition(key="parity", match=models.MatchValue(value="neither"))])
    assert client.count(collection_name, count_filter=none, exact=True).count == 0
