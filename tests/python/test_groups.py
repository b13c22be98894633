"""Grouped search (`points/query/groups` through qdrant-client, `points/search/groups`)
over REST and gRPC: groups and their hits as grouping a
brute-force ranking gives them, with a looked-up record per group."""

from __future__ import annotations

from qdrant_client import models

from reference import random_vectors, score

DOT = models.Distance.DOT


def _expected(vectors, docs, query, limit, group_size):
    ranked = sorted(range(len(vectors)), key=lambda i: -score(DOT, query, vectors[i]))
    groups = {}
    for i in ranked:
        doc = docs[i]
        if doc in groups:
            if len(groups[doc]) < group_size:
                groups[doc].append(i)
        elif len(groups) < limit:
            groups[doc] = [i]
    return [(doc, hits) for doc, hits in groups.items()]


def test_groups_with_lookup(client, rest, make_name):
    chunks, docs_name = make_name(), make_name()
    client.create_collection(chunks, vectors_config=models.VectorParams(size=4, distance=DOT),
                             shard_number=2)
    client.create_collection(docs_name, vectors_config=models.VectorParams(size=4, distance=DOT))
    vectors = random_vectors(60, 4, seed=31)
    docs = {i: i % 7 for i in range(60)}
    client.upsert(chunks, wait=True, points=[
        models.PointStruct(id=i, vector=vectors[i], payload={"doc": docs[i], "n": i}) for i in range(60)])
    client.upsert(docs_name, wait=True, points=[
        models.PointStruct(id=d, vector=[1.0, 0, 0, 0], payload={"title": f"doc {d}"}) for d in range(7)])

    query = vectors[0]
    groups = client.query_points_groups(chunks, query=query, group_by="doc", limit=3, group_size=2,
                                        with_payload=["n"],
                                        with_lookup=models.WithLookup(collection=docs_name)).groups
    want = _expected(vectors, docs, query, 3, 2)
    assert [(g.id, [h.id for h in g.hits]) for g in groups] == want
    assert all(h.payload == {"n": h.id} for g in groups for h in g.hits)
    assert [g.lookup.payload for g in groups] == [{"title": f"doc {d}"} for d, _ in want]

    reply = rest.post(f"/collections/{chunks}/points/search/groups", json={
        "vector": vectors[5], "group_by": "doc", "limit": 4, "group_size": 3, "with_lookup": docs_name})
    assert reply.status_code == 200, reply.text
    groups = reply.json()["result"]["groups"]
    assert [(g["id"], [h["id"] for h in g["hits"]]) for g in groups] == _expected(
        vectors, docs, vectors[5], 4, 3)
    assert groups[0]["lookup"]["payload"]["title"] == f"doc {groups[0]['id']}"


def test_recommend_groups(client, rest, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=DOT))
    vectors = random_vectors(40, 4, seed=33)
    docs = {i: i % 5 for i in range(40)}
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=vectors[i], payload={"doc": docs[i]}) for i in range(40)])
    reply = rest.post(f"/collections/{collection_name}/points/recommend/groups", json={
        "positive": [3], "group_by": "doc", "limit": 2, "group_size": 2})
    assert reply.status_code == 200, reply.text
    others = {i: v for i, v in enumerate(vectors) if i != 3}
    ranked = sorted(others, key=lambda i: -score(DOT, vectors[3], vectors[i]))
    groups = {}
    for i in ranked:
        if docs[i] in groups:
            if len(groups[docs[i]]) < 2:
                groups[docs[i]].append(i)
        elif len(groups) < 2:
            groups[docs[i]] = [i]
    got = [(g["id"], [h["id"] for h in g["hits"]]) for g in reply.json()["result"]["groups"]]
    assert got == list(groups.items())
