#!/usr/bin/env python3
"""esreplay against SimPy, Ciw and a plain in-memory loop, on one trace.

Generates a trace (or takes --trace), exports it with `esreplay export
jsonl`, runs every model on it for each strategy, checks that every
message's response time agrees to the nanosecond with `esreplay sim
--outcomes`, and prints throughputs (median of --reps runs) and ratios.
Not part of `cargo test`; see docs/performance.md.

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install simpy ciw
    cargo build --release -p esreplay && cargo build --release -p esreplay-tests --example plain_loop
    /tmp/peers/bin/python benches/peers/run.py --reps 3

With --against DIR, another build's `sim` runs too, alternately with
this one's run by run, and its row says how much faster this build is
in the same minutes (a virtual machine's speed drifts between hours).

Rates are by CPU time (the machine may be shared): for esreplay, the
whole `esreplay sim` process (decoding the trace file included); for the
peers, the plain loop and the in-memory engine, the simulation only, over
records already in memory. Wall times are printed next to them.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release"),
                   help="directory holding esreplay and examples/plain_loop")
    p.add_argument("--work", default="/tmp/esreplay-peers", help="scratch directory")
    p.add_argument("--trace", help="an existing trace (default: generate one)")
    p.add_argument("--gen", default="steady --rate 100000 --duration 10s "
                   "--service lognormal:6us:30us --seed 1",
                   help="`esreplay gen` arguments when no --trace is given")
    p.add_argument("--cost", default="trace", help="trace or const:D (same for every model)")
    p.add_argument("--strategies", default="inline,pool:4,edf:2")
    p.add_argument("--models", default="simpy,ciw,plain,engine",
                   help="engine: esreplay's engine on messages already in memory")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--ciw-reps", type=int, default=3, help="Ciw is slow: fewer runs if need be")
    p.add_argument("--against", help="a directory with another build's esreplay: its `sim` "
                   "runs alternately with this one's (a row of its own; its JSON result must "
                   "equal this one's)")
    return p.parse_args()


def run(command, **kwargs):
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)


def esreplay_outcomes(path):
    response = {}
    with open(path) as lines:
        for line in lines:
            o = json.loads(line)
            response[o["index"]] = o["response_ns"]
    return [response[i] for i in range(len(response))]


def plain_outcomes(path):
    with open(path) as lines:
        pairs = [line.split() for line in lines]
    return [int(r) for _, r in sorted((int(i), r) for i, r in pairs)]


def disagreement(reference, response):
    """None when equal, else a sentence naming the first difference."""
    if len(reference) != len(response):
        return f"{len(response)} responses, esreplay has {len(reference)}"
    wrong = [i for i, (a, b) in enumerate(zip(reference, response)) if a != b]
    if not wrong:
        return None
    i = wrong[0]
    return f"{len(wrong)} differ; first: message {i}, esreplay {reference[i]} ns, here {response[i]} ns"


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_esreplay(a, trace, strategy, bins):
    """For each build directory in `bins`: the median (CPU s, wall s) of the
    whole `esreplay sim` process and its result; the builds run in turn,
    run by run, so that a machine whose speed drifts slows them alike."""
    times = [[] for _ in bins]
    results = [None for _ in bins]
    for _ in range(a.reps):
        for k, directory in enumerate(bins):
            command = [os.path.join(directory, "esreplay"), "sim", trace, "--strategy",
                       strategy, "--cost", a.cost, "--json"]
            start, cpu = time.perf_counter(), children_cpu()
            results[k] = json.loads(run(command).stdout)
            times[k].append((children_cpu() - cpu, time.perf_counter() - start))
    return [(sorted(t)[len(t) // 2], result) for t, result in zip(times, results)]


def measure(a, trace, jsonl, records, strategy):
    """Rows (model, messages/s, seconds, agreement) for one strategy."""
    outcomes = os.path.join(a.work, f"{strategy}.outcomes.jsonl")
    run([os.path.join(a.bin, "esreplay"), "sim", trace, "--strategy", strategy, "--cost", a.cost,
         "--json", "--outcomes", outcomes])
    reference = esreplay_outcomes(outcomes)
    timed = time_esreplay(a, trace, strategy, [a.bin] + ([a.against] if a.against else []))
    (seconds, wall), result = timed[0]
    n = result["messages"]
    rows = [("esreplay sim", n / seconds, seconds, wall, "reference")]
    for (seconds, wall), other in timed[1:]:
        # The other build may not write --outcomes: its whole result is compared.
        check = "agrees" if other == result else "its result differs"
        rows.append(("--against sim", n / seconds, seconds, wall, check))
    for model in a.models.split(","):
        if model in ("plain", "engine"):
            dump = os.path.join(a.work, f"{strategy}.{model}.txt")
            out = run([os.path.join(a.bin, "examples", "plain_loop"), trace, "--strategy",
                       strategy, "--cost", a.cost, "--reps", str(max(a.reps, 5)),
                       "--outcomes", dump, "--model", model])
            line = json.loads(out.stdout)
            name = "plain loop" if model == "plain" else "esreplay engine"
            rows.append((name, line["per_s"], line["cpu_seconds"], line["seconds"],
                         disagreement(reference, plain_outcomes(dump)) or "agrees"))
            continue
        simulate = {"simpy": models.simpy_run, "ciw": models.ciw_run}[model]
        times, response = [], None
        for _ in range(a.ciw_reps if model == "ciw" else a.reps):
            response, cpu, elapsed = simulate(records, strategy)
            times.append((cpu, elapsed))
        cpu, elapsed = sorted(times)[len(times) // 2]
        rows.append((model, len(records) / cpu, cpu, elapsed,
                     disagreement(reference, response) or "agrees"))
    return rows


def main():
    a = arguments()
    os.makedirs(a.work, exist_ok=True)
    esreplay = os.path.join(a.bin, "esreplay")
    trace = a.trace or os.path.join(a.work, "trace.estrace")
    if not a.trace:
        run([esreplay, "gen", *a.gen.split(), "-o", trace])
    jsonl = os.path.join(a.work, "trace.jsonl")
    run([esreplay, "export", "jsonl", trace, "-o", jsonl])
    const_ns = parse_const(a.cost) if a.cost.startswith("const:") else None
    records = models.load(jsonl, const_ns)
    print(f"trace {trace}: {len(records)} messages; --cost {a.cost}; medians of {a.reps} "
          f"(Ciw {a.ciw_reps}); load average {os.getloadavg()[0]:.1f}; rates by CPU time")
    print(f"{'strategy':10} {'model':16} {'msg/s':>14} {'CPU s':>9} {'wall s':>9} "
          f"{'esreplay ×':>11}  check")
    failed = False
    summary = []
    for strategy in a.strategies.split(","):
        rows = measure(a, trace, jsonl, records, strategy)
        ours = rows[0][1]
        for model, rate, seconds, wall, check in rows:
            print(f"{strategy:10} {model:16} {rate:14,.0f} {seconds:9.3f} {wall:9.3f} "
                  f"{ours / rate:11.2f}  {check}")
            failed |= check not in ("reference", "agrees")
            summary.append({"strategy": strategy, "model": model, "per_s": rate,
                            "cpu_seconds": seconds, "wall_seconds": wall,
                            "esreplay_ratio": ours / rate, "check": check})
        sys.stdout.flush()
    with open(os.path.join(a.work, "results.json"), "w") as out:
        json.dump(summary, out, indent=1)
    sys.exit(1 if failed else 0)


def parse_const(cost):
    """const:D in ns (the suffixes esreplay takes)."""
    text = cost.split(":", 1)[1]
    for suffix, scale in (("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)):
        if text.endswith(suffix):
            return round(float(text[: -len(suffix)]) * scale)
    raise SystemExit(f"--cost {cost}: const:D with ns, us, ms or s")


if __name__ == "__main__":
    main()
