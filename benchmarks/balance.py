"""Balance scales linearly: time of 1,000,000 candidates over time of 100,000 (target <= 12x).

Both pools are skewed like ICAA17K's coarse scores (most above 5), over the 30 classes, with 10% of the
photos also qualifying for a second class and 2% in duplicate groups; both runs happen in this process,
the smaller one first as the baseline. The quota grows with the pool (max(500, rows / 600) per class:
500 at 100k, 1,666 at 1M), so the larger run also selects more. Prints the times, the ratio and the peak memory of each run
(tracemalloc, numpy and pandas allocations, in a separate untimed run). Best of --repeats.

    python benchmarks/balance.py            # 100k vs 1M
    python benchmarks/balance.py --small 20000 --large 200000
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd

from icaa.pipeline.balance import balance_pool
from icaa.pipeline.categories import ICAA17K_CATEGORIES, class_score_column


def make_pool(n_rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    categories = np.asarray(ICAA17K_CATEGORIES)
    primary = rng.integers(0, len(categories), n_rows)
    frame = pd.DataFrame({"image_id": np.char.add("img", np.arange(n_rows).astype(str)),
                          "category": categories[primary],
                          "coarse_score": np.clip(rng.normal(6.5, 1.3, n_rows), 1, 10)})
    second = rng.integers(0, len(categories), n_rows)
    has_second = rng.random(n_rows) < 0.10
    for index, category in enumerate(categories):
        frame[class_score_column(category)] = np.where(has_second & (second == index), 0.8, 0.0).astype(np.float32)
    duplicate = rng.random(n_rows) < 0.02
    frame["duplicate_of"] = np.where(duplicate, frame["image_id"].to_numpy()[np.maximum(np.arange(n_rows) - 1, 0)],
                                     None)
    return frame


def timed(n_rows: int, repeats: int) -> tuple[float, float]:
    pool = make_pool(n_rows)
    per_class = max(500, n_rows // 600)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        balance_pool(pool, per_class=per_class, seed=0)
        best = min(best, time.perf_counter() - started)
    # Memory in a separate run: tracemalloc slows allocation-heavy code several times over.
    tracemalloc.start()
    balance_pool(pool, per_class=per_class, seed=0)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    small_s, small_mib = timed(args.small, args.repeats)
    large_s, large_mib = timed(args.large, args.repeats)
    print(f"balance {args.small:>9,} candidates: {small_s:7.2f} s, peak {small_mib:7.1f} MiB")
    print(f"balance {args.large:>9,} candidates: {large_s:7.2f} s, peak {large_mib:7.1f} MiB")
    print(f"time ratio {args.large // args.small}x rows: {large_s / small_s:.2f}x (target <= 12x); "
          f"memory ratio {large_mib / small_mib:.2f}x")


if __name__ == "__main__":
    main()
