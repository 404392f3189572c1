"""Evaluation metrics of colour-aesthetics scores, as the ICAA17K paper reports them.

All functions take scores on one scale (``icaa-train`` uses the 0-10 score scale: model outputs x 10) as
1-D arrays and return a Python float. SRCC and PLCC follow ``scipy.stats``; binary accuracy splits at
``threshold`` (5 on the 0-10 scale, the paper's 0.5 on its /10 scale) with ``score > threshold`` = good.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["srcc", "plcc", "binary_accuracy", "majority_accuracy", "mse", "score_metrics", "MIN_IMAGES_FOR_METRICS",
           "small_sample_warning"]

#: Below this many images a rank correlation says little (on 8 images an SRCC of 0.64 is not significant at
#: 5 %; on 2 it is always +-1), so metrics on fewer carry a warning.
MIN_IMAGES_FOR_METRICS = 30


def small_sample_warning(n: int, what: str = "these metrics") -> str | None:
    """A warning to print beside metrics measured on ``n`` images, or None when ``n`` is enough.

    >>> small_sample_warning(8)
    'only 8 images: these metrics mean little below 30 images (an SRCC on 8 images swings widely by chance)'
    """
    if n >= MIN_IMAGES_FOR_METRICS:
        return None
    return (f"only {n} images: {what} mean little below {MIN_IMAGES_FOR_METRICS} images (an SRCC on {n} images "
            "swings widely by chance)")


def _pair(predicted, target) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    target = np.asarray(target, dtype=np.float64).ravel()
    if predicted.shape != target.shape:
        raise ValueError(f"predicted and target scores differ in length: {predicted.size} vs {target.size}")
    if predicted.size == 0:
        raise ValueError("no scores to compare")
    return predicted, target


def srcc(predicted, target) -> float:
    """Spearman rank correlation; NaN if either side is constant or has fewer than 2 values."""
    predicted, target = _pair(predicted, target)
    if predicted.size < 2 or np.ptp(predicted) == 0 or np.ptp(target) == 0:
        return math.nan
    return float(stats.spearmanr(predicted, target)[0])


def plcc(predicted, target) -> float:
    """Pearson linear correlation; NaN if either side is constant or has fewer than 2 values."""
    predicted, target = _pair(predicted, target)
    if predicted.size < 2 or np.ptp(predicted) == 0 or np.ptp(target) == 0:
        return math.nan
    return float(stats.pearsonr(predicted, target)[0])


def binary_accuracy(predicted, target, threshold: float = 5.0) -> float:
    """Share of images on the same side of ``threshold`` (``> threshold`` is good) in prediction and target."""
    predicted, target = _pair(predicted, target)
    return float(np.mean((predicted > threshold) == (target > threshold)))


def majority_accuracy(target, threshold: float = 5.0) -> float:
    """Accuracy of always answering the majority class of ``target`` (0.926 on ICAA17K's test rows)."""
    target = np.asarray(target, dtype=np.float64).ravel()
    if target.size == 0:
        raise ValueError("no scores to compare")
    good = float(np.mean(target > threshold))
    return max(good, 1.0 - good)


def mse(predicted, target) -> float:
    """Mean squared error."""
    predicted, target = _pair(predicted, target)
    return float(np.mean((predicted - target) ** 2))


def score_metrics(predicted, target, threshold: float = 5.0) -> dict[str, float]:
    """``{srcc, plcc, accuracy, majority_accuracy, mse, n}`` of one score.

    Example
    -------
    >>> m = score_metrics([2.0, 6.0, 7.0, 9.0], [3.0, 4.0, 8.0, 9.5])
    >>> m["srcc"], m["accuracy"], m["majority_accuracy"]
    (1.0, 0.75, 0.5)
    """
    predicted, target = _pair(predicted, target)
    return {
        "srcc": srcc(predicted, target),
        "plcc": plcc(predicted, target),
        "accuracy": binary_accuracy(predicted, target, threshold),
        "majority_accuracy": majority_accuracy(target, threshold),
        "mse": mse(predicted, target),
        "n": int(predicted.size),
    }
