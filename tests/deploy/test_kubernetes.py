"""deploy/kubernetes/ checked offline, as `kubectl apply -k` would need it:
every manifest is valid against the Kubernetes schemas (kubernetes-validate,
strict: no unknown fields), the kustomization lists every manifest, and each
workload has what an operator relies on (probes, resource requests, a
PodDisruptionBudget, volumes for state)."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

KUBERNETES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
VERSION = "1.30.0"


def manifests() -> dict[str, list[dict]]:
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for path in sorted(KUBERNETES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def resources() -> list[dict]:
    return [doc for docs in manifests().values() for doc in docs]


def of_kind(kind: str) -> list[dict]:
    return [r for r in resources() if r["kind"] == kind]


@pytest.mark.parametrize("name", sorted(manifests()))
def test_every_manifest_is_valid_against_the_kubernetes_schemas(name):
    for resource in manifests()[name]:
        kubernetes_validate.validate(resource, VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest():
    broken = copy.deepcopy(of_kind("StatefulSet")[0])
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)
    unknown = copy.deepcopy(of_kind("Deployment")[0])
    unknown["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, VERSION, strict=True)


def test_the_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(manifests())


def test_every_workload_has_probes_requests_and_a_disruption_budget():
    workloads = of_kind("StatefulSet") + of_kind("Deployment")
    assert {w["metadata"]["name"] for w in workloads} == {
        "tessera-control-plane",
        "tessera-data",
        "tessera-gateway",
    }
    budgets = {
        tuple(sorted(b["spec"]["selector"]["matchLabels"].items()))
        for b in of_kind("PodDisruptionBudget")
    }
    for workload in workloads:
        name = workload["metadata"]["name"]
        labels = workload["spec"]["selector"]["matchLabels"]
        assert tuple(sorted(labels.items())) in budgets, f"{name} has no PodDisruptionBudget"
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container["args"][0] in {"control-plane", "data-plane", "gateway"}, name
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["path"] in {"/livez", "/readyz"}, name
            assert container["resources"]["requests"], name


def test_stateful_roles_keep_their_data_on_claims_behind_headless_services():
    headless = {s["metadata"]["name"] for s in of_kind("Service") if s["spec"].get("clusterIP") == "None"}
    for statefulset in of_kind("StatefulSet"):
        spec = statefulset["spec"]
        assert spec["serviceName"] in headless, statefulset["metadata"]["name"]
        claims = [c["metadata"]["name"] for c in spec["volumeClaimTemplates"]]
        mounts = [m["name"] for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]]
        assert set(claims) <= set(mounts)


def test_every_control_plane_pod_bootstraps_from_the_first_one():
    (control_plane,) = [s for s in of_kind("StatefulSet") if s["metadata"]["name"] == "tessera-control-plane"]
    args = control_plane["spec"]["template"]["spec"]["containers"][0]["args"]
    first = "http://tessera-control-plane-0.tessera-control-plane:6335"
    assert args[args.index("--bootstrap") + 1] == first
    config = yaml.safe_load(of_kind("ConfigMap")[0]["data"]["config.yaml"])
    members = config["cluster"]["control_plane"]
    assert members[0] == first
    assert len(members) == control_plane["spec"]["replicas"]
