"""Hue-template harmony: Matsuda's templates fitted as in Cohen-Or et al. (2006), ICAA17K Eq. 6.

F(X, (m, alpha)) = sum_p arc(H(p), nearest sector border of template m rotated by alpha) * S(p), with
pixels inside a sector contributing 0. Computed exactly up to 1-degree binning from a saturation-weighted
360-bin hue histogram; the cost of all 360 rotations of a template is one circular cross-correlation
(an FFT product), the same numbers as the matrix-vector product of notes 3.1.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["TEMPLATES", "TIE_BREAK_ORDER", "MAX_BEST_DISTANCE_DEG", "TemplateFit", "hue_histogram",
           "hue_template_distances", "fit_hue_templates"]

#: Template -> sectors as (centre offset from alpha, width), degrees. Widths 18, 93.6, 79.2, 180 deg
#: (= 5, 26, 22, 50 % of the wheel), the reading shared by tartarskunk/ColorHarmonization, AIM and others.
TEMPLATES: dict[str, tuple[tuple[float, float], ...]] = {
    "i": ((0.0, 18.0),),
    "V": ((0.0, 93.6),),
    "L": ((0.0, 18.0), (90.0, 79.2)),
    "mirror_L": ((0.0, 18.0), (-90.0, 79.2)),
    "I": ((0.0, 18.0), (180.0, 18.0)),
    "T": ((0.0, 180.0),),
    "Y": ((0.0, 93.6), (180.0, 18.0)),
    "X": ((0.0, 93.6), (180.0, 93.6)),
}
#: Near-ties (< 0.5 deg) go to the template of smaller coverage, in this order (notes 3.1.4).
TIE_BREAK_ORDER = ("i", "I", "V", "L", "mirror_L", "Y", "T", "X")
#: With X's best rotation no hue is further than 43.2 deg from a sector, so the best distance never exceeds it.
MAX_BEST_DISTANCE_DEG = 43.2


@dataclass(frozen=True)
class TemplateFit:
    """Best template of an image and the distances of every template."""

    template: str                 # best template name, or "N" when the image has (almost) no saturated hue
    rotation_deg: float           # alpha of the best template
    distance_deg: float           # saturation-weighted mean arc distance D of the best template
    score: float                  # 1 - D / 43.2, in 0..1; NaN for "N"
    distances_deg: dict[str, float]


def _arc_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    difference = np.mod(np.abs(a - b), 360.0)
    return np.minimum(difference, 360.0 - difference)


@lru_cache(maxsize=None)
def _distance_table(template: str) -> np.ndarray:
    """D[alpha, bin]: distance of hue (bin + 0.5) from template rotated by alpha (both 0..359)."""
    alphas = np.arange(360, dtype=np.float64)[:, None]
    hues = np.arange(360, dtype=np.float64)[None, :] + 0.5
    table = np.full((360, 360), np.inf)
    for centre, width in TEMPLATES[template]:
        table = np.minimum(table, np.maximum(0.0, _arc_deg(hues, alphas + centre) - width / 2.0))
    return table


@lru_cache(maxsize=None)
def _distance_spectra() -> np.ndarray:
    """Conjugate spectra of every template's distance profile at rotation 0, one row per template.

    ``_distance_table(m)[alpha, bin]`` depends only on ``(bin - alpha) mod 360``: the costs of all
    rotations are a circular cross-correlation of the hue histogram with the row at alpha = 0.
    """
    return np.conj(np.fft.rfft(np.stack([_distance_table(name)[0] for name in TEMPLATES]), axis=1))


def hue_histogram(hue_deg: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """360 one-degree bins of ``hue_deg`` weighted by ``weights`` (saturation for Cohen-Or)."""
    hue_deg = np.asarray(hue_deg).reshape(-1)
    bins = np.floor(hue_deg).astype(np.int64) % 360
    return np.bincount(bins, weights=np.asarray(weights).reshape(-1), minlength=360)[:360]


def hue_template_distances(histogram: np.ndarray) -> dict[str, tuple[float, float]]:
    """Template -> (best rotation in degrees, weighted mean distance in degrees) of a hue histogram."""
    histogram = np.asarray(histogram, dtype=np.float64)
    if histogram.shape != (360,):
        raise ValueError(f"expected a 360-bin hue histogram, got shape {histogram.shape}")
    total = histogram.sum()
    if not total > 0:
        return {name: (0.0, float("nan")) for name in TEMPLATES}
    costs = np.fft.irfft(_distance_spectra() * np.fft.rfft(histogram / total), n=360, axis=1)
    # Rounding removes the FFT's ~1e-13 noise, so rotations of equal cost tie exactly (first one wins).
    costs = np.maximum(np.round(costs, 9), 0.0)
    alphas = costs.argmin(axis=1)
    return {name: (float(alpha), float(cost[alpha])) for name, alpha, cost in zip(TEMPLATES, alphas, costs)}


def fit_hue_templates(hue_deg: np.ndarray, saturation: np.ndarray, *, grey_mean_saturation: float = 0.10,
                      tie_tolerance_deg: float = 0.5) -> TemplateFit:
    """Fit every Matsuda template to an image's hues (Cohen-Or et al. 2006; ICAA17K Eq. 6).

    Parameters
    ----------
    hue_deg, saturation
        HSV hue in degrees and saturation in 0..1 of the pixels (any matching shapes).
    grey_mean_saturation
        Below this mean saturation the image has no hue to harmonise: template "N", score NaN.
    tie_tolerance_deg
        Templates within this distance of the best count as tied; the smaller coverage wins.

    Example: two equal hues 180 degrees apart fit template I exactly.

    >>> fit = fit_hue_templates(np.array([0.0, 180.0]), np.array([1.0, 1.0]))
    >>> fit.template, fit.distance_deg, fit.score
    ('I', 0.0, 1.0)
    """
    saturation, hue_deg = np.asarray(saturation).reshape(-1), np.asarray(hue_deg).reshape(-1)
    if saturation.shape != hue_deg.shape:
        raise ValueError(f"hue and saturation must have the same size, got {hue_deg.shape} and {saturation.shape}")
    if not np.isfinite(saturation.sum() + hue_deg.sum()):  # one pass each when clean (the usual case)
        usable = np.isfinite(saturation) & np.isfinite(hue_deg)
        saturation, hue_deg = np.where(usable, saturation, 0.0), np.where(usable, hue_deg, 0.0)
    if saturation.size == 0 or saturation.mean() < grey_mean_saturation:
        return TemplateFit("N", float("nan"), float("nan"), float("nan"), {name: float("nan") for name in TEMPLATES})
    fits = hue_template_distances(hue_histogram(hue_deg, saturation))
    best_distance = min(distance for _, distance in fits.values())
    best = next(name for name in TIE_BREAK_ORDER if fits[name][1] <= best_distance + tie_tolerance_deg)
    rotation, distance = fits[best]
    score = 1.0 - min(distance / MAX_BEST_DISTANCE_DEG, 1.0)
    return TemplateFit(best, rotation, distance, score, {name: d for name, (_, d) in fits.items()})
