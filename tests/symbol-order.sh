#!/usr/bin/env bash
# The release server binary is linked with its hot functions packed together (build.rs,
# link/hot-symbols.txt): about 4 MiB of resident code instead of 10. The list names functions
# as one build names them; a dependency or toolchain update renames many, and the packing then
# quietly stops working. This fails when the release binary holds fewer than 80 % of the
# listed names, or when they are not at the start of its code; then it runs the server on a
# simulated 10-node cluster (the bench, about two minutes) and fails when more of its code is
# resident than the packing leaves: code changes rename or add hot functions the list lacks,
# each of which maps a 64 KiB block of its own (94 % of the names present once cost 2.4 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/metrics-server}
bench=${2:-target/release/metrics-server-bench}
list=link/hot-symbols.txt
# Resident code at 10 nodes: 4.1-4.4 MiB with a fresh list, 6.8 with one 94 % of whose names were left.
max_code_mib=5
[[ -x $bin ]] || { echo "FAIL symbol-order: no $bin (build the release binary first)" >&2; exit 1; }
python3 - "$bin" "$list" <<'PY'
import subprocess, sys
binary, listed = sys.argv[1], [l.strip() for l in open(sys.argv[2]) if l.strip()]
addr = {}
for line in subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True,
                           text=True).stdout.splitlines():
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[1] in "tT":
        addr.setdefault(parts[2], int(parts[0], 16))
found = [addr[n] for n in listed if n in addr]
share = len(found) / len(listed)
text = sorted(addr.values())
# Where the listed functions end, as a share of the code: packed, they come first.
span = (max(found) - text[0]) / (text[-1] - text[0]) if found else 1.0
print(f"symbol-order: {len(found)} of {len(listed)} listed functions in {binary} "
      f"({share:.0%}), packed into the first {span:.0%} of its code")
if share < 0.8:
    sys.exit("FAIL symbol-order: the list is stale; regenerate it with link/profile.sh")
if span > 0.5:
    sys.exit("FAIL symbol-order: the listed functions are not packed (was the link ordered?)")
print("PASS symbol-order")
PY

[[ -x $bench ]] || { echo "FAIL symbol-order: no $bench (build the release binaries first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bench" --nodes 10 --duration 10s --warmup 5s --get-clients 10 --server "$bin" \
  --out "$work/scale.json" >"$work/bench.log" 2>&1 ||
  { tail -20 "$work/bench.log" >&2; echo "FAIL symbol-order: the bench did not run" >&2; exit 1; }
python3 - "$work/scale.json" "$max_code_mib" <<'PY'
import json, sys
code, most = json.load(open(sys.argv[1]))["server_code_rss_mib"], float(sys.argv[2])
print(f"symbol-order: {code:.1f} MiB of the server's code resident at 10 nodes (at most {most})")
if not 0 < code <= most:
    sys.exit("FAIL symbol-order: the hot functions are not packed; regenerate the list with link/profile.sh")
print("PASS symbol-order (resident code)")
PY
