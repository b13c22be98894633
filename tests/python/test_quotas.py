"""The node-wide resource quota (Qdrant 1.19 `GET/PUT /quotas`): one config for
the cluster, each data node refusing quota-consuming updates while its own
memory or disk is at the limit (507, RESOURCE_EXHAUSTED over gRPC), deletes
always passing. The config reaches data nodes with the topology, so tests wait
on what the nodes report rather than on time."""

from __future__ import annotations

import re
import time

import grpc
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

V = [0.1, 0.2, 0.3, 0.4]
WAIT_S = 20

# What each limit reads and how Qdrant words its refusal. A limit of 1% is
# tripped wherever usage rounds to 1% or more.
RESOURCES = {
    "disk": ("max_disk_usage_percent", "disk_usage_percent", "Disk usage", "total capacity", "disk"),
    "memory": ("max_resident_memory_percent", "resident_memory_percent", "Resident memory usage",
               "total memory", "memory"),
}


def refusal_text(resource: str) -> re.Pattern:
    parameter, _, what, total, kind = RESOURCES[resource]
    return re.compile(
        rf"Insufficient storage: {what} is at \d+% of {total}, exceeding the configured limit of 1%\. "
        rf"Help: Reduce {kind} usage \(e\.g\. delete points or drop collections\), or raise "
        rf"`{parameter}` in the global quota config\.")


@pytest.fixture
def set_quota(rest):
    """PUTs a quota config; the quota is reset to the default afterwards."""

    def put(config: dict) -> None:
        r = rest.put("/quotas", json=config)
        assert r.status_code == 200, r.text
        assert r.json()["result"] is True

    yield put
    assert rest.put("/quotas", json={"enabled": False}).status_code == 200


def quotas(rest) -> dict:
    r = rest.get("/quotas")
    assert r.status_code == 200, r.text
    return r.json()["result"]


def wait_until(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)
    return value


def all_peers(rest, predicate) -> bool:
    peers = quotas(rest)["peers"]
    return bool(peers) and all(predicate(p) for p in peers.values())


def test_the_default_quota_is_off_and_usage_is_reported(rest):
    result = quotas(rest)
    assert result["config"] == {"enabled": False}
    assert set(result["usage"]) == {"resident_memory_percent", "disk_usage_percent"}
    assert result["peers"], "every data node that answers is listed"
    for peer_id, peer in result["peers"].items():
        assert peer_id.isdigit()
        assert peer["exceeded"] is False
        assert 0 <= peer["disk_usage_percent"] <= 100
        assert 0 <= peer["resident_memory_percent"] <= 100
    # The usage is the fullest data node's.
    assert result["usage"]["disk_usage_percent"] == max(
        p["disk_usage_percent"] for p in result["peers"].values())
    telemetry = rest.get("/telemetry").json()["result"]["quota"]
    assert telemetry == {"config": {"enabled": False},
                         "exceeded": {"resident_memory": None, "disk_usage": None}}


def test_a_config_is_kept_as_set(rest, set_quota):
    config = {"enabled": False, "max_resident_memory_percent": 90, "max_disk_usage_percent": 95,
              "release_margin_percent": 5}
    set_quota(config)
    assert quotas(rest)["config"] == config
    # Unset fields are left out, and `enabled` defaults to false.
    set_quota({"max_disk_usage_percent": 80})
    assert quotas(rest)["config"] == {"enabled": False, "max_disk_usage_percent": 80}
    assert rest.get("/telemetry").json()["result"]["quota"]["config"] == {
        "enabled": False, "max_disk_usage_percent": 80}


@pytest.mark.parametrize("body,error", [
    ({"max_resident_memory_percent": 0},
     "[max_resident_memory_percent: value 0 invalid, must be from 1 to 100]"),
    ({"max_disk_usage_percent": 101}, "[max_disk_usage_percent: value 101 invalid, must be from 1 to 100]"),
    ({"release_margin_percent": 101}, "[release_margin_percent: value 101 invalid, must be 100 or smaller]"),
])
def test_out_of_range_values_are_refused(rest, body, error):
    r = rest.put("/quotas", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["status"]["error"] == f"Validation error in JSON body: {error}"
    assert quotas(rest)["config"] == {"enabled": False}


@pytest.mark.parametrize("resource", ["disk", "memory"])
def test_a_node_at_its_limit_refuses_updates_but_not_deletes(rest, set_quota, collection_name, resource):
    parameter, usage_field, *_ = RESOURCES[resource]
    if resource == "memory" and min(p[usage_field] for p in quotas(rest)["peers"].values()) < 1:
        pytest.skip("a data node's memory rounds to 0% of this machine's: no limit is reached")
    assert rest.put(f"/collections/{collection_name}",
                    json={"vectors": {"size": 4, "distance": "Dot"}}).status_code == 200
    points = f"/collections/{collection_name}/points"
    assert rest.put(f"{points}?wait=true", json={"points": [{"id": 1, "vector": V}]}).status_code == 200

    set_quota({"enabled": True, parameter: 1})
    wait_until(lambda: all_peers(rest, lambda p: p["exceeded"]), "every data node reports the limit exceeded")

    r = rest.put(f"{points}?wait=true", json={"points": [{"id": 2, "vector": V}]})
    assert r.status_code == 507, r.text
    assert refusal_text(resource).fullmatch(r.json()["status"]["error"]), r.text
    r = rest.post(f"{points}/payload?wait=true", json={"payload": {"a": 1}, "points": [1]})
    assert r.status_code == 507, r.text
    # The refused writes changed nothing, and deletes still pass.
    assert rest.post(f"{points}/delete?wait=true", json={"points": [1]}).status_code == 200
    assert rest.post(f"{points}/count", json={"exact": True}).json()["result"]["count"] == 0
    verdict = "disk_usage" if resource == "disk" else "resident_memory"
    assert rest.get("/telemetry").json()["result"]["quota"]["exceeded"][verdict] is True

    set_quota({"enabled": False, parameter: 1})
    wait_until(lambda: all_peers(rest, lambda p: not p["exceeded"]), "no data node reports a limit")
    assert rest.put(f"{points}?wait=true", json={"points": [{"id": 2, "vector": V}]}).status_code == 200


def test_a_refused_update_is_resource_exhausted_over_grpc(client, rest, set_quota, collection_name, transport):
    client.create_collection(collection_name, vectors_config=models.VectorParams(
        size=4, distance=models.Distance.DOT))
    set_quota({"enabled": True, "max_disk_usage_percent": 1})
    wait_until(lambda: all_peers(rest, lambda p: p["exceeded"]), "every data node reports the limit exceeded")
    upsert = lambda: client.upsert(collection_name, [models.PointStruct(id=1, vector=V)], wait=True)  # noqa: E731
    if transport == "grpc":
        with pytest.raises(grpc.RpcError) as err:
            upsert()
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refusal_text("disk").fullmatch(err.value.details()), err.value.details()
    else:
        with pytest.raises(UnexpectedResponse) as err:
            upsert()
        assert err.value.status_code == 507
    assert client.count(collection_name, exact=True).count == 0
