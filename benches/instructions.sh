#!/bin/bash
# Instructions per message of whole `esreplay sim` runs, counted by
# callgrind: the same on a loaded or an idle machine, so two builds can be
# compared while other work runs (wall-clock figures need a quiet machine:
# benches/figures.py, benches/peers/run.py). Not part of `cargo test`; see
# docs/performance.md.
#
#   benches/instructions.sh target/release/esreplay [WORKDIR]
#
# With --separate-threads, the trace reader's thread (decoding ahead) and
# the engine's thread are also counted apart: on two free cores the wall
# time follows the larger of the two.
set -euo pipefail
BIN=$1
WORK=${2:-/tmp/esreplay-instructions}
mkdir -p "$WORK"
gen() { # name, gen arguments...
  local name=$1; shift
  [ -e "$WORK/$name.estrace" ] || "$BIN" gen "$@" --seed 1 -o "$WORK/$name.estrace" 2>/dev/null
}
# 200 166 messages with paths; the same without; 179 939 from 64 threads.
gen m02 steady --rate 100000 --duration 2s --service lognormal:6us:30us
gen o02 steady --rate 100000 --duration 2s --no-paths
gen t02 thread-flood --threads 64 --rate 100000 --duration 200ms
messages() { "$BIN" inspect "$WORK/$1.estrace" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["messages"])'; }
count() { # trace, sim arguments...
  local trace=$1; shift
  local n out total engine
  n=$(messages "$trace")
  out=$(mktemp -d)
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg" \
    "$BIN" sim "$WORK/$trace.estrace" "$@" >/dev/null 2>"$out/log"
  total=$(sed -n 's/.*Collected : //p' "$out/log")
  # The main thread (part 1) runs the engine; the others read ahead.
  engine=$(sed -n "s/^summary: //p" "$out/cg-01")
  printf "| %s | %s | %d | %d |\n" "$trace" "$*" $((total / n)) $((engine / n))
  rm -r "$out"
}
echo "| trace | sim arguments | instructions per message | of them on the engine's thread |"
echo "| --- | --- | --- | --- |"
count m02 --strategy inline --cost const:500ns
count m02 --strategy pool:8 --cost const:500ns
count m02 --strategy edf:8 --cost const:500ns
count m02 --strategy guard:1s:pool:4 --cost const:500ns
# The peers' load (benches/peers: recorded service times, the handler
# 76 % busy inline): fewer messages run alone.
count m02 --strategy inline --cost trace
count m02 --strategy pool:4 --cost trace
count m02 --strategy edf:2 --cost trace
count o02 --strategy inline --cost const:5ms
count o02 --strategy edf:2 --cost const:5ms
count o02 --strategy guard:1s:edf:2 --cost const:5ms
count t02 --strategy inline --cost const:500ns
count t02 --strategy pool:8 --cost const:500ns
