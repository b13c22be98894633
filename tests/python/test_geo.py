"""Geo filters through qdrant-client over REST and gRPC: radius, bounding box
and polygon (with a hole), each checked against a naive evaluation over the
inserted locations."""

from __future__ import annotations

import math
import random

from qdrant_client import models


def _haversine_m(a, b):
    lat1, lat2 = math.radians(a[1]), math.radians(b[1])
    d_lat, d_lon = lat2 - lat1, math.radians(b[0] - a[0])
    h = math.sin(d_lat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(d_lon / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def _inside(ring, p):
    inside = False
    for (ax, ay), (bx, by) in zip(ring, ring[1:]):
        if (ay > p[1]) != (by > p[1]) and p[0] < (bx - ax) * (p[1] - ay) / (by - ay) + ax:
            inside = not inside
    return inside


def _ids(client, name, condition):
    page, _ = client.scroll(name, limit=1000, scroll_filter=models.Filter(must=[condition]))
    return sorted(p.id for p in page)


def test_geo_filters(client, collection_name):
    client.create_collection(collection_name, shard_number=2,
                             vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    rng = random.Random(7)
    places = {i: (rng.uniform(10.0, 16.0), rng.uniform(50.0, 54.0)) for i in range(200)}
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=[1.0, 0.0], payload={"loc": {"lon": lon, "lat": lat}})
        for i, (lon, lat) in places.items()])
    client.create_payload_index(collection_name, "loc", models.PayloadSchemaType.GEO, wait=True)

    berlin = (13.405, 52.52)
    near = models.FieldCondition(key="loc", geo_radius=models.GeoRadius(
        center=models.GeoPoint(lon=berlin[0], lat=berlin[1]), radius=100_000.0))
    want = sorted(i for i, p in places.items() if _haversine_m(berlin, p) <= 100_000.0)
    assert want and _ids(client, collection_name, near) == want

    box = models.FieldCondition(key="loc", geo_bounding_box=models.GeoBoundingBox(
        top_left=models.GeoPoint(lon=11.0, lat=53.0), bottom_right=models.GeoPoint(lon=13.0, lat=51.0)))
    want = sorted(i for i, (lon, lat) in places.items() if 11.0 <= lon <= 13.0 and 51.0 <= lat <= 53.0)
    assert want and _ids(client, collection_name, box) == want

    outer = [(11.0, 51.0), (15.0, 51.0), (15.0, 53.5), (11.0, 53.5), (11.0, 51.0)]
    hole = [(12.0, 52.0), (14.0, 52.0), (14.0, 53.0), (12.0, 53.0), (12.0, 52.0)]
    line = lambda ring: models.GeoLineString(points=[models.GeoPoint(lon=x, lat=y) for x, y in ring])  # noqa: E731
    polygon = models.FieldCondition(key="loc", geo_polygon=models.GeoPolygon(
        exterior=line(outer), interiors=[line(hole)]))
    want = sorted(i for i, p in places.items() if _inside(outer, p) and not _inside(hole, p))
    assert want and _ids(client, collection_name, polygon) == want
