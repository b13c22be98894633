"""Facet counts through qdrant-client over REST and gRPC: every value of an
indexed key with the number of (filtered) points holding it, as counting the
inserted payloads gives them; a key without an index is refused."""

from __future__ import annotations

from collections import Counter

import pytest
from qdrant_client import models


def test_facet_counts(client, rest, collection_name):
    client.create_collection(collection_name, shard_number=2,
                             vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    colors = ["red", "green", "blue", "red", "red", "green"]
    payloads = [{"color": colors[i % 6], "size": i % 3, "tags": ["a", "b"] if i % 2 else ["a"]}
                for i in range(50)]
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=[1.0, 0.0], payload=p) for i, p in enumerate(payloads)])
    for key, schema in [("color", models.PayloadSchemaType.KEYWORD),
                        ("size", models.PayloadSchemaType.INTEGER),
                        ("tags", models.PayloadSchemaType.KEYWORD)]:
        client.create_payload_index(collection_name, key, schema, wait=True)

    hits = client.facet(collection_name, key="color").hits
    want = Counter(p["color"] for p in payloads)
    assert [(h.value, h.count) for h in hits] == sorted(want.items(), key=lambda kv: (-kv[1], f'"{kv[0]}"'))

    small = models.Filter(must=[models.FieldCondition(key="size", match=models.MatchValue(value=0))])
    hits = client.facet(collection_name, key="tags", facet_filter=small, limit=1).hits
    tags = Counter(t for p in payloads if p["size"] == 0 for t in set(p["tags"]))
    assert [(h.value, h.count) for h in hits] == [("a", tags["a"])]

    sizes = {h.value: h.count for h in client.facet(collection_name, key="size").hits}
    assert sizes == dict(Counter(p["size"] for p in payloads))

    refused = rest.post(f"/collections/{collection_name}/facet", json={"key": "nothing"})
    assert refused.status_code == 400, refused.text
    # Qdrant's words for a facet on a field without a keyword, integer, uuid or bool index.
    assert refused.json()["status"]["error"].startswith(
        "Wrong input: No appropriate index for faceting: `nothing`. Please create one to facet on this field."
    ), refused.text
