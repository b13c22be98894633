#!/usr/bin/env bash
# The project's test command (see README): check formatting, build
# everything, check clippy's lints (warnings are errors), check dependencies
# with cargo-deny, run the Rust
# unit and integration tests (the Docker compose test among them, skipped with
# a note where no Docker engine answers), check deploy/kubernetes offline, run
# schemathesis against the gateway's OpenAPI document, then run the Python
# end-to-end suite that drives a real `tessera` binary with the official
# qdrant-client over REST and gRPC.
#
# Works on a fresh clone: creates .venv and installs tests/python/requirements.txt
# when they are missing or out of date. Honours CARGO_TARGET_DIR and TESSERA_BIN.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv
req=tests/python/requirements.txt

if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv"
  python3 -m venv "$venv" || {
    echo "python3 -m venv failed; on Debian install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  }
fi
stamp=$venv/.tessera-requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "==> installing $req"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
  echo "$want" >"$stamp"
fi

echo "==> cargo fmt --all -- --check"
cargo fmt --all -- --check

echo "==> cargo build --workspace --all-targets"
cargo build --workspace --all-targets

echo "==> cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# Licenses, duplicate versions and sources of every dependency (deny.toml);
# cargo-deny is installed on first use, its build kept beside ours.
if ! cargo deny --version >/dev/null 2>&1; then
  echo "==> installing cargo-deny"
  target_root=${CARGO_TARGET_DIR:-$root/target}
  cargo install --locked --quiet cargo-deny@0.20.2 --target-dir "$target_root/tools"
fi
echo "==> cargo deny check licenses bans sources"
cargo deny check licenses bans sources
# Advisories need RustSec's database from GitHub, which not every machine reaches.
if timeout 60 cargo deny fetch db >/dev/null 2>&1; then
  echo "==> cargo deny check advisories"
  cargo deny check advisories
else
  echo "==> cargo deny advisories SKIPPED: RustSec's advisory database cannot be fetched"
fi

# The compose test (and the Python suite's compose layouts) need a Docker
# engine; say plainly whether they run, as cargo hides a passing test's output.
if docker info >/dev/null 2>&1 && command -v docker-compose >/dev/null; then
  echo "==> Docker engine answers: the compose tests run"
elif [ "${TESSERA_REQUIRE_DOCKER:-}" = 1 ]; then
  echo "==> TESSERA_REQUIRE_DOCKER=1 but no Docker engine answers (or docker-compose is missing)" >&2
  exit 1
else
  echo "==> Docker tests SKIPPED: no Docker engine answers (or docker-compose is missing)"
fi

echo "==> cargo test --workspace"
cargo test --workspace

# The binary the Python suite starts: where cargo just built it.
if [ -z "${TESSERA_BIN:-}" ]; then
  target_dir=$(cargo metadata --no-deps --format-version 1 |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  export TESSERA_BIN=$target_dir/debug/tessera
fi

echo "==> python -m pytest -q tests/deploy (Kubernetes manifests, offline)"
"$venv/bin/python" -m pytest -q tests/deploy

echo "==> python -m pytest -q tests/api (schemathesis against /openapi.json)"
"$venv/bin/python" -m pytest -q -s tests/api

echo "==> python -m pytest -q tests/python (TESSERA_BIN=$TESSERA_BIN)"
"$venv/bin/python" -m pytest -q tests/python
