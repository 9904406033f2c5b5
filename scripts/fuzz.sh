#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 60); fails on the first crash.
#
# Why a script: fuzzing that only runs by hand stops running. This one works on stable Rust
# (cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 allows them) and without sanitizer runtimes
# (`-s none`: the targets are safe Rust, and their properties are asserted, so a broken one
# panics and libFuzzer reports it as a crash). It installs cargo-fuzz when it is missing
# (about four minutes, once per machine).
#
# Each target starts from its committed seeds in fuzz/corpus/<target>/ and grows a working
# corpus under fuzz/target/corpus/<target>/ (ignored by git), so repeated runs go deeper without
# dirtying the tree. A crash leaves its input in fuzz/artifacts/<target>/: add it to the
# committed corpus once the defect is fixed.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Environment:
#   FUZZ_NICE   niceness of the fuzzing processes (default 10: builds of others come first)
set -euo pipefail

SECONDS_EACH="${1:-60}"
shift || true
[[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || {
    echo "fuzz: SECONDS must be a whole number, not '$SECONDS_EACH'" >&2
    exit 64
}
NICE="${FUZZ_NICE:-10}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT/fuzz"

log() { echo "fuzz: $*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

log "building ${targets[*]}"
nice -n "$NICE" cargo fuzz build -s none

# Input size caps. The signers and the mock's parser hash and percent-encode their whole input
# several times per run, so libFuzzer's default (4 KiB) lets them grow inputs until a run costs
# milliseconds (signing_v2 fell to 0.3 k exec/s). Canonicalisation is per byte and per pair: what
# 256 bytes (a dozen parameters) cannot show, 4 KiB would not either, and the cap keeps these
# targets near their short-input speed. The parsers keep libFuzzer's default, because their size
# limits (16 KiB bodies, 4 KiB metadata, 255-byte job_ids) are what they check.
max_len_of() {
    case "$1" in
        signing_v2 | signing_v3) echo 256 ;;
        mock_request) echo 512 ;;
        *) echo 4096 ;;
    esac
}

failed=()
for target in "${targets[@]}"; do
    work="target/corpus/$target"
    mkdir -p "$work" "corpus/$target"
    log "$target for ${SECONDS_EACH}s"
    # The working corpus first: libFuzzer adds what it finds to the first directory.
    if nice -n "$NICE" cargo fuzz run -s none "$target" "$work" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -max_len="$(max_len_of "$target")" -print_final_stats=1 2>"target/$target.log"; then
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^#[0-9]+.*DONE' \
            "target/$target.log" | sed "s/^/fuzz: $target: /" || true
    else
        tail -n 40 "target/$target.log" >&2
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    log "CRASHED: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
log "no crash in ${targets[*]}"
