#!/bin/sh
# Runs every fuzz target for SECONDS each (default 60), seeded from the
# repository's fixtures, and prints libFuzzer's last status line per target.
#   fuzz/run.sh 1800        # 30 minutes each
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Without them, `cargo test` in fuzz/ replays the seeds and mutations of
# them on stable. Crashes land in fuzz/artifacts/<target>/; the replay test
# runs them too, so a fixed crash stays a regression test.
set -eu
seconds=${1:-60}
cd "$(dirname "$0")"
cargo +nightly run --quiet --bin write_seeds
for target in trace_reader trace_salvage jsonl_import eslogger_import; do
    log="fuzz-$target.log"
    echo "== $target ($seconds s)"
    status=0
    cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=1048576 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::peak_rss_mb' "$log" | tail -3
    if [ "$status" -ne 0 ]; then
        echo "   $target: FAILED (exit $status), see fuzz/$log and fuzz/artifacts/$target/"
    fi
done
