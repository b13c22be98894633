"""Vector datatypes: a collection keeps each value as its datatype holds it
(uint8: truncated into 0..=255; float16: half precision), and reads and
scores see those values, as in Qdrant."""

from __future__ import annotations

import struct

import pytest
from qdrant_client import models


def half(x: float) -> float:
    return struct.unpack("e", struct.pack("e", x))[0]


@pytest.mark.parametrize("datatype, written, kept", [
    (models.Datatype.UINT8, [1.7, 300.0, -2.0, 5.0], [1.0, 255.0, 0.0, 5.0]),
    (models.Datatype.FLOAT16, [0.1, 1.0 / 3.0, 2.5, -7.25], [half(0.1), half(1.0 / 3.0), 2.5, -7.25]),
])
def test_vectors_are_kept_as_their_datatype_holds_them(client, collection_name, datatype, written, kept):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT, datatype=datatype),
    )
    client.upsert(collection_name, wait=True, points=[models.PointStruct(id=1, vector=written)])
    record = client.retrieve(collection_name, ids=[1], with_vectors=True)[0]
    assert record.vector == pytest.approx(kept, abs=1e-7)
    hit = client.query_points(collection_name, query=[1.0, 1.0, 1.0, 1.0], limit=1).points[0]
    assert hit.score == pytest.approx(sum(kept), abs=1e-4)
    info = client.get_collection(collection_name)
    assert info.config.params.vectors.datatype == datatype


def test_an_unknown_datatype_is_refused(rest, make_name):
    r = rest.put(f"/collections/{make_name()}", json={"vectors": {"size": 2, "distance": "Dot", "datatype": "int4"}})
    assert r.status_code in (400, 422), r.text
    assert "error" in r.json()["status"]
