"""Datetime payloads through qdrant-client over REST and gRPC: RFC 3339
ranges in filters and `order_by` on a datetime index, checked against the
inserted timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from qdrant_client import models

START = datetime(2024, 2, 28, 22, 0, tzinfo=timezone.utc)


def test_datetime_ranges_and_order(client, collection_name):
    client.create_collection(collection_name, shard_number=2,
                             vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    # One point an hour, written in a mix of the accepted shapes.
    times = {i: START + timedelta(hours=5 * i) for i in range(30)}
    shapes = [lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
              lambda t: t.astimezone(timezone(timedelta(hours=2))).isoformat(),
              lambda t: t.strftime("%Y-%m-%d %H:%M:%S")]
    client.upsert(collection_name, wait=True, points=[
        models.PointStruct(id=i, vector=[1.0, 0.0], payload={"at": shapes[i % 3](t)})
        for i, t in times.items()])
    client.create_payload_index(collection_name, "at", models.PayloadSchemaType.DATETIME, wait=True)

    low, high = START + timedelta(days=1), START + timedelta(days=3)
    window = models.Filter(must=[models.FieldCondition(
        key="at", range=models.DatetimeRange(gte=low, lt=high))])
    page, _ = client.scroll(collection_name, scroll_filter=window, limit=100)
    assert sorted(p.id for p in page) == sorted(i for i, t in times.items() if low <= t < high)

    page, _ = client.scroll(collection_name, limit=5, order_by=models.OrderBy(
        key="at", direction=models.Direction.DESC, start_from=high))
    latest_first = sorted((i for i, t in times.items() if t <= high), key=lambda i: times[i],
                          reverse=True)
    assert [p.id for p in page] == latest_first[:5]
