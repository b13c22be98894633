"""Payload filters: every case must select exactly the ids a Python reference
computes over the same payloads, through count, scroll and exact search."""

from __future__ import annotations

import types

import pytest
from qdrant_client import models

from harness import unique_name
from reference import (
    assert_ranking,
    brute_force,
    filter_dataset,
    in_range,
    is_empty,
    is_null,
    match_any,
    match_value,
    random_vectors,
)

DIST = models.Distance.EUCLID
IDS, VECTORS, PAYLOADS = filter_dataset(n=200, dim=8, seed=7)
COUNT_OF_1 = PAYLOADS[1]["count"]
SOME_COUNTS = sorted({PAYLOADS[i]["count"] for i in (2, 3, 4, 5)})
QUERY = random_vectors(1, 8, seed=99)[0]


def F(key, **kw):
    return models.FieldCondition(key=key, **kw)


def MV(v):
    return models.MatchValue(value=v)


def _nested_item_ok(item):
    return item.get("name") == "apple" and item.get("qty", -1) >= 5


# (case id, filter, reference predicate over (id, payload))
CASES = [
    ("match_keyword", models.Filter(must=[F("city", match=MV("paris"))]),
     lambda i, p: match_value(p, "city", "paris")),
    ("match_int", models.Filter(must=[F("count", match=MV(COUNT_OF_1))]),
     lambda i, p: match_value(p, "count", COUNT_OF_1)),
    ("match_bool_true", models.Filter(must=[F("flag", match=MV(True))]),
     lambda i, p: match_value(p, "flag", True)),
    ("match_bool_false", models.Filter(must=[F("flag", match=MV(False))]),
     lambda i, p: match_value(p, "flag", False)),
    ("match_value_in_array", models.Filter(must=[F("tags", match=MV("b"))]),
     lambda i, p: match_value(p, "tags", "b")),
    ("match_any_keyword", models.Filter(must=[F("city", match=models.MatchAny(any=["london", "rome"]))]),
     lambda i, p: match_any(p, "city", ["london", "rome"])),
    ("match_any_in_array", models.Filter(must=[F("tags", match=models.MatchAny(any=["a", "e"]))]),
     lambda i, p: match_any(p, "tags", ["a", "e"])),
    ("match_any_int", models.Filter(must=[F("count", match=models.MatchAny(any=SOME_COUNTS))]),
     lambda i, p: match_any(p, "count", SOME_COUNTS)),
    ("match_except_keyword",
     models.Filter(must=[F("city", match=models.MatchExcept(**{"except": ["berlin", "paris"]}))]),
     lambda i, p: p["city"] not in ("berlin", "paris")),
    ("match_except_int",
     models.Filter(must=[F("count", match=models.MatchExcept(**{"except": SOME_COUNTS}))]),
     lambda i, p: p["count"] not in SOME_COUNTS),
    ("range_int", models.Filter(must=[F("count", range=models.Range(gte=20, lt=60))]),
     lambda i, p: in_range(p, "count", gte=20, lt=60)),
    ("range_float", models.Filter(must=[F("price", range=models.Range(gt=25.5, lte=75.25))]),
     lambda i, p: in_range(p, "price", gt=25.5, lte=75.25)),
    ("range_int_field_float_bound", models.Filter(must=[F("count", range=models.Range(gt=10.5, lte=30))]),
     lambda i, p: in_range(p, "count", gt=10.5, lte=30)),
    ("has_id", models.Filter(must=[models.HasIdCondition(has_id=[1, 5, 17, 199, 1000])]),
     lambda i, p: i in (1, 5, 17, 199)),
    ("is_empty", models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="opt"))]),
     lambda i, p: is_empty(p, "opt")),
    ("is_null", models.Filter(must=[models.IsNullCondition(is_null=models.PayloadField(key="opt"))]),
     lambda i, p: is_null(p, "opt")),
    ("not_is_empty", models.Filter(must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key="opt"))]),
     lambda i, p: not is_empty(p, "opt")),
    ("dotted_key_match", models.Filter(must=[F("meta.color", match=MV("red"))]),
     lambda i, p: match_value(p, "meta.color", "red")),
    ("dotted_key_range", models.Filter(must=[F("meta.size", range=models.Range(gte=3))]),
     lambda i, p: in_range(p, "meta.size", gte=3)),
    ("array_of_objects_path", models.Filter(must=[F("items[].name", match=MV("pear"))]),
     lambda i, p: any(it["name"] == "pear" for it in p["items"])),
    ("nested_condition",
     models.Filter(must=[models.NestedCondition(nested=models.Nested(
         key="items",
         filter=models.Filter(must=[F("name", match=MV("apple")), F("qty", range=models.Range(gte=5))]),
     ))]),
     lambda i, p: any(_nested_item_ok(it) for it in p["items"])),
    ("should", models.Filter(should=[F("city", match=MV("tokyo")), F("flag", match=MV(True))]),
     lambda i, p: p["city"] == "tokyo" or p["flag"] is True),
    ("must_not", models.Filter(must_not=[F("city", match=MV("london")), models.HasIdCondition(has_id=[2, 3, 4])]),
     lambda i, p: p["city"] != "london" and i not in (2, 3, 4)),
    ("must_should_must_not",
     models.Filter(
         must=[F("count", range=models.Range(gte=10))],
         should=[F("tags", match=models.MatchAny(any=["a"])), F("meta.color", match=MV("green"))],
         must_not=[F("city", match=MV("rome"))],
     ),
     lambda i, p: p["count"] >= 10
     and ("a" in p["tags"] or p["meta"]["color"] == "green")
     and p["city"] != "rome"),
    ("filter_as_condition",
     models.Filter(must=[
         models.Filter(should=[F("city", match=MV("berlin")), F("city", match=MV("tokyo"))]),
         models.Filter(must_not=[F("flag", match=MV(True))]),
     ]),
     lambda i, p: p["city"] in ("berlin", "tokyo") and p["flag"] is False),
    ("empty_filter", models.Filter(), lambda i, p: True),
]


@pytest.fixture(scope="module")
def filter_data(deployment, setup_client):
    name = unique_name("filters")
    setup_client.create_collection(
        name,
        vectors_config=models.VectorParams(size=8, distance=DIST),
        shard_number=3 if deployment.clustered else 2,
    )
    setup_client.upsert(
        name,
        models.Batch(ids=IDS, vectors=[VECTORS[i] for i in IDS], payloads=[PAYLOADS[i] for i in IDS]),
        wait=True,
    )
    yield types.SimpleNamespace(name=name)
    try:
        setup_client.delete_collection(name)
    except Exception:
        pass


def test_dataset_is_discriminating():
    """Guard on the test data itself: every case selects some but not all points
    (except the empty filter), so a server ignoring a condition cannot pass."""
    for cid, _, pred in CASES:
        n = sum(1 for i in IDS if pred(i, PAYLOADS[i]))
        if cid == "empty_filter":
            assert n == len(IDS)
        else:
            assert 0 < n < len(IDS), f"{cid} selects {n} of {len(IDS)}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_filter(client, filter_data, case):
    cid, flt, pred = case
    expected = sorted(i for i in IDS if pred(i, PAYLOADS[i]))
    name = filter_data.name

    assert client.count(name, count_filter=flt, exact=True).count == len(expected), f"{cid}: count"

    got, offset = [], None
    for _ in range(100):
        recs, offset = client.scroll(name, scroll_filter=flt, limit=50, offset=offset, with_payload=False)
        got.extend(r.id for r in recs)
        if offset is None:
            break
    assert got == expected, f"{cid}: scroll ids differ; missing {sorted(set(expected) - set(got))}, extra {sorted(set(got) - set(expected))}"

    res = client.query_points(
        name, query=QUERY, query_filter=flt, limit=len(IDS) + 50, search_params=models.SearchParams(exact=True)
    )
    ref = brute_force(DIST, QUERY, VECTORS, keep=lambda i: pred(i, PAYLOADS[i]))
    assert sorted(p.id for p in res.points) == expected, f"{cid}: exact search ids differ"
    assert_ranking(res.points, ref, f"{cid}: exact search")
