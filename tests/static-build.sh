#!/usr/bin/env bash
# The release image ships a fully static binary (see Dockerfile). No container engine runs
# here, so this checks the static build itself: the musl target builds the binary, `ldd`
# finds no dynamic dependencies, the binary runs (`--version`), and it holds none of the
# simulator's or the bench's code (they are crates beside the server).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl
fi
if ! command -v musl-gcc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq musl-tools >/dev/null
fi

cargo build --release --locked --target x86_64-unknown-linux-musl -p metrics-server-rs --bin metrics-server
bin=target/x86_64-unknown-linux-musl/release/metrics-server
linkage=$(ldd "$bin" 2>&1 || true)
if ! grep -qE "statically linked|not a dynamic executable" <<<"$linkage"; then
  echo "FAIL static-build: $bin has dynamic dependencies:" >&2
  echo "$linkage" >&2
  exit 1
fi
"$bin" --version
for marker in metrics_server_sim metrics_server_bench sim/src/ bench/src/ sim-cluster; do
  if grep -qaF "$marker" "$bin"; then
    echo "FAIL static-build: $bin contains \"$marker\" (simulator or bench code)" >&2
    exit 1
  fi
done
echo "PASS static-build: $bin is statically linked"
