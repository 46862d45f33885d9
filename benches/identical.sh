#!/bin/bash
# Writes what a build predicts for a fixed set of traces and options into
# OUTDIR, so that two builds can be compared byte for byte:
#
#   benches/identical.sh OLD/target/release/esreplay /tmp/old
#   benches/identical.sh target/release/esreplay /tmp/new
#   diff -r /tmp/old /tmp/new && echo identical
#
# The samples in traces/samples, plus generated mixed, burst and 64-thread
# thread-flood traces (made with BIN, kept in OUTDIR/traces), through
# `compare` under hand-off, transport, response latency, both overheads,
# a kernel queue (also for the handler's line), --cores 2, the miss modes, --guard-timer dispatch and
# relative guards, `sim --outcomes` (every message's outcome) and
# `sweep` (both headrooms, with the bound's shortcuts and without).
# Not part of `cargo test`; see docs/performance.md.
set -euo pipefail
BIN=$1
OUT=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SAMPLES=$ROOT/traces/samples
mkdir -p "$OUT/traces"
T=$OUT/traces
"$BIN" gen mixed --rate 20000 --duration 2s --seed 3 -o "$T/mixed.estrace" 2>/dev/null
"$BIN" gen burst --rate 20000 --duration 3s --seed 4 -o "$T/burst.estrace" 2>/dev/null
"$BIN" gen thread-flood --threads 64 --rate 20000 --duration 1s --seed 5 -o "$T/tf64.estrace" 2>/dev/null
FOUR=inline,pool:4,edf:2,guard:500ms:pool:4
"$BIN" compare "$SAMPLES/flood.estrace" --strategies $FOUR --json > "$OUT/flood4.json"
"$BIN" compare "$SAMPLES/thread-flood.estrace" --strategies $FOUR --json > "$OUT/tflood4.json"
for f in "$SAMPLES/flood.estrace" "$SAMPLES/thread-flood.estrace" "$T/mixed.estrace" "$T/burst.estrace" "$T/tf64.estrace"; do
  n=$(basename "$f" .estrace)
  "$BIN" compare "$f" --strategies $FOUR,guard:20%:1ms:5ms:edf:2 --json > "$OUT/$n.json"
  "$BIN" compare "$f" --strategies $FOUR --miss-mode fail-open --kernel-queue 8 --handoff 1us \
    --transport 2us --response-latency 3us --json > "$OUT/$n.q.json"
  "$BIN" compare "$f" --strategies $FOUR --cores 2 --json > "$OUT/$n.c.json"
  "$BIN" compare "$f" --strategies inline,pool:4,edf:2,guard:2ms:edf:2 --replay open --cost const:200us \
    --handoff 1us --handler-overhead 2us --worker-overhead 3us --json > "$OUT/$n.o.json"
  "$BIN" compare "$f" --strategies pool:2,guard:1ms:edf:2 --guard-timer dispatch --miss-mode fail-closed \
    --cost lognormal:50us:2ms --json > "$OUT/$n.g.json"
  # The handler's line, against a kernel queue, in open replay.
  "$BIN" sim "$f" --strategy inline --replay open --kernel-queue 8 --handler-overhead 5us \
    --response-latency 3us --cost exp:30us --outcomes "$OUT/$n.line.outcomes" --json > "$OUT/$n.line.sim.json"
  for s in inline pool:3 guard:1ms:edf:2; do
    "$BIN" sim "$f" --strategy $s --cost lognormal:50us:2ms --outcomes "$OUT/$n.$s.outcomes" --json > "$OUT/$n.$s.sim.json"
  done
  "$BIN" sweep "$f" --strategy pool:4 --json > "$OUT/$n.sweep.json"
  "$BIN" sweep "$f" --strategy edf:2 --handler-overhead 2us --cost const:300us --json > "$OUT/$n.sweep-o.json"
done
