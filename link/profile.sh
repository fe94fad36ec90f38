#!/usr/bin/env bash
# Rewrites link/hot-symbols.txt from profiles of the current release build: one run on a
# simulated 10-node cluster under valgrind's callgrind (every function that runs at start-up,
# in scrapes and in requests), and two under perf (10 and 200 nodes: the code valgrind's CPU
# never takes, such as ring's routines for instruction sets it lacks, and the gzip lists).
# Needs valgrind, perf and python3; about 10 minutes. Run it after a dependency or toolchain
# update (tests/symbol-order.sh fails when too few of the listed names are left).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp target/release/metrics-server "$work/metrics-server"
bench=target/release/metrics-server-bench

cat >"$work/callgrind.sh" <<WRAP
#!/bin/bash
exec valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file=$work/callgrind.out "\$@"
WRAP
chmod +x "$work/callgrind.sh"
"$bench" --nodes 10 --duration 10s --warmup 5s --get-clients 10 --server "$work/metrics-server" \
  --server-wrapper "$work/callgrind.sh" --out "$work/callgrind/scale.json" >/dev/null

perf_args=()
for nodes in 10 200; do
  cat >"$work/perf.sh" <<WRAP
#!/bin/bash
exec perf record -F 15000 -o $work/perf-$nodes.data "\$@"
WRAP
  chmod +x "$work/perf.sh"
  "$bench" --nodes "$nodes" --duration 20s --warmup 5s --server "$work/metrics-server" \
    --server-wrapper "$work/perf.sh" --out "$work/perf-$nodes/scale.json" >/dev/null
  perf report -i "$work/perf-$nodes.data" --no-demangle --stdio --sort sym \
    --dsos metrics-server 2>/dev/null | grep -v '^#' | awk 'NF>=3 {print $NF}' | sort -u \
    >"$work/perf-$nodes.txt"
  perf_args+=(--perf-symbols "$work/perf-$nodes.txt")
done

python3 link/hot_symbols.py --profiled "$work/metrics-server" --callgrind "$work/callgrind.out" \
  "${perf_args[@]}" --name-in "$work/metrics-server" >link/hot-symbols.txt
echo "link/hot-symbols.txt rewritten; rebuild (cargo build --release) to link with it."
