#!/usr/bin/env bash
# The long chaos run (tests/chaos.rs): hostile writes into the live state of
# every kind of object while worker processes use it and are SIGKILLed.
# Each kind runs SECONDS seconds (default 120), one kind at a time, in
# release mode; prints each kind's summary line and a total.
#
# Usage: scripts/chaos.sh [SECONDS]     (or SHMKIT_CHAOS_SECS=SECONDS)
set -uo pipefail
cd "$(dirname "$0")/.."

export SHMKIT_CHAOS_SECS="${1:-${SHMKIT_CHAOS_SECS:-120}}"
log=$(mktemp)
start=$SECONDS
cargo test --release --test chaos -- --test-threads=1 --nocapture 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

printf '\n=== chaos summary (%s s per kind, %d s in all)\n' "$SHMKIT_CHAOS_SECS" "$((SECONDS - start))"
grep -E '^chaos [a-z-]+: [0-9.]+ s,' "$log"
awk '/^chaos [a-z-]+: [0-9.]+ s,/ {
        s += $3; w += $5; k += $7; ok += $9; e += $12
    }
    END { printf "total: %.1f min, %d writes, %d kills, %d calls ok, %d failed as errors\n", s / 60, w, k, ok, e }' "$log"
rm -f "$log"
if [ "$rc" -ne 0 ]; then
    echo "chaos run FAILED (exit $rc)"
    exit "$rc"
fi
echo "chaos run passed: no panic, no crash, no hang"
