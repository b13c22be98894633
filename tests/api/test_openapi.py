"""The gateway's own OpenAPI document (/openapi.json), and schemathesis
against it: requests generated from the document, valid and invalid, must
never get a 5xx or a dropped connection.

Two passes over a standalone Tessera: every operation, with schemathesis's
boundary cases (coverage) and random requests (fuzzing), mostly naming
unknown collections (bodies are parsed and validated before the collection
is looked up); then random requests to the points operations of a real
collection holding points, a payload index and a sparse vector, so searches,
writes and filters reach the shards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

from harness import Deployment, tessera_binary  # noqa: E402

QDRANT_REFERENCE = REPO.parent / "shared" / "reference" / "qdrant-openapi-v1.18.3.json"
COLLECTION = "fuzzed"
# Tessera's own endpoints, beyond Qdrant's API.
OWN_PATHS = {"/metrics", "/cluster/control-plane/{node_id}", "/cluster/recover"}
# Qdrant 1.19's, past the 1.18.3 reference.
NEWER_PATHS = {"/quotas"}


@pytest.fixture(scope="module")
def tessera(tmp_path_factory):
    deployment = Deployment("standalone", tessera_binary(), tmp_path_factory.mktemp("openapi"))
    deployment.start()
    try:
        deployment.wait_ready()
        yield deployment
    finally:
        deployment.stop()


def call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def document(tessera: Deployment) -> dict:
    return call(f"{tessera.http_url}/openapi.json")


def test_the_document_describes_qdrants_api_with_schemas_from_the_code(tessera):
    doc = document(tessera)
    assert doc["openapi"].startswith("3.0")
    paths = doc["paths"]
    assert len(paths) >= 50
    # Every body schema it names is in the document.
    text = json.dumps(doc)
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert ref in doc["components"]["schemas"], ref
    search = paths["/collections/{name}/points/search"]["post"]
    assert search["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SearchBody"
    }
    assert "vector" in doc["components"]["schemas"]["SearchBody"]["required"]
    if QDRANT_REFERENCE.exists():
        # Path parameters are named differently ({name} for {collection_name}).
        def shape(path: str) -> str:
            return re.sub(r"\{[^}]+\}", "{}", path)

        qdrant = {shape(p): item for p, item in json.loads(QDRANT_REFERENCE.read_text())["paths"].items()}
        for path, item in paths.items():
            if path in OWN_PATHS | NEWER_PATHS:
                continue
            assert shape(path) in qdrant, f"{path} is not in Qdrant's API"
            for method in item:
                assert method in qdrant[shape(path)], f"{method.upper()} {path} is not in Qdrant's API"


def schemathesis(tessera: Deployment, *args: str, env: dict | None = None) -> int:
    """Runs `st run` against the gateway; fails on any 5xx or network error
    and returns how many requests it generated."""
    argv = [
        str(Path(sys.executable).parent / "st"), "run", f"{tessera.http_url}/openapi.json",
        "--checks", "not_a_server_error",
        "--seed", "7",
        # One worker: CPython 3.11's ast.parse, which hypothesis calls to name
        # its strategies, is not safe across threads.
        "--workers", "1",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        # A generated quota would turn every later write into a 507, which the
        # check counts as a server error; tests/python/test_quotas.py covers it.
        "--exclude-name", "PUT /quotas",
        *args,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tessera.workdir,
                          env={**os.environ, **(env or {})}, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"schemathesis found failures:\n{output[-8000:]}\n{tessera.tails()}"
    generated = re.search(r"(\d+) generated", output)
    assert generated, output[-3000:]
    print(f"schemathesis {' '.join(args)}: {generated.group(1)} requests", file=sys.stderr)
    return int(generated.group(1))


def test_no_generated_request_gets_a_server_error(tessera):
    assert schemathesis(tessera, "--max-examples", "10") > 1000


def test_no_generated_points_request_gets_a_server_error(tessera):
    base = f"{tessera.http_url}/collections/{COLLECTION}"
    call(base, "PUT", {
        "vectors": {"size": 4, "distance": "Cosine"},
        "sparse_vectors": {"text": {}},
    })
    call(f"{base}/index?wait=true", "PUT", {"field_name": "city", "field_schema": "keyword"})
    points = [
        {"id": i, "vector": {"": [i % 7, 1.0, (i % 3) / 3, 0.5],
                             "text": {"indices": [i % 5, 10], "values": [1.0, 0.5]}},
         "payload": {"city": ["Berlin", "Paris", "Rome"][i % 3], "n": i}}
        for i in range(1, 201)
    ]
    call(f"{base}/points?wait=true", "PUT", {"points": points})
    generated = schemathesis(
        tessera, "--phases", "fuzzing,stateful", "--max-examples", "60",
        "--include-path-regex", "/points|/facet",
        env={"SCHEMATHESIS_HOOKS": "fuzz_hooks", "TESSERA_FUZZ_COLLECTION": COLLECTION,
             "PYTHONPATH": str(HERE)},
    )
    assert generated > 1000
    assert call(f"{base}/exists")["result"]["exists"], "the collection survived"
