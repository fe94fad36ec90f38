#!/usr/bin/env bash
# The release server binary is linked with its hot functions packed together (build.rs,
# link/hot-symbols.txt): about 4 MiB of resident code instead of 10. The list names functions
# as one build names them; a dependency or toolchain update renames many, and the packing then
# quietly stops working. This fails when the release binary holds fewer than 80 % of the
# listed names, or when they are not at the start of its code.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/metrics-server}
list=link/hot-symbols.txt
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
