"""The quick test loop (`make test`) two ways, side by side: one pytest process with the default
torch threads, and two pytest-xdist workers with one thread each (what `make test` runs).

    python benchmarks/bench_test_loop.py [--repeat 1]

Prints the wall time of each and their ratio. Run it from the repository root on an otherwise
idle machine: it runs the quick loop twice per repeat (about 4 minutes each on 2 cores).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

QUICK = ["-m", "not slow and not notebook and not site", "tests", "-q", "-p", "no:cacheprovider"]
WAYS = {
    "one process, default threads": ([], {}),
    "2 xdist workers, 1 thread each": (["-n", "2", "--dist", "loadfile"], {"OMP_NUM_THREADS": "1"}),
}


def wall_time(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", *args, *QUICK], check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1", **env}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; quick loop: pytest {' '.join(QUICK[:2])!s} ...")
    times = {name: [] for name in WAYS}
    for _ in range(args.repeat):  # interleaved, so a busy spell hits both ways
        for name, (extra, env) in WAYS.items():
            times[name].append(wall_time(extra, env))
            print(f"  {name:32s} {times[name][-1]:6.0f} s", flush=True)
    serial, parallel = (min(t) for t in times.values())
    print(f"best of {args.repeat}: one process {serial:.0f} s, xdist {parallel:.0f} s, "
          f"ratio {serial / parallel:.2f}")


if __name__ == "__main__":
    main()
