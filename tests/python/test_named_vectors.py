"""Named vectors added to and removed from a collection that holds points
(`PUT`/`DELETE /collections/{c}/vectors/{name}`): new points take the new
vector, old ones lack it, and a removed vector is gone from every point."""

from __future__ import annotations

from qdrant_client import models


def test_vectors_come_and_go_on_a_live_collection(rest, client, collection_name):
    client.create_collection(collection_name, vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT)})
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector={"a": [1.0, float(i)]}) for i in range(20)])
    base = f"/collections/{collection_name}"

    assert rest.put(f"{base}/vectors/b", json={"dense": {"size": 3, "distance": "Dot"}}).status_code == 200
    assert rest.put(f"{base}/vectors/words", json={"sparse": {"modifier": "idf"}}).status_code == 200
    info = client.get_collection(collection_name).config.params
    assert info.vectors["b"].size == 3 and "words" in info.sparse_vectors

    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=100, vector={"a": [1.0, 0.0], "b": [0.0, 0.0, 1.0],
                                            "words": models.SparseVector(indices=[7], values=[1.0])})])
    hits = client.query_points(collection_name, query=[0.0, 0.0, 1.0], using="b", limit=5).points
    assert [h.id for h in hits] == [100]
    sparse = client.query_points(collection_name, query=models.SparseVector(indices=[7], values=[1.0]), using="words").points
    assert [h.id for h in sparse] == [100]
    old = client.retrieve(collection_name, ids=[3], with_vectors=True)[0]
    assert set(old.vector) == {"a"}

    refused = rest.put(f"{base}/vectors/b", json={"dense": {"size": 3, "distance": "Dot"}})
    assert refused.status_code == 400, refused.text
    bad = rest.put(f"{base}/vectors/c", json={"dense": {"size": 0, "distance": "Dot"}})
    assert bad.status_code == 422, bad.text

    assert rest.delete(f"{base}/vectors/a").status_code == 200
    record = client.retrieve(collection_name, ids=[100], with_vectors=True)[0]
    assert set(record.vector) == {"b", "words"}
    gone = rest.post(f"{base}/points/query", json={"query": [1.0, 0.0], "using": "a"})
    assert gone.status_code == 400, gone.text
    assert rest.delete(f"{base}/vectors/a").status_code in (400, 404)
    assert client.count(collection_name, exact=True).count == 21
