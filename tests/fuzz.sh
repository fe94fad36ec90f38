#!/usr/bin/env bash
# Fuzzing stage of CI: builds every cargo-fuzz target (fuzz/) on the pinned stable toolchain
# without a sanitizer (`-s none`: AddressSanitizer needs nightly, and the code under test has
# no unsafe) and runs each for FUZZ_SECONDS (60), FUZZ_JOBS (2) targets at a time; libFuzzer
# is single-threaded, so two runs use the two cores of a CI machine. Fails on any crash
# (panic, failed assertion), timeout (one input running over FUZZ_TIMEOUT seconds) or
# out-of-memory (RSS over 2 GiB: without LeakSanitizer, the way a leak shows); prints the
# runs, exec/s and corpus size of each target.
#
# Seeds: the real kubelet payloads in tests/fixtures for the decoders, fuzz/seeds/<target>
# for every target. The working corpus and any crash input live in a temporary directory,
# so the checkout stays clean; it is kept (and named) when something failed.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
per_input_timeout=${FUZZ_TIMEOUT:-20}

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
cargo --version
host=$(rustc -vV | sed -n 's/^host: //p')

# The lock file is committed: refuse to build with different dependencies than it names
# (`cargo fuzz build` has no --locked, and would update it silently).
cargo fetch --locked --manifest-path fuzz/Cargo.toml --target "$host" ||
  { echo "error: fuzz/Cargo.lock is stale; run: cargo update --manifest-path fuzz/Cargo.toml --workspace" >&2; exit 1; }
(cd fuzz && cargo fuzz build -s none)
bin_dir=fuzz/target/$host/release
mapfile -t targets < <(cd fuzz && cargo fuzz list)

work=$(mktemp -d "${TMPDIR:-/tmp}/metrics-server-fuzz.XXXXXX")

# The seed directories of one target (libFuzzer only reads seeds from directories).
seed_dirs() {
  local target=$1 fixtures="$work/fixtures/$target"
  case $target in
    decode_resource) mkdir -p "$fixtures" && cp tests/fixtures/*.prom "$fixtures"/ ;;
    decode_summary) mkdir -p "$fixtures" && cp tests/fixtures/*.json "$fixtures"/ ;;
  esac
  [ -d "$fixtures" ] && echo "$fixtures"
  [ -d "fuzz/seeds/$target" ] && echo "fuzz/seeds/$target"
  return 0
}

# Runs one target; libFuzzer's output goes to $work/<target>.log, its status is returned.
run_target() {
  local target=$1
  local corpus="$work/corpus/$target" artifacts="$work/artifacts/$target/"
  mkdir -p "$corpus" "$artifacts"
  local seeds
  mapfile -t seeds < <(seed_dirs "$target")
  # The outer timeout only guards against libFuzzer itself hanging.
  timeout -k 10 $((seconds + 300)) "$bin_dir/$target" "$corpus" "${seeds[@]}" \
    -max_total_time="$seconds" -timeout="$per_input_timeout" -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" -print_final_stats=1 >"$work/$target.log" 2>&1
}

# One line per target: runs, exec/s, corpus size; the failure's input and stack when it failed.
report() {
  local target=$1 status=$2 log="$work/$1.log"
  local runs rate corpus
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  corpus=$(find "$work/corpus/$target" -type f | wc -l)
  printf '%-22s runs %10s   exec/s %7s   corpus %6s   %s\n' \
    "$target" "${runs:-?}" "${rate:-?}" "$corpus" "$([ "$status" = 0 ] && echo ok || echo "FAILED (exit $status)")"
  if [ "$status" != 0 ]; then
    grep -E -A40 '^(thread .* panicked|==[0-9]+== ERROR|ERROR: libFuzzer)' "$log" | head -60 >&2 || tail -40 "$log" >&2
    for input in "$work/artifacts/$target"/*; do
      [ -f "$input" ] || continue
      echo "input $input:" >&2
      od -A x -t x1z -v "$input" | head -32 >&2
    done
  fi
}

echo "Fuzzing ${#targets[@]} targets for ${seconds} s each, ${jobs} at a time (work dir $work)"
failed=0
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  batch=("${targets[@]:i:jobs}")
  pids=()
  for target in "${batch[@]}"; do
    run_target "$target" &
    pids+=($!)
  done
  for j in "${!batch[@]}"; do
    status=0
    wait "${pids[j]}" || status=$?
    report "${batch[j]}" "$status"
    [ "$status" = 0 ] || failed=1
  done
done

if [ "$failed" != 0 ]; then
  echo "error: fuzzing found a problem; logs, corpus and inputs in $work" >&2
  exit 1
fi
rm -rf "$work"
