"""Photo-grouped, stratified train/val/test splits: the one place both ``build`` and ``resplit`` split.

ICAA17K files the same photo under several categories (3,289 of its 12,010 photos), and its released
split puts 749 of 1,617 test rows beside a copy of the same photo in train. A split is leak-free only
when every row of a photo, and of every exact or near duplicate of it, lies on one side. Rows are
joined into photo groups by :func:`icaa.pipeline.photos.photo_groups` (the one grouping: scan's
``photo_key``, or file name and sha256 for a table without it). Groups are then ordered by stratum
(class and score bin) and drawn systematically, so each stratum gives each split its share of rows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from icaa.common.errors import IcaaError
from icaa.pipeline.photos import photo_groups

__all__ = ["SPLITS", "photo_groups", "score_bins", "grouped_split", "leaked_rows", "assert_no_leak",
           "check_fractions"]

#: Split names, in the order they are drawn (test first, then val, the rest train).
SPLITS: tuple[str, ...] = ("train", "val", "test")


def score_bins(scores: np.ndarray | pd.Series, n_bins: int = 10, low: float = 1.0, high: float = 10.0) -> np.ndarray:
    """Equal-width bin index ``0..n_bins-1`` of scores over ``[low, high]``; values outside are clipped.

    Examples
    --------
    >>> score_bins(np.array([1.0, 1.8, 5.5, 10.0]), 10).tolist()
    [0, 0, 5, 9]
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    values = np.asarray(scores, dtype=np.float64)
    width = (high - low) / n_bins
    index = np.floor((values - low) / width)
    index = np.where(np.isfinite(index), index, 0)
    return np.clip(index, 0, n_bins - 1).astype(np.int64)


def check_fractions(train_fraction: float, val_fraction: float, test_fraction: float) -> None:
    """IcaaError unless the three fractions are in [0, 1] and sum to 1."""
    fractions = {"train_fraction": train_fraction, "val_fraction": val_fraction, "test_fraction": test_fraction}
    bad = {k: v for k, v in fractions.items() if not 0.0 <= v <= 1.0}
    if bad or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise IcaaError(f"split fractions must lie in [0, 1] and sum to 1, got {fractions}")


def _draw(order_rows: np.ndarray, fraction: float, phase: float) -> np.ndarray:
    """Systematic draw along an ordered list of groups: a group is drawn when its weight crosses a multiple of
    ``1 / fraction``, so every stretch of the order (every stratum) gives up its share."""
    if fraction <= 0:
        return np.zeros(len(order_rows), dtype=bool)
    end = np.cumsum(order_rows, dtype=np.float64)
    start = end - order_rows
    return np.floor(end * fraction + phase) > np.floor(start * fraction + phase)


def grouped_split(groups: np.ndarray, strata: pd.Series | np.ndarray | None = None, *,
                  train_fraction: float = 0.8, val_fraction: float = 0.1, test_fraction: float = 0.1,
                  seed: int = 0) -> np.ndarray:
    """Assign each row to ``train``/``val``/``test`` so that all rows of a group go to one split.

    Parameters
    ----------
    groups
        Photo group id per row (from :func:`photo_groups`).
    strata
        Stratum label per row (e.g. ``"category|bin"``); a group takes the stratum of its first row.
    train_fraction, val_fraction, test_fraction
        Shares (they sum to 1) of photo groups, and so in expectation of rows.
    seed
        Seed of the random order of groups within each stratum.

    Returns
    -------
    numpy.ndarray
        object array of split names, one per row.
    """
    check_fractions(train_fraction, val_fraction, test_fraction)
    groups = np.asarray(groups)
    n_rows = len(groups)
    if n_rows == 0:
        return np.array([], dtype=object)
    strata_values = (np.zeros(n_rows, dtype=np.int64) if strata is None
                     else pd.factorize(pd.Series(strata).reset_index(drop=True).astype(str), sort=True)[0])
    frame = pd.DataFrame({"group": groups, "stratum": strata_values})
    per_group = frame.groupby("group", sort=True).agg(stratum=("stratum", "first"), rows=("stratum", "size"))
    rng = np.random.default_rng(seed)
    per_group["random"] = rng.random(len(per_group))
    ordered = per_group.sort_values(["stratum", "random"], kind="mergesort")
    # Draw groups, not rows: a group is drawn with probability = fraction whatever its size, so the expected
    # share of rows is the fraction too (a row-weighted draw would over-draw photos filed many times).
    rows = np.ones(len(ordered), dtype=np.int64)
    split = np.full(len(ordered), "train", dtype=object)
    is_test = _draw(rows, test_fraction, rng.random())
    split[is_test] = "test"
    remaining = ~is_test
    if val_fraction > 0 and remaining.any():
        share = val_fraction / max(train_fraction + val_fraction, 1e-12)
        is_val = _draw(rows[remaining], share, rng.random())
        split[np.flatnonzero(remaining)[is_val]] = "val"
    group_split = pd.Series(split, index=ordered.index)
    return group_split.reindex(groups).to_numpy()


def leaked_rows(groups: np.ndarray, split: np.ndarray, *, of: str = "test", against: Sequence[str] = ("train",)
                ) -> np.ndarray:
    """Boolean mask of ``of`` rows whose photo group also has a row in any split of ``against``."""
    groups = np.asarray(groups)
    split = np.asarray(split)
    seen = np.unique(groups[np.isin(split, list(against))])
    return (split == of) & np.isin(groups, seen)


def assert_no_leak(groups: np.ndarray, split: np.ndarray, ids: Sequence[str] | None = None) -> None:
    """IcaaError naming the photos that lie in more than one split (the build's leak check)."""
    frame = pd.DataFrame({"group": np.asarray(groups), "split": np.asarray(split)})
    spread = frame.groupby("group")["split"].nunique()
    leaking = spread[spread > 1].index
    if len(leaking):
        rows = np.flatnonzero(frame["group"].isin(leaking).to_numpy())
        names = [str(ids[i]) for i in rows[:5]] if ids is not None else [str(i) for i in rows[:5]]
        raise IcaaError(f"{len(leaking)} photo(s) lie in more than one split ({len(rows)} rows), e.g. "
                        f"{', '.join(names)}; the split must group every copy of a photo on one side")
