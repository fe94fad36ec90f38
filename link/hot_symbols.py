#!/usr/bin/env python3
"""Writes the symbol ordering file the release link uses (see build.rs): every function the
server ran while a profile was taken, named as each given binary names it.

    hot_symbols.py --profiled BIN --callgrind OUT [--perf-symbols FILE]... --name-in BIN... > link/hot-symbols.txt

--profiled: the binary the profiles were taken of. --callgrind: a callgrind output of it
(valgrind --tool=callgrind --demangle=no). --perf-symbols: raw symbol names of it, one per
line (perf report --no-demangle --sort sym), for code valgrind's CPU never takes (its CPU
lacks some of the instruction sets ring picks at run time). --name-in: the binaries whose
names to write (builds with other dependency features or another target name the same
function differently; a name the linker does not find is skipped).
"""

import argparse
import re
import subprocess
import sys
from collections import Counter


def text_symbols(binary):
    """(raw name, demangled name) of every function symbol of `binary`."""
    def names(*flags):
        out = subprocess.run(["nm", "--defined-only", *flags, binary], check=True,
                             capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1] in ("t", "T"):
                rows.append((parts[0], parts[2]))
        return rows

    raw, demangled = names(), names("--demangle")
    if len(raw) != len(demangled):
        sys.exit(f"nm listed {binary} differently with and without demangling")
    return [(r[1], d[1]) for r, d in zip(raw, demangled)]


def callgrind_functions(path):
    """The raw names of the functions a callgrind output counts."""
    names, ran = {}, set()
    for line in open(path, encoding="utf-8", errors="replace"):
        if not line.startswith(("fn=", "cfn=")):
            continue
        m = re.match(r"\((\d+)\)(?: (.*))?", line.split("=", 1)[1].strip())
        if not m:
            continue
        ident, name = m.groups()
        if name:
            names[ident] = name
        if line.startswith("fn="):
            ran.add(ident)
    return {names[i] for i in ran if i in names}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiled", required=True)
    ap.add_argument("--callgrind", required=True, action="append")
    ap.add_argument("--perf-symbols", action="append", default=[])
    ap.add_argument("--name-in", required=True, action="append")
    args = ap.parse_args()

    ran = set()
    for path in args.callgrind:
        ran |= callgrind_functions(path)
    for path in args.perf_symbols:
        ran |= {line.strip() for line in open(path) if line.strip()}

    # What ran, by raw name, and by hash-free name where that names one function only (legacy
    # mangling puts no generic arguments in a demangled name: `drop_in_place` is thousands of
    # functions, which a build with other hashes must not all pull in).
    profiled = text_symbols(args.profiled)
    uses = Counter(demangled for _, demangled in profiled)
    hot = {demangled for raw, demangled in profiled if raw in ran and uses[demangled] == 1}
    written = set()
    for binary in args.name_in:
        for raw, demangled in text_symbols(binary):
            if (raw in ran or demangled in hot) and raw not in written:
                written.add(raw)
                print(raw)
    print(f"{len(ran)} functions ran; {len(written)} names written", file=sys.stderr)


if __name__ == "__main__":
    main()
