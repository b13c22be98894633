#!/usr/bin/env bash
# Search throughput under wrk, in both layouts people deploy: `tessera
# standalone`, and `tessera playground` (1 control plane, 3 data nodes,
# 1 gateway, separate processes over loopback gRPC).
#
# For each layout it starts Tessera from a release build in a fresh directory,
# and runs `tessera-bench --wrk`: upload over gRPC with the Rust client, time
# until green, wrk at 1, 8 and 32 connections against REST `points/query`
# (QPS, p50, p99), recall@10 of the same queries against exact search, the
# data directory's size per point (and the WAL's), and a collection snapshot's
# creation and recovery times with the memory they take.
#
#   tests/bench/wrk.sh                     # 100,000 points, both layouts
#   POINTS=20000 tests/bench/wrk.sh        # smaller
#   LAYOUTS=standalone tests/bench/wrk.sh  # one layout
#   tests/bench/wrk.sh --wrk-seconds 20    # extra flags go to tessera-bench
#
# Needs wrk (Debian: apt-get install wrk) and ports 6333/6334 free.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
command -v wrk >/dev/null || { echo "wrk is missing (Debian: apt-get install wrk)" >&2; exit 1; }

cargo build --release -p tessera -p tessera-tests --bin tessera --bin tessera-bench
target_dir=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
tessera=$target_dir/release/tessera
bench=$target_dir/release/tessera-bench

# Data nodes the gateway reports in GET /cluster.
peers() {
  curl -sf localhost:6333/cluster |
    python3 -c 'import json, sys; print(len(json.load(sys.stdin)["result"]["peers"]))' 2>/dev/null ||
    echo 0
}

for layout in ${LAYOUTS:-standalone playground}; do
  dir=$(mktemp -d)
  (cd "$dir" && exec "$tessera" "$layout") >"$dir/server.log" 2>&1 &
  server=$!
  want=1
  [ "$layout" = playground ] && want=3
  for _ in $(seq 300); do
    [ "$(peers)" -ge "$want" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$dir/server.log"; exit 1; }
    sleep 0.2
  done
  echo "==> $layout"
  status=0
  "$bench" --points "${POINTS:-100000}" --wrk --data-dir "$dir" --snapshot "$@" || status=$?
  kill -TERM "$server"
  wait "$server" || true
  rm -rf "$dir"
  [ "$status" -eq 0 ] || exit "$status"
done
