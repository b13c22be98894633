"""Score boosting with formulas: prefetched points rescored by an expression
over their scores, payload values, conditions, decays and geo distance,
checked against the same arithmetic in Python."""

from __future__ import annotations

import math

import pytest
from qdrant_client import models

DOCS = {
    1: ([1.0, 0.0], {"tag": "h1", "price": 10.0, "loc": {"lat": 52.52, "lon": 13.40}}),
    2: ([0.9, 0.1], {"tag": "p", "price": 4.0, "loc": {"lat": 48.85, "lon": 2.35}}),
    3: ([0.5, 0.5], {"tag": "h2", "price": 1.0}),
    4: ([0.1, 0.9], {"tag": "p"}),
}
QUERY = [1.0, 0.0]


@pytest.fixture
def docs(rest, make_name):
    name = make_name()
    assert rest.put(f"/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"}}).status_code == 200
    r = rest.put(f"/collections/{name}/points?wait=true", json={"points": [
        {"id": i, "vector": v, "payload": p} for i, (v, p) in DOCS.items()]})
    assert r.status_code == 200, r.text
    return name


def query(rest, name, formula, limit=4):
    body = {"prefetch": {"query": QUERY, "limit": 10}, "query": formula, "limit": limit}
    r = rest.post(f"/collections/{name}/points/query", json=body)
    assert r.status_code == 200, r.text
    return [(p["id"], p["score"]) for p in r.json()["result"]["points"]]


def ranked(values):
    return sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))


def test_boost_by_condition_and_payload_value(docs, rest):
    got = query(rest, docs, {"formula": {"sum": [
        "$score",
        {"mult": [0.5, {"key": "tag", "match": {"any": ["h1", "h2"]}}]},
        {"div": {"left": "price", "right": 10}},
    ]}, "defaults": {"price": 0}})
    want = {}
    for i, (v, p) in DOCS.items():
        score = sum(a * b for a, b in zip(QUERY, v))
        want[i] = score + (0.5 if p.get("tag") in ("h1", "h2") else 0) + p.get("price", 0) / 10
    assert [i for i, _ in got] == [i for i, _ in ranked(want)]
    for i, s in got:
        assert s == pytest.approx(want[i], abs=1e-5)


def test_geo_distance_decay(docs, rest):
    origin = {"lat": 52.0, "lon": 13.0}
    got = query(rest, docs, {"formula": {"gauss_decay": {
        "x": {"geo_distance": {"origin": origin, "to": "loc"}}, "scale": 500000}},
        "defaults": {"loc": 1e9}}, limit=2)

    def haversine(a, b):
        la1, la2 = math.radians(a["lat"]), math.radians(b["lat"])
        h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(math.radians(b["lon"] - a["lon"]) / 2) ** 2
        return 2 * 6371008.8 * math.asin(math.sqrt(h))

    def gauss(d):
        return math.exp(math.log(0.5) / 500000 ** 2 * d * d)

    assert [i for i, _ in got] == [1, 2]
    assert got[0][1] == pytest.approx(gauss(haversine(origin, DOCS[1][1]["loc"])), rel=1e-4)


def test_a_formula_needs_prefetches_and_valid_decays(docs, rest):
    r = rest.post(f"/collections/{docs}/points/query", json={"query": {"formula": "$score"}})
    assert r.status_code == 400, r.text
    r = rest.post(f"/collections/{docs}/points/query", json={
        "prefetch": {"query": QUERY}, "query": {"formula": {"lin_decay": {"x": 1, "scale": -1}}}})
    assert r.status_code == 400, r.text


def test_formula_through_the_client(docs, client):
    formula = models.FormulaQuery(
        formula=models.SumExpression(sum=[
            "$score",
            models.MultExpression(mult=[2.0, models.FieldCondition(key="tag", match=models.MatchValue(value="p"))]),
        ]),
    )
    points = client.query_points(docs, prefetch=models.Prefetch(query=QUERY, limit=10), query=formula, limit=4).points
    want = {i: sum(a * b for a, b in zip(QUERY, v)) + (2.0 if p.get("tag") == "p" else 0.0) for i, (v, p) in DOCS.items()}
    assert [p.id for p in points] == [i for i, _ in ranked(want)]
    assert [p.score for p in points] == pytest.approx([s for _, s in ranked(want)], abs=1e-5)
