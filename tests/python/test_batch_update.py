"""`points/batch`: mixed point writes in one request, through qdrant-client
over REST and gRPC, applied in order; a malformed operation refuses the whole
batch before anything is written."""

from __future__ import annotations

from qdrant_client import models


def test_mixed_operations_apply_in_order(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT),
                        "b": models.VectorParams(size=2, distance=models.Distance.DOT)})
    results = client.batch_update_points(collection_name, wait=True, update_operations=[
        models.UpsertOperation(upsert=models.PointsList(points=[
            models.PointStruct(id=i, vector={"a": [1.0, float(i)], "b": [0.5, 0.5]}, payload={"i": i})
            for i in range(5)])),
        models.DeleteOperation(delete=models.PointIdsList(points=[4])),
        models.SetPayloadOperation(set_payload=models.SetPayload(payload={"tag": "x"}, points=[0, 1])),
        models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(payload={"only": 2}, points=[2])),
        models.DeletePayloadOperation(delete_payload=models.DeletePayload(keys=["i"], points=[1])),
        models.ClearPayloadOperation(clear_payload=models.PointIdsList(points=[3])),
        models.UpdateVectorsOperation(update_vectors=models.UpdateVectors(points=[
            models.PointVectors(id=0, vector={"a": [9.0, 9.0]})])),
        models.DeleteVectorsOperation(delete_vectors=models.DeleteVectors(points=[1], vector=["b"])),
    ])
    assert len(results) == 8
    assert all(r.status == models.UpdateStatus.COMPLETED for r in results)
    records = {r.id: r for r in client.retrieve(collection_name, ids=[0, 1, 2, 3, 4],
                                                with_payload=True, with_vectors=True)}
    assert sorted(records) == [0, 1, 2, 3]
    assert records[0].payload == {"i": 0, "tag": "x"}
    assert records[1].payload == {"tag": "x"}
    assert records[2].payload == {"only": 2}
    assert records[3].payload == {}
    assert records[0].vector["a"] == [9.0, 9.0]
    assert set(records[1].vector) == {"a"}


def test_a_malformed_operation_refuses_the_batch(rest, client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    path = f"/collections/{collection_name}/points/batch?wait=true"
    refused = rest.post(path, json={"operations": [
        {"upsert": {"points": [{"id": 1, "vector": [1.0, 0.0]}]}},
        {"teleport": {"points": [1]}},
    ]})
    assert refused.status_code == 400, refused.text
    assert "teleport" in refused.json()["status"]["error"]
    assert client.count(collection_name).count == 0
