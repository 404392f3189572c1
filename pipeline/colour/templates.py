"""Hue-template harmony: Matsuda's templates fitted as in Cohen-Or et al. (2006), ICAA17K Eq. 6.

F(X, (m, alpha)) = sum_p arc(H(p), nearest sector border of template m rotated by alpha) * S(p), with
pixels inside a sector contributing 0. Computed exactly up to 1-degree binning from a saturation-weighted
360-bin hue histogram; the cost of all 360 rotations of a template is one circular cross-correlation
(an FFT product), the same numbers as the matrix-vector product of notes 3.1.3.

The best fit over templates is biased toward the wide ones (T, Y, X fit almost any photo: notes 3.1.4), so
the harmony score is built per template against a null model instead: the template's *skill* is
``1 - D_m / D_m^uniform``, its mean distance relative to what it achieves on unstructured (uniformly spread)
hues, the skill-score construction of forecast verification (Murphy 1988, Mon. Weather Rev. 116:2417); the
score is the mean skill over the eight templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["TEMPLATES", "TIE_BREAK_ORDER", "TemplateFit", "hue_histogram",
           "hue_template_distances", "uniform_hue_distances_deg", "template_skills", "fit_hue_templates"]

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


@dataclass(frozen=True)
class TemplateFit:
    """Best template of an image and the distances of every template."""

    template: str                 # best template name, or "N" when the image has (almost) no saturated hue
    rotation_deg: float           # alpha of the best template
    distance_deg: float           # saturation-weighted mean arc distance D of the best template
    harmony: float                # mean template skill in 0..1 (see ``fit_hue_templates``)
    distances_deg: dict[str, float]


def _arc_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    difference = np.mod(np.abs(a - b), 360.0)
    return np.minimum(difference, 360.0 - difference)


@lru_cache(maxsize=None)
def _distance_profile(template: str) -> np.ndarray:
    """Distance of hue (bin + 0.5) from the template at rotation 0, for bins 0..359.

    The template rotated by alpha gives the same profile shifted by alpha, so this row stands for all 360
    rotations (building them all cost a 360x360 table per template, 20 ms of every worker's start-up).
    """
    hues = np.arange(360, dtype=np.float64) + 0.5
    profile = np.full(360, np.inf)
    for centre, width in TEMPLATES[template]:
        profile = np.minimum(profile, np.maximum(0.0, _arc_deg(hues, np.float64(centre)) - width / 2.0))
    return profile


@lru_cache(maxsize=None)
def _distance_spectra() -> np.ndarray:
    """Conjugate spectra of every template's distance profile at rotation 0, one row per template.

    The distance of bin ``b`` from the template rotated by alpha depends only on ``(b - alpha) mod 360``:
    the costs of all rotations are a circular cross-correlation of the hue histogram with the profile.
    """
    return np.conj(np.fft.rfft(np.stack([_distance_profile(name) for name in TEMPLATES]), axis=1))


def hue_histogram(hue_deg: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """360 one-degree bins of ``hue_deg`` weighted by ``weights`` (saturation for Cohen-Or)."""
    hue_deg = np.asarray(hue_deg).reshape(-1)
    if len(hue_deg) and not (hue_deg.min() >= 0 and hue_deg.max() < 360):  # NaN fails both tests too
        bins = np.floor(hue_deg).astype(np.int64) % 360
    else:
        bins = hue_deg.astype(np.intp)  # truncation is floor for the usual hues in [0, 360)
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


@lru_cache(maxsize=None)
def uniform_hue_distances_deg() -> dict[str, float]:
    """Template -> mean distance of uniformly spread hues to it (the same at every rotation), degrees.

    The null model of ``template_skills``: i 81.2, V 49.3, L and mirror_L 35.2, I 36.5, T 22.5, Y 21.4,
    X 10.4 (notes 3.1.4's coverage bias).

    >>> round(uniform_hue_distances_deg()["i"], 1)
    81.2
    """
    return {name: float(_distance_profile(name).mean()) for name in TEMPLATES}


def template_skills(distances_deg: dict[str, float]) -> dict[str, float]:
    """Template -> skill ``1 - D_m / D_m^uniform``, clipped to 0..1 (1: hues inside the template's sectors,
    0: no closer than unstructured hues). NaN distances give NaN skills.

    >>> round(template_skills({"i": 40.6})["i"], 3)
    0.5
    """
    null = uniform_hue_distances_deg()
    return {name: min(max(1.0 - distance / null[name], 0.0), 1.0) if distance == distance else float("nan")
            for name, distance in distances_deg.items()}


def fit_hue_templates(hue_deg: np.ndarray, saturation: np.ndarray, *, grey_mean_saturation: float = 0.10,
                      tie_tolerance_deg: float = 0.5) -> TemplateFit:
    """Fit every Matsuda template to an image's hues (Cohen-Or et al. 2006; ICAA17K Eq. 6) and score harmony.

    ``harmony`` is the mean of ``template_skills`` over the eight templates, so a template that fits any
    hue distribution (X) counts for as little as it tells: one hue scores 1, an analogous palette less
    (the narrow i no longer fits), a complementary pair less again (i, V, L, T miss one of its hues; Ou &
    Luo 2006 also find small hue differences more harmonious), and hues spread at random about 0. An image
    with no hue at all (every saturation 0) fits Cohen-Or's grey template N exactly: harmony 1. Below
    ``grey_mean_saturation`` (template "N") hues are faint, and their discord counts in proportion to the
    mean saturation: ``1 - (mean S / grey_mean_saturation) * (1 - mean skill)``, continuous at the threshold.

    Parameters
    ----------
    hue_deg, saturation
        HSV hue in degrees and saturation in 0..1 of the pixels (any matching shapes).
    grey_mean_saturation
        Below this mean saturation the image has no hue to harmonise: template "N".
    tie_tolerance_deg
        Templates within this distance of the best count as tied; the smaller coverage wins.

    Example: two equal hues 180 degrees apart fit template I exactly; templates i, V, L, T miss a hue.

    >>> fit = fit_hue_templates(np.array([0.0, 180.0]), np.array([1.0, 1.0]))
    >>> fit.template, fit.distance_deg, round(fit.harmony, 3)
    ('I', 0.0, 0.617)
    """
    saturation, hue_deg = np.asarray(saturation).reshape(-1), np.asarray(hue_deg).reshape(-1)
    if saturation.shape != hue_deg.shape:
        raise ValueError(f"hue and saturation must have the same size, got {hue_deg.shape} and {saturation.shape}")
    saturation_sum = saturation.sum()
    if not np.isfinite(saturation_sum + hue_deg.sum()):  # one pass each when clean (the usual case)
        usable = np.isfinite(saturation) & np.isfinite(hue_deg)
        saturation, hue_deg = np.where(usable, saturation, 0.0), np.where(usable, hue_deg, 0.0)
        saturation_sum = saturation.sum()
    # As ndarray.mean computes it: in the array's precision, and as a float for integer saturations.
    precision = saturation_sum.dtype.type if np.issubdtype(saturation_sum.dtype, np.floating) else float
    mean_saturation = float(precision(saturation_sum / saturation.size)) if saturation.size else 0.0
    if not mean_saturation > 0:
        return TemplateFit("N", float("nan"), float("nan"), 1.0, {name: float("nan") for name in TEMPLATES})
    fits = hue_template_distances(hue_histogram(hue_deg, saturation))
    distances = {name: d for name, (_, d) in fits.items()}
    misfit = 1.0 - float(np.mean(list(template_skills(distances).values())))
    if mean_saturation < grey_mean_saturation:
        harmony = 1.0 - misfit * mean_saturation / grey_mean_saturation
        return TemplateFit("N", float("nan"), float("nan"), harmony, distances)
    best_distance = min(distances.values())
    best = next(name for name in TIE_BREAK_ORDER if distances[name] <= best_distance + tie_tolerance_deg)
    rotation, distance = fits[best]
    return TemplateFit(best, rotation, distance, 1.0 - misfit, distances)
