"""Rater simulation: how close each MOS estimator gets to the true scores.

Designs (``icaa.annotation.simulate``): dense lab-like study (400 images, 60 raters x 360 images, 65 % honest
with noise SD 1, 10 % biased by +-1.5, 20 % lazy with a growing middle-score probability, 5 % spammers), the same
with honest raters only, and a sparse crowd design (about 18 ratings per image) with an oracle that drops every
bad rater (biased, lazy, spammer) and averages the honest ones. Prints SRCC and RMSE against the truth and the RMSE ratio to the plain mean.

Targets: dense ratio <= 0.5; honest-only ratio <= 1.02.

Usage: python benchmarks/raters.py [--seeds 3] [--sureal]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from icaa.annotation.mos import compute_mos, estimate_mean, estimate_sureal, screen_bt500
from icaa.annotation.simulate import DENSE, DENSE_HONEST, SPARSE, simulate_ratings


def _scores(truth: pd.Series, estimate: pd.Series) -> tuple[float, float]:
    estimate = estimate.reindex(truth.index)
    return (float(stats.spearmanr(truth, estimate).statistic),
            float(np.sqrt(np.mean((truth.to_numpy() - estimate.to_numpy()) ** 2))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sureal", action="store_true", help="also run sureal MLE_CO_AP2 (slower import)")
    args = parser.parse_args()
    print(f"{'design':<8} {'estimator':<22} {'SRCC':>6} {'RMSE':>6} {'ratio':>6} {'s':>5}   (mean over "
          f"{args.seeds} seeds)")
    for name, design in (("dense", DENSE), ("honest", DENSE_HONEST), ("sparse", SPARSE)):
        rows: dict[str, list[tuple[float, float, float]]] = {}
        for seed in range(args.seeds):
            ratings, truth, kinds = simulate_ratings(design, seed=seed)
            estimators = {
                "plain mean": lambda: estimate_mean(ratings)["score"],
                "BT.500 + mean": lambda: estimate_mean(
                    ratings, weights=(~screen_bt500(ratings)).astype(float))["score"],
                "ours (robust, screens)": lambda: compute_mos(ratings)[0].set_index("image_id")["color"],
            }
            if args.sureal:
                estimators["sureal MLE_CO_AP2"] = lambda: estimate_sureal(ratings)["score"]
            if name == "sparse":
                honest = ratings[ratings["rater"].map(kinds) == "honest"]
                estimators["oracle (bad dropped)"] = lambda: estimate_mean(honest)["score"]
            for label, run in estimators.items():
                started = time.perf_counter()
                srcc, rmse = _scores(truth, run())
                rows.setdefault(label, []).append((srcc, rmse, time.perf_counter() - started))
        base_rmse = np.mean([r[1] for r in rows["plain mean"]])
        for label, values in rows.items():
            srcc, rmse, seconds = np.mean(values, axis=0)
            print(f"{name:<8} {label:<22} {srcc:6.3f} {rmse:6.3f} {rmse / base_rmse:6.3f} {seconds:5.2f}")
    print("targets: dense 'ours' ratio <= 0.5; honest 'ours' ratio <= 1.02")


if __name__ == "__main__":
    main()
