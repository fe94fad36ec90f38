#!/usr/bin/env bash
# The release image ships a fully static binary (see Dockerfile). No container engine runs
# here, so this checks the static build itself: the musl target builds the binary, `ldd`
# finds no dynamic dependencies, and the binary runs (`--version`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl
fi
if ! command -v musl-gcc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq musl-tools >/dev/null
fi

cargo build --release --locked --target x86_64-unknown-linux-musl --bin metrics-server
bin=target/x86_64-unknown-linux-musl/release/metrics-server
linkage=$(ldd "$bin" 2>&1 || true)
if ! grep -qE "statically linked|not a dynamic executable" <<<"$linkage"; then
  echo "FAIL static-build: $bin has dynamic dependencies:" >&2
  echo "$linkage" >&2
  exit 1
fi
"$bin" --version
echo "PASS static-build: $bin is statically linked"
