"""Fixtures for the Python end-to-end suite.

* ``deployment`` (session scope) is parametrized over the layouts ``standalone``
  and ``cluster``; pytest runs every test of one layout before starting the next,
  so one deployment runs at a time.
* ``client`` is parametrized over the transports ``rest`` and ``grpc``.
* ``rest`` is a raw HTTP client for checks on status codes and bodies.
* ``collection_name`` / ``make_name`` give unique names per test and delete
  them afterwards.
"""

from __future__ import annotations

import os

import httpx
import pytest
from qdrant_client import QdrantClient

from harness import Deployment, docker_unavailable, tessera_binary, unique_name

_NO_DOCKER = docker_unavailable()
if _NO_DOCKER and os.environ.get("TESSERA_REQUIRE_DOCKER") == "1":
    raise RuntimeError(f"TESSERA_REQUIRE_DOCKER=1 but the compose layouts cannot run: {_NO_DOCKER}")
# The compose layouts run the whole suite through each gateway of
# deploy/docker-compose.yaml, where a Docker engine answers.
LAYOUTS = ["standalone", "cluster"] + ([] if _NO_DOCKER else ["compose-1", "compose-2"])
TRANSPORTS = ["rest", "grpc"]
CLIENT_TIMEOUT_S = 30
_MAX_LOG_TAILS_PER_LAYOUT = 3

_current: dict[str, Deployment | None] = {"deployment": None}


@pytest.fixture(scope="session", params=LAYOUTS)
def deployment(request, tmp_path_factory) -> Deployment:
    layout = request.param
    dep = Deployment(
        layout=layout,
        binary=tessera_binary(),
        workdir=tmp_path_factory.mktemp(f"tessera-{layout}"),
    )
    try:
        dep.start()
        dep.wait_ready()
    except BaseException:
        dep.stop()
        raise
    _current["deployment"] = dep
    yield dep
    _current["deployment"] = None
    dep.stop()


@pytest.fixture(autouse=True)
def _processes_alive(deployment):
    """Fail fast, with the logs, when a Tessera process has died."""
    dead = deployment.dead_processes()
    if dead:
        pytest.fail(
            f"{deployment.layout}: Tessera process(es) not running: {dead}\n" + deployment.tails(),
            pytrace=False,
        )
    yield


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


@pytest.fixture
def client(deployment, transport):
    c = QdrantClient(
        host="127.0.0.1",
        port=deployment.http_port,
        grpc_port=deployment.grpc_port,
        prefer_grpc=(transport == "grpc"),
        timeout=CLIENT_TIMEOUT_S,
    )
    yield c
    c.close()


@pytest.fixture
def rest(deployment):
    with httpx.Client(base_url=deployment.http_url, timeout=CLIENT_TIMEOUT_S) as http:
        yield http


def _rest_client(dep: Deployment) -> QdrantClient:
    return QdrantClient(
        host="127.0.0.1",
        port=dep.http_port,
        grpc_port=dep.grpc_port,
        prefer_grpc=False,
        timeout=CLIENT_TIMEOUT_S,
    )


@pytest.fixture(scope="session")
def setup_client(deployment):
    """A REST client used by shared (module-scoped) data fixtures."""
    c = _rest_client(deployment)
    yield c
    c.close()


@pytest.fixture
def collection_name(request, deployment):
    """A unique collection name; the collection (if created) is deleted afterwards."""
    name = unique_name(request.node.originalname)
    yield name
    _drop(deployment, [name])


@pytest.fixture
def make_name(request, deployment):
    """Factory for several unique names in one test; all are dropped afterwards."""
    names: list[str] = []

    def make(suffix: str = "") -> str:
        names.append(unique_name(f"{request.node.originalname}_{suffix}"))
        return names[-1]

    yield make
    _drop(deployment, names)


def _drop(dep: Deployment, names) -> None:
    if dep.dead_processes():
        return
    try:
        with httpx.Client(base_url=dep.http_url, timeout=CLIENT_TIMEOUT_S) as http:
            for n in names:
                http.delete(f"/collections/{n}")
    except httpx.HTTPError:
        pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    dep = _current["deployment"]
    if not rep.failed or dep is None:
        return
    dead = dep.dead_processes()
    if dead or dep.failures_reported < _MAX_LOG_TAILS_PER_LAYOUT:
        dep.failures_reported += 1
        header = f"{dep.layout} logs" + (f" (dead: {dead})" if dead else "")
        rep.sections.append((header, dep.tails(25)))


def pytest_report_header(config):
    return [
        f"tessera binary: {tessera_binary()} (exists: {tessera_binary().is_file()})",
        f"layouts: {', '.join(LAYOUTS)}"
        + (f" (compose layouts SKIPPED: {_NO_DOCKER})" if _NO_DOCKER else ""),
    ]


def pytest_configure(config):
    # Loopback traffic must never go through a proxy (httpx and grpc both honour these).
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1,localhost"]))
