#!/usr/bin/env python3
"""Differential run: the same REST requests to Tessera and to Qdrant, every
difference in status, body or error text printed.

Run by hand where a Qdrant binary is at hand (see ../shared/tools/build_qdrant.sh):

    QDRANT_BIN=/path/to/qdrant TESSERA_BIN=target/debug/tessera \\
        python3 tests/conformance/diff_qdrant.py [--only SUBSTRING] [--keep-going]

Both servers start here on free loopback ports with empty storage, and stop
(by the PIDs started here) at the end. Each case is a list of steps; the
steps run in order against both servers, and each answer is compared after
dropping what differs by nature (`time`, `usage`, snapshot names and
checksums, timestamps). Exit status: 0 when no case differs, 1 otherwise.
Needs only the standard library and `httpx` (in tests/python/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
DIM = 4
POINTS = [
    {"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"city": "Berlin", "n": 1, "tags": ["a", "b"]}},
    {"id": 2, "vector": [0.19, 0.81, 0.75, 0.11], "payload": {"city": ["Berlin", "London"], "n": 2}},
    {"id": 3, "vector": [0.36, 0.55, 0.47, 0.94], "payload": {"city": "Moscow", "n": 3}},
    {"id": 4, "vector": [0.18, 0.01, 0.85, 0.80], "payload": {"city": "London", "n": 4, "nested": {"a": [{"b": 1}]}}},
    {"id": 5, "vector": [0.24, 0.18, 0.22, 0.44], "payload": {"n": 5}},
    {"id": 6, "vector": [0.35, 0.08, 0.11, 0.44], "payload": {"city": None, "n": 6}},
]
C = "diff"


def setup(dense: dict | None = None) -> list:
    """Steps that make collection `diff` with the six points."""
    return [
        ("DELETE", f"/collections/{C}", None),
        ("PUT", f"/collections/{C}", {"vectors": dense or {"size": DIM, "distance": "Dot"}}),
        ("PUT", f"/collections/{C}/points?wait=true", {"points": POINTS}),
    ]


# Each case: a name and its steps (method, path, body). Only the last step's
# answer is compared unless a step's path ends with `#compare`.
CASES: dict[str, list] = {
    "root": [("GET", "/", None)],
    "healthz": [("GET", "/healthz", None)],
    "livez": [("GET", "/livez", None)],
    "readyz": [("GET", "/readyz", None)],
    "unknown path": [("GET", "/no/such/path", None)],
    "method not allowed": [("PATCH", "/collections", None)],
    "collection info": setup() + [("GET", f"/collections/{C}", None)],
    "collection missing": [("GET", "/collections/no-such-collection", None)],
    "create twice": setup() + [("PUT", f"/collections/{C}", {"vectors": {"size": DIM, "distance": "Dot"}})],
    "create ef_construct 0": [("PUT", "/collections/bad", {"vectors": {"size": DIM, "distance": "Dot"},
                                                             "hnsw_config": {"ef_construct": 0}})],
    "create timeout 0": [("PUT", "/collections/bad?timeout=0", {"vectors": {"size": DIM, "distance": "Dot"}})],
    "create malformed": [("PUT", "/collections/bad", "{\"vectors\": ")],
    "floats as written": setup() + [("POST", f"/collections/{C}/points", {"ids": [1, 2], "with_vector": True})],
    "scores": setup() + [("POST", f"/collections/{C}/points/query",
                          {"query": [0.2, 0.1, 0.9, 0.7], "limit": 6})],
    "search": setup() + [("POST", f"/collections/{C}/points/search",
                          {"vector": [0.2, 0.1, 0.9, 0.7], "limit": 3, "with_payload": True})],
    "prefetch without query": setup() + [("POST", f"/collections/{C}/points/query", {
        "prefetch": {"limit": 3, "filter": {"must": [{"key": "n", "range": {"gte": 2}}]}},
        "query": [0.2, 0.1, 0.9, 0.7], "limit": 10})],
    "prefetches without query": setup() + [("POST", f"/collections/{C}/points/query",
                                            {"prefetch": [{"query": [0.2, 0.1, 0.9, 0.7]}]})],
    "score_threshold without query": setup() + [("POST", f"/collections/{C}/points/query",
                                                 {"score_threshold": 1})],
    "fusion with using": setup() + [("POST", f"/collections/{C}/points/query", {
        "prefetch": [{"query": [0.2, 0.1, 0.9, 0.7]}], "query": {"fusion": "rrf"}, "using": "x"})],
    "query limit 0": setup() + [("POST", f"/collections/{C}/points/query", {"query": [0.1, 0.1, 0.1, 0.1],
                                                                             "limit": 0})],
    "order_by with offset": setup() + [
        ("PUT", f"/collections/{C}/index?wait=true", {"field_name": "n", "field_schema": "integer"}),
        ("POST", f"/collections/{C}/points/scroll", {"order_by": "n", "offset": 2})],
    "empty field condition": setup() + [("POST", f"/collections/{C}/points/count",
                                         {"filter": {"must": [{"key": "n"}]}})],
    "update vectors of a missing point": setup() + [("PUT", f"/collections/{C}/points/vectors?wait=true",
                                                     {"points": [{"id": 99, "vector": [1, 2, 3, 4]}]})],
    "wrong dimension": setup() + [("PUT", f"/collections/{C}/points?wait=true",
                                   {"points": [{"id": 9, "vector": [1, 2]}]})],
    "nested path without []": setup() + [("POST", f"/collections/{C}/points/scroll",
                                          {"filter": {"must": [{"key": "nested.a.b", "match": {"value": 1}}]}})],
    "payload selector": setup() + [("POST", f"/collections/{C}/points/scroll",
                                    {"with_payload": {"include": ["nested.a[].b", "city"]}, "limit": 6})],
    "recommend negatives only": setup() + [("POST", f"/collections/{C}/points/recommend", {
        "negative": [1], "strategy": "best_score", "limit": 2})],
    "recommend nothing": setup() + [("POST", f"/collections/{C}/points/recommend", {
        "positive": [], "strategy": "average_vector", "limit": 2})],
    "alias as collection name": setup() + [("POST", "/collections/aliases", {
        "actions": [{"create_alias": {"alias_name": C, "collection_name": C}}]})],
    "metadata merge": setup() + [
        ("PATCH", f"/collections/{C}", {"metadata": {"a": 1, "b": 2}}),
        ("PATCH", f"/collections/{C}", {"metadata": {"b": None}}),
        ("GET", f"/collections/{C}", None)],
    "matrix pairs": setup() + [("POST", f"/collections/{C}/points/search/matrix/pairs",
                                {"sample": 10, "limit": 2})],
    "matrix offsets": setup() + [("POST", f"/collections/{C}/points/search/matrix/offsets",
                                  {"sample": 10, "limit": 2})],
    "groups": setup() + [("POST", f"/collections/{C}/points/search/groups", {
        "vector": [0.2, 0.1, 0.9, 0.7], "group_by": "city", "limit": 3, "group_size": 2})],
    "facet without index": setup() + [("POST", f"/collections/{C}/facet", {"key": "city"})],
    "snapshot wait=false": setup() + [("POST", f"/collections/{C}/snapshots?wait=false", None)],
    "snapshot from a bad file URI": [("PUT", "/collections/x/snapshots/recover",
                                      {"location": "file://whatever.snapshot"})],
    "snapshot file missing": [("PUT", "/collections/x/snapshots/recover",
                               {"location": "file:///whatever.snapshot"})],
    "shard snapshot of a missing collection": [("PUT", "/collections/nope/shards/0/snapshots/recover",
                                                {"location": "whatever"})],
    "telemetry": [("GET", "/telemetry", None)],
    "issues": [("GET", "/issues", None)],
}

VOLATILE = {
    "time", "usage", "checksum", "creation_time", "commit", "version", "id", "uptime", "startup",
    "avg_duration_micros", "min_duration_micros", "max_duration_micros", "total_duration_micros",
    "last_responded",
}


def normalize(value):
    """Drops what differs by nature between two servers."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if k not in VOLATILE or not isinstance(v, (str, float))}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, argv: list[str], env: dict, http: int, workdir: Path):
        self.name, self.http = name, http
        self.log = open(workdir / f"{name}.log", "w")
        self.proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=workdir,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{http}", timeout=30)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not become ready; see {workdir / (name + '.log')}")

    def send(self, method: str, path: str, body):
        path = path.split("#")[0]
        if isinstance(body, str):
            r = self.client.request(method, path, content=body, headers={"content-type": "application/json"})
        else:
            r = self.client.request(method, path, json=body)
        try:
            parsed = r.json()
        except ValueError:
            parsed = r.text
        return r.status_code, parsed

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args()
    qdrant_bin = os.environ.get("QDRANT_BIN")
    if not qdrant_bin:
        print("set QDRANT_BIN to a Qdrant binary", file=sys.stderr)
        return 2
    tessera_bin = os.environ.get("TESSERA_BIN", str(REPO / "target" / "debug" / "tessera"))
    workdir = Path(tempfile.mkdtemp(prefix="tessera-diff-"))
    (workdir / "q").mkdir()
    (workdir / "t").mkdir()
    qh, qg, th, tg = free_port(), free_port(), free_port(), free_port()
    servers = []
    try:
        servers.append(Server("qdrant", [qdrant_bin], {
            "QDRANT__SERVICE__HTTP_PORT": str(qh), "QDRANT__SERVICE__GRPC_PORT": str(qg),
            "QDRANT__STORAGE__STORAGE_PATH": str(workdir / "q" / "storage"),
            "QDRANT__STORAGE__SNAPSHOTS_PATH": str(workdir / "q" / "snapshots"),
            "QDRANT__TELEMETRY_DISABLED": "true"}, qh, workdir / "q"))
        servers.append(Server("tessera", [tessera_bin, "standalone"], {
            "TESSERA__SERVICE__HTTP_PORT": str(th), "TESSERA__SERVICE__GRPC_PORT": str(tg)},
            th, workdir / "t"))
        qdrant, tessera = servers
        differing = 0
        for name, steps in CASES.items():
            if args.only and args.only not in name:
                continue
            for i, (method, path, body) in enumerate(steps):
                q = qdrant.send(method, path, body)
                t = tessera.send(method, path, body)
                last = i == len(steps) - 1
                if not (last or path.endswith("#compare")):
                    continue
                nq = (q[0], normalize(q[1]))
                nt = (t[0], normalize(t[1]))
                if nq != nt:
                    differing += 1
                    print(f"--- {name}: {method} {path}")
                    print(f"    qdrant : {q[0]} {json.dumps(nq[1], sort_keys=True)[:2000]}")
                    print(f"    tessera: {t[0]} {json.dumps(nt[1], sort_keys=True)[:2000]}")
        total = sum(1 for n in CASES if not args.only or args.only in n)
        print(f"{total - differing} same, {differing} differing (of {total} cases)")
        return 1 if differing else 0
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
