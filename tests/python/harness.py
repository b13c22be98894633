"""Start and stop Tessera deployments for the Python end-to-end suite.

Layouts:

* ``standalone`` - one ``tessera standalone`` process with every role.
* ``cluster``    - 1 control-plane + 3 data-plane + 1 gateway, each its own process.
* ``compose-1``, ``compose-2`` - ``deploy/docker-compose.yaml`` (3 control planes,
  3 data nodes, 2 gateways as containers) from an image of the binary under test,
  driven through gateway 1 or 2; only where a Docker engine answers.

Every process writes stdout+stderr to a log file under the deployment's
temporary directory; the tails of those logs are shown when something fails.
Processes are stopped by the PIDs this module started (never by name).
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_PLANES = 3
READY_TIMEOUT_S = float(os.environ.get("TESSERA_READY_TIMEOUT", "90"))
STOP_TIMEOUT_S = 10.0


def tessera_binary() -> Path:
    """TESSERA_BIN, else $CARGO_TARGET_DIR/debug/tessera, else <repo>/target/debug/tessera."""
    env = os.environ.get("TESSERA_BIN")
    if env:
        return Path(env)
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "debug" / "tessera"
    return REPO_ROOT / "target" / "debug" / "tessera"


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all sockets held open until every port is chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


_counter = itertools.count()


def unique_name(hint: str) -> str:
    hint = re.sub(r"[^a-z0-9_]+", "_", hint.lower())[:40].strip("_")
    return f"t{next(_counter)}_{hint}_{uuid.uuid4().hex[:6]}"


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen | None = None
    log_file: object = None

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def tail(self, lines: int = 40) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError as e:
            return f"<cannot read {self.log_path}: {e}>"
        text = data.decode("utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


COMPOSE_IMAGE = "tessera:python-compose"
_compose_image_built = False


def docker_unavailable() -> str | None:
    """Why the compose layouts cannot run here, or None when they can."""
    for argv in (["docker", "info", "--format", "{{.ServerVersion}}"], ["docker-compose", "version", "--short"]):
        try:
            done = subprocess.run(argv, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{argv[0]}: {e}"
        if done.returncode != 0:
            return f"{' '.join(argv)}: {done.stderr.decode(errors='replace').strip()}"
    return None


@dataclass
class Deployment:
    layout: str
    binary: Path
    workdir: Path
    http_port: int = 0
    grpc_port: int = 0
    procs: list[Proc] = field(default_factory=list)
    data_plane_uris: list[str] = field(default_factory=list)
    failures_reported: int = 0
    compose_env: dict[str, str] = field(default_factory=dict)

    @property
    def clustered(self) -> bool:
        """Several data nodes behind the gateway (every layout but standalone)."""
        return self.layout != "standalone"

    @property
    def compose_project(self) -> str:
        return f"tessera-py-{os.getpid()}-{self.layout}"

    def _compose(self, *args: str, check: bool = True) -> str:
        argv = ["docker-compose", "-p", self.compose_project,
                "-f", str(REPO_ROOT / "deploy" / "docker-compose.yaml"), *args]
        done = subprocess.run(argv, capture_output=True, env={**os.environ, **self.compose_env})
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def shares_files(self) -> bool:
        """Whether Tessera reads files at the test's paths (not in containers)."""
        return not self.layout.startswith("compose-")

    @property
    def url_inside_cluster(self) -> str:
        """The gateway's REST URL as Tessera's own nodes reach it (a snapshot
        URL to recover from): inside compose, the gateway's service name."""
        if self.layout.startswith("compose-"):
            return f"http://gateway-{self.layout.removeprefix('compose-')}:6333"
        return self.http_url

    @property
    def expected_peers(self) -> int:
        return DATA_PLANES if self.clustered else 1

    # ---- lifecycle -------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> None:
        log_path = self.workdir / f"{name}.log"
        argv = [str(self.binary), *args]
        proc = Proc(name=name, argv=argv, log_path=log_path)
        proc.log_file = open(log_path, "wb")
        proc.log_file.write(("$ " + " ".join(argv) + "\n").encode())
        proc.log_file.flush()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        env.setdefault("RUST_LOG", "info")
        proc.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=proc.log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )
        self.procs.append(proc)

    def start(self) -> None:
        if not self.binary.is_file():
            raise RuntimeError(
                f"tessera binary not found at {self.binary}; build it with "
                "`cargo build -p tessera` or set TESSERA_BIN"
            )
        if self.layout == "standalone":
            self.http_port, self.grpc_port = free_ports(2)
            data = self.workdir / "data"
            data.mkdir()
            self._spawn(
                "standalone",
                [
                    "standalone",
                    "--data-dir", str(data),
                    "--http-port", str(self.http_port),
                    "--grpc-port", str(self.grpc_port),
                ],
            )
        elif self.layout == "cluster":
            ports = free_ports(3 + DATA_PLANES)
            self.http_port, self.grpc_port, cp_port = ports[:3]
            dp_ports = ports[3:]
            cp_uri = f"http://127.0.0.1:{cp_port}"
            cp_dir = self.workdir / "control-plane"
            cp_dir.mkdir()
            self._spawn(
                "control-plane",
                ["control-plane", "--uri", cp_uri, "--data-dir", str(cp_dir)],
            )
            for i, port in enumerate(dp_ports):
                d = self.workdir / f"data-plane-{i}"
                d.mkdir()
                self.data_plane_uris.append(f"http://127.0.0.1:{port}")
                self._spawn(
                    f"data-plane-{i}",
                    [
                        "data-plane",
                        "--control-plane", cp_uri,
                        "--uri", self.data_plane_uris[-1],
                        "--data-dir", str(d),
                    ],
                )
            self._spawn(
                "gateway",
                [
                    "gateway",
                    "--control-plane", cp_uri,
                    "--http-port", str(self.http_port),
                    "--grpc-port", str(self.grpc_port),
                ],
            )
        elif self.layout.startswith("compose-"):
            self._start_compose(gateway=int(self.layout.removeprefix("compose-")))
        else:
            raise ValueError(self.layout)

    def _start_compose(self, gateway: int) -> None:
        global _compose_image_built
        if not _compose_image_built:
            subprocess.run(
                ["docker", "rmi", "-f", COMPOSE_IMAGE], capture_output=True, check=False
            )
            subprocess.run(
                [str(REPO_ROOT / "deploy" / "build-image.sh"), str(self.binary), COMPOSE_IMAGE],
                capture_output=True, check=True,
            )
            _compose_image_built = True
        ports = free_ports(4)
        self.compose_env = {
            "TESSERA_IMAGE": COMPOSE_IMAGE,
            "TESSERA_HTTP_PORT": str(ports[0]),
            "TESSERA_GRPC_PORT": str(ports[1]),
            "TESSERA_HTTP_PORT_2": str(ports[2]),
            "TESSERA_GRPC_PORT_2": str(ports[3]),
        }
        self.http_port, self.grpc_port = ports[2 * (gateway - 1)], ports[2 * (gateway - 1) + 1]
        self.data_plane_uris = [f"http://data-{i}:6335" for i in range(1, DATA_PLANES + 1)]
        self._compose("up", "-d")

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(base_url=self.http_url, timeout=5.0) as http:
            while time.monotonic() < deadline:
                dead = self.dead_processes()
                if dead:
                    raise RuntimeError(
                        f"{self.layout}: process(es) exited during start-up: {dead}\n"
                        + self.tails()
                    )
                try:
                    r = http.get("/readyz")
                    if r.status_code != 200:
                        last = f"/readyz -> {r.status_code} {r.text[:200]}"
                    elif self.clustered:
                        c = http.get("/cluster")
                        peers = (c.json().get("result") or {}).get("peers") or {}
                        if c.status_code == 200 and len(peers) == DATA_PLANES:
                            return
                        last = f"/cluster -> {c.status_code} peers={len(peers)}"
                    else:
                        return
                except (httpx.HTTPError, ValueError) as e:
                    last = f"{type(e).__name__}: {e}"
                time.sleep(0.25)
        raise RuntimeError(
            f"{self.layout} not ready after {timeout:.0f}s (last: {last})\n" + self.tails()
        )

    def stop(self) -> None:
        if self.layout.startswith("compose-"):
            self._compose("down", "-v", "--remove-orphans", check=False)
            return
        # Gateway first, control plane last: reverse start order.
        for proc in reversed(self.procs):
            p = proc.popen
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in reversed(self.procs):
            p = proc.popen
            if p is None:
                continue
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            if proc.log_file is not None:
                proc.log_file.close()

    # ---- diagnostics -----------------------------------------------------

    def dead_processes(self) -> list[str]:
        return [
            f"{p.name} (pid {p.popen.pid}) exit code {p.exit_code()}"
            for p in self.procs
            if p.popen is not None and p.exit_code() is not None
        ]

    def tails(self, lines: int = 40) -> str:
        if self.layout.startswith("compose-"):
            return self._compose("logs", "--no-color", "--tail", str(lines), check=False)
        out = []
        for p in self.procs:
            out.append(f"----- {p.name}: last {lines} lines of {p.log_path} -----")
            out.append(p.tail(lines))
        return "\n".join(out)
