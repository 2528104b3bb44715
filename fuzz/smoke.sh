#!/usr/bin/env bash
# A brief coverage-guided run of every decoder fuzz target (suite 8), for CI
# or by hand: installs cargo-fuzz if it is missing, builds the targets with
# libFuzzer's instrumentation on the stable toolchain (`--sanitizer none`:
# AddressSanitizer needs a nightly toolchain, which CI machines do not have),
# then runs each target for SECONDS (default 20) from the committed seeds and
# regression inputs. A crash, a panic, an oversized allocation or a failed
# check of fuzz/src/targets.rs fails the script; libFuzzer saves the input
# under fuzz/artifacts/<target>/.
#
# Cost on a 2-core machine: installing cargo-fuzz about 2 min (once per
# machine), the instrumented release build 2.5 to 6 min, then 4 x SECONDS.
#
# Usage: fuzz/smoke.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz build --sanitizer none
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in data_file hint_file manifest catalog; do
    dirs=("$work/$target" "fuzz/corpus/$target")
    if [ -d "fuzz/regressions/$target" ]; then
        dirs+=("fuzz/regressions/$target")
    fi
    mkdir -p "$work/$target"
    echo "fuzz/smoke.sh: $target for ${seconds}s"
    log="$work/$target.log"
    if ! cargo fuzz run --sanitizer none "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 80 "$log" >&2
        echo "fuzz/smoke.sh: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(Done |stat::(number_of_executed_units|average_exec_per_sec|new_units_added))' "$log" || true
done
