"""Start-up time of the command-line tools: ``icaa-data --help``, ``icaa-train --help`` and ``icaa-data
harmony-score --help`` against a bare ``python -c pass`` in the same run (target: each under 0.5 s on the
project's 2-core VM).

The tools import each stage, pandas, scipy, dask and torch only when a command that uses them runs, so
``--help`` costs little more than Python and Typer. Best of --repeats (each a new process).

    python benchmarks/startup.py
    python benchmarks/startup.py --repeats 10
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time


def best_wall_s(command: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    baseline = best_wall_s([sys.executable, "-c", "pass"], args.repeats)
    print(f"python -c pass: {baseline:.3f} s (baseline)")
    for tool, *arguments in (("icaa-data",), ("icaa-train",), ("icaa-data", "harmony-score")):
        executable = shutil.which(tool)
        if executable is None:
            sys.exit(f"{tool} is not installed in this environment (pip install -e .)")
        seconds = best_wall_s([executable, *arguments, "--help"], args.repeats)
        verdict = "ok" if seconds < 0.5 else "over the 0.5 s target"
        print(f"{' '.join([tool, *arguments])} --help: {seconds:.3f} s, {seconds / baseline:.1f}x the baseline "
              f"({verdict})")


if __name__ == "__main__":
    main()
