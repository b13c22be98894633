"""Collection aliases through qdrant-client, over REST and gRPC: an alias
answers for its collection in every call, switches atomically while a reader
runs, and a request whose action fails changes nothing."""

from __future__ import annotations

import threading

import pytest
from qdrant_client import models

from reference import random_vectors


def _collection(client, name, n):
    client.create_collection(
        name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    vectors = random_vectors(n, 4, seed=n)
    client.upsert(name, wait=True, points=[
        models.PointStruct(id=i, vector=vectors[i], payload={"n": n}) for i in range(n)])
    return vectors


def _create(alias, collection):
    return models.CreateAliasOperation(
        create_alias=models.CreateAlias(collection_name=collection, alias_name=alias))


def _delete(alias):
    return models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))


def _aliases(client):
    return {a.alias_name: a.collection_name for a in client.get_aliases().aliases}


def test_an_alias_answers_for_its_collection(client, make_name):
    v1, v2, alias = make_name(), make_name(), make_name()
    vectors = _collection(client, v1, 10)
    _collection(client, v2, 20)
    assert client.update_collection_aliases(change_aliases_operations=[_create(alias, v1)])
    assert _aliases(client)[alias] == v1
    assert [a.alias_name for a in client.get_collection_aliases(v1).aliases] == [alias]
    assert client.count(alias).count == 10
    hits = client.query_points(alias, query=vectors[0], limit=3, with_payload=True).points
    assert hits[0].payload == {"n": 10}
    client.upsert(alias, wait=True, points=[models.PointStruct(id=99, vector=vectors[1])])
    assert client.count(v1).count == 11
    assert client.collection_exists(alias)

    renamed = make_name()
    assert client.update_collection_aliases(change_aliases_operations=[
        models.RenameAliasOperation(rename_alias=models.RenameAlias(
            old_alias_name=alias, new_alias_name=renamed))])
    assert renamed in _aliases(client) and alias not in _aliases(client)

    client.delete_collection(v1)
    assert renamed not in _aliases(client), "a deleted collection's aliases go with it"
    client.delete_collection(v2)


def test_a_switch_is_atomic_for_a_running_reader(client, make_name):
    v1, v2, alias = make_name(), make_name(), make_name()
    _collection(client, v1, 10)
    _collection(client, v2, 20)
    client.update_collection_aliases(change_aliases_operations=[_create(alias, v1)])
    seen, errors, stop = set(), [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.add(client.count(alias).count)
            except Exception as e:  # noqa: BLE001 - the test reports every failure
                errors.append(repr(e))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(10):
            target = v2 if i % 2 == 0 else v1
            client.update_collection_aliases(
                change_aliases_operations=[_delete(alias), _create(alias, target)])
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert seen <= {10, 20} and seen, seen
    for name in (v1, v2):
        client.delete_collection(name)


def test_a_failed_action_changes_nothing(client, rest, make_name):
    v1, alias = make_name(), make_name()
    _collection(client, v1, 5)
    client.update_collection_aliases(change_aliases_operations=[_create(alias, v1)])
    with pytest.raises(Exception) as failed:
        client.update_collection_aliases(change_aliases_operations=[
            _delete(alias), _create(make_name(), "no-such-collection")])
    assert "no-such-collection" in str(failed.value)
    assert _aliases(client)[alias] == v1

    missing = rest.post("/collections/aliases",
                        json={"actions": [{"delete_alias": {"alias_name": "no-such-alias"}}]})
    assert missing.status_code == 404, missing.text
    clash = rest.post("/collections/aliases",
                      json={"actions": [{"create_alias": {"collection_name": v1, "alias_name": v1}}]})
    # Qdrant's answers: an alias named as a collection is a conflict (409);
    # a collection named as an alias is a bad input (400).
    assert clash.status_code == 409, clash.text
    assert clash.json()["status"]["error"] == f"Wrong input: Collection `{v1}` already exists!"
    taken = rest.put(f"/collections/{alias}",
                     json={"vectors": {"size": 4, "distance": "Dot"}})
    assert taken.status_code == 400, taken.text
    assert taken.json()["status"]["error"] == (
        f"Wrong input: Can't create collection with name {alias}. Alias with the same name already exists"
    )
    assert rest.get("/collections/no-such-collection/aliases").status_code == 404
    client.delete_collection(v1)
