#!/usr/bin/env python3
"""The figures of docs/performance.md: scaling, overload, compare, sweep.

Each figure is the median of --reps runs of an `esreplay` command under
`/usr/bin/time -f "%e %M %U %S"` (wall seconds, peak RSS KiB, user and
system CPU seconds). Traces are generated into --work on first use.
Not part of `cargo test`: run by hand, on a quiet machine if you can.

    cargo build --release -p esreplay
    python3 benches/figures.py scale overload compare sweep --reps 3
    python3 benches/figures.py compare sweep --bin /tmp/base/target/release  # another build
    python3 benches/figures.py scale overload --against /tmp/base/target/release

With --against, `scale` and `overload` also run that build on every row,
alternating with this one run by run, and print the wall-clock speed-up
of this build over it: a figure that holds across hours on a machine
whose speed drifts (a virtual machine), where the rates alone do not.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRACES = {
    "1M": "steady --rate 100000 --duration 10s",
    "10M": "steady --rate 100000 --duration 100s",
    "1M-no-paths": "steady --rate 100000 --duration 10s --no-paths",
    "10M-no-paths": "steady --rate 100000 --duration 100s --no-paths",
    # Thread ids in every message: closed replay, like real recordings.
    "10M-threads": "thread-flood --threads 64 --rate 100000 --duration 11s",
}
EIGHT = "inline,pool:2,pool:4,pool:8,edf:2,edf:8,guard:1s:pool:4,guard:1s:edf:2"


def arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sections", nargs="+", choices=["scale", "overload", "compare", "sweep"])
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    p.add_argument("--work", default="/tmp/esreplay-figures")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--against", help="a directory with another build's esreplay, run "
                   "alternately with this one (scale, overload)")
    return p.parse_args()


class Runner:
    def __init__(self, a):
        self.a = a
        self.esreplay = os.path.join(a.bin, "esreplay")
        os.makedirs(a.work, exist_ok=True)

    def trace(self, name):
        path = os.path.join(self.a.work, f"{name}.estrace")
        if not os.path.exists(path):
            subprocess.run([self.esreplay, "gen", *TRACES[name].split(), "-o", path],
                           check=True, capture_output=True)
        return path

    def timed(self, *args, esreplay=None):
        """(wall s, RSS KiB, CPU s, stdout) of one run."""
        with tempfile.NamedTemporaryFile("r") as times:
            out = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", "-o", times.name,
                                  esreplay or self.esreplay, *args], check=True,
                                 capture_output=True, text=True)
            wall, rss, user, system = times.read().split()[-4:]
        return float(wall), int(rss), float(user) + float(system), out.stdout

    def median(self, *args):
        """Median wall, RSS and CPU over --reps runs, and the last stdout."""
        return medians([self.timed(*args) for _ in range(self.a.reps)])

    def paired(self, *args):
        """The median of this build's runs, and the speed-up by wall over
        --against's build run alternately with it (None without it)."""
        if not self.a.against:
            return self.median(*args), None
        base = os.path.join(self.a.against, "esreplay")
        ours, theirs = [], []
        for _ in range(self.a.reps):
            theirs.append(self.timed(*args, esreplay=base))
            ours.append(self.timed(*args))
        ours, theirs = medians(ours), medians(theirs)
        return ours, theirs[0] / ours[0]


def medians(runs):
    """Median wall, RSS and CPU of (wall, RSS, CPU, stdout) runs, and the last stdout."""
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            statistics.median(r[2] for r in runs), runs[-1][3])


def speedup(ratio):
    return "" if ratio is None else f" {ratio:.2f}× |"


def scale(r):
    print("## scaling: sim --cost const:500ns | trace | strategy | wall | CPU | M/s by wall "
          "| M/s by CPU | RSS |" + (" speed-up over --against |" if r.a.against else ""))
    for name in ["1M", "10M", "1M-no-paths", "10M-no-paths", "10M-threads"]:
        trace = r.trace(name)
        for strategy in ["inline", "pool:8", "edf:8"]:
            (wall, rss, cpu, out), ratio = r.paired("sim", trace, "--strategy", strategy,
                                                    "--cost", "const:500ns", "--json")
            n = json.loads(out)["messages"]
            print(f"| {name} | {strategy} | {wall:.2f} s | {cpu:.2f} s | {n / wall / 1e6:.1f} M/s "
                  f"| {n / cpu / 1e6:.1f} M/s | {rss / 1024:.0f} MiB |{speedup(ratio)}",
                  flush=True)


def overload(r):
    print("## overload: 10M-no-paths, sim --cost const:5ms | strategy | wall | CPU | M/s by wall "
          "| M/s by CPU | RSS | max backlog | RSS per queued message |"
          + (" speed-up over --against |" if r.a.against else ""))
    trace = r.trace("10M-no-paths")
    for strategy in ["inline", "pool:2", "edf:2", "guard:1s:edf:2"]:
        (wall, rss, cpu, out), ratio = r.paired("sim", trace, "--strategy", strategy,
                                                "--cost", "const:5ms", "--json")
        result = json.loads(out)
        backlog = result["max_backlog"]
        per = rss * 1024 / backlog
        n = result["messages"]
        print(f"| {strategy} | {wall:.2f} s | {cpu:.2f} s | {n / wall / 1e6:.2f} M/s "
              f"| {n / cpu / 1e6:.2f} M/s | "
              f"{rss / 1024:.0f} MiB | {backlog} | {per:.1f} B |{speedup(ratio)}", flush=True)


def compare(r):
    print(f"## compare vs eight sims: --strategies {EIGHT} --cost const:500ns")
    for name in ["10M"]:
        trace = r.trace(name)
        cost = ["--cost", "const:500ns"]
        wall, rss, cpu, _ = r.median("compare", trace, "--strategies", EIGHT, *cost)
        singles = [r.median("sim", trace, "--strategy", s, *cost) for s in EIGHT.split(",")]
        single_cpu = sum(s[2] for s in singles)
        single_wall = sum(s[0] for s in singles)
        print(f"| {name} | compare {wall:.2f} s wall, {cpu:.2f} s CPU, {rss / 1024:.0f} MiB | "
              f"eight sims {single_wall:.2f} s wall, {single_cpu:.2f} s CPU | "
              f"CPU ratio {cpu / single_cpu:.2f} |", flush=True)


def sweep(r):
    print("## sweep vs one sim: --strategy pool:8 --cost const:500ns")
    for name in ["10M"]:
        trace = r.trace(name)
        cost = ["--cost", "const:500ns"]
        wall, rss, cpu, out = r.median("sweep", trace, "--strategy", "pool:8", *cost, "--json")
        one, _, _, _ = r.median("sim", trace, "--strategy", "pool:8", *cost)
        print(f"| {name} | sweep {wall:.2f} s wall, {cpu:.2f} s CPU, {rss / 1024:.0f} MiB | "
              f"sim {one:.2f} s | ratio {wall / one:.1f} | {out.strip()} |", flush=True)


def main():
    a = arguments()
    r = Runner(a)
    print(f"esreplay {r.esreplay}; medians of {a.reps}; load average {os.getloadavg()[0]:.1f}")
    for section in a.sections:
        {"scale": scale, "overload": overload, "compare": compare, "sweep": sweep}[section](r)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
