#!/usr/bin/env bash
# Builds the `tessera` image without pulling anything: a root filesystem
# holding the binary (debug info stripped), the shared libraries it links, a
# non-root user and the data directory, imported with `docker import`. It is
# the image deploy/Dockerfile builds, for machines that cannot reach a registry.
#
#   deploy/build-image.sh                          # release build, tag tessera:latest
#   deploy/build-image.sh target/debug/tessera tessera:test
set -euo pipefail

cd "$(dirname "$0")/.."
binary=${1:-}
tag=${2:-tessera:latest}
if [ -z "$binary" ]; then
  cargo build --release -p tessera
  binary=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/tessera
fi
[ -x "$binary" ] || { echo "no tessera binary at $binary" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/var/lib/tessera"
chmod 1777 "$root/tmp"
objcopy --strip-debug "$binary" "$root/usr/local/bin/tessera"
# The dynamic loader and every library the binary links, at their own paths.
for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo 'root:x:0:0:root:/root:/sbin/nologin' >"$root/etc/passwd"
echo 'tessera:x:10001:10001:tessera:/var/lib/tessera:/sbin/nologin' >>"$root/etc/passwd"
printf 'root:x:0:\ntessera:x:10001:\n' >"$root/etc/group"
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
chown -R 10001:10001 "$root/var/lib/tessera"

tar --numeric-owner -C "$root" -c . |
  docker import \
    --change 'USER 10001:10001' \
    --change 'WORKDIR /var/lib/tessera' \
    --change 'ENV PATH=/usr/local/bin' \
    --change 'EXPOSE 6333 6334 6335' \
    --change 'ENTRYPOINT ["/usr/local/bin/tessera"]' \
    --change 'CMD ["standalone", "--data-dir", "/var/lib/tessera/storage"]' \
    - "$tag" >/dev/null
echo "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
