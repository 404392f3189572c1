"""The subject-mixture model of ratings behind the robust MOS (:func:`icaa.annotation.mos.estimate_robust`),
fitted by EM over arrays.

Every rating s_ij of rater i on image j is a mixture of

* *genuine*: ``s_ij ~ N(a_i * psi_j + b_i, sigma_i^2)``: the P.913/P.910 subject model (bias b_i, inconsistency
  sigma_i; sureal's MLE_CO_AP2, Li & Bampis 2017) extended with a per-rater scale a_i;
* *middle*: the middle score (5 or 6, probability 1/2 each) whatever the image: the lazy, tired rater
  (ICAA17K, He et al. 2023, README: "annotators get lazy and, when tired, tend to give a middle score");
* *random*: uniform over 1..10: the spammer.

with per-rater mixing weights, the middle weight per segment of the rater's sequence (tiredness grows). Each EM
iteration computes the responsibilities of the three components, then the mixing weights, then the weighted
least-squares updates of psi, a, b and sigma.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SCORE_MIN", "SCORE_MAX", "MIDDLE_SCORES", "MixtureRatings", "MixtureFit", "fit_mixture"]

SCORE_MIN, SCORE_MAX = 1, 10
MIDDLE_SCORES = (5, 6)


@dataclass(frozen=True)
class MixtureRatings:
    """The ratings as arrays: rating ``k`` is ``score[k]`` by rater ``rater_idx[k]`` on image ``image_idx[k]``."""

    score: np.ndarray
    image_idx: np.ndarray
    rater_idx: np.ndarray
    cell: np.ndarray              # rater_idx * lazy_segments + the segment of the rater's sequence
    n_images: int
    n_raters: int
    lazy_segments: int
    rater_weight: np.ndarray      # per rater: multiplies its likelihood weight (screening verdicts)


@dataclass
class MixtureFit:
    """Parameters of the model, and the genuine responsibility of every rating from the last E step."""

    psi: np.ndarray               # per image: score on the raters' average scale
    bias: np.ndarray              # per rater: b_i
    scale: np.ndarray             # per rater: a_i (1 unless the scale is fitted)
    sigma: np.ndarray             # per rater: sigma_i
    p_middle: np.ndarray          # per rater and segment
    p_random: np.ndarray          # per rater
    r_genuine: np.ndarray | None = None


def _responsibilities(data: MixtureRatings, fit: MixtureFit,
                      like_middle: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E step: the probability that each rating is genuine, middle or random."""
    s, image_idx, rater_idx = data.score, data.image_idx, data.rater_idx
    like_random = 1.0 / (SCORE_MAX - SCORE_MIN + 1)
    pm, pr = fit.p_middle[data.cell], fit.p_random[rater_idx]
    pg = np.clip(1.0 - pm - pr, 1e-6, 1.0)
    resid = s - (fit.scale[rater_idx] * fit.psi[image_idx] + fit.bias[rater_idx])
    sd = fit.sigma[rater_idx]
    # Gaussian density at the residual, which approximates the mass of the rating's unit bin, so that it
    # compares with the discrete components
    like_g = np.exp(-0.5 * (resid / sd) ** 2) / (np.sqrt(2 * np.pi) * sd)
    joint_g = pg * like_g
    total = joint_g + pm * like_middle + pr * like_random
    return joint_g / total, pm * like_middle / total, pr * like_random / total


def _mixing_weights(data: MixtureRatings, r_m: np.ndarray, r_r: np.ndarray, *, prior_middle: float,
                    prior_random: float, prior_n: float) -> tuple[np.ndarray, np.ndarray]:
    """M step of the mixing weights: middle per rater and segment, random per rater, with pseudo-counts."""
    n_cells = data.n_raters * data.lazy_segments
    cell_n = np.bincount(data.cell, minlength=n_cells).astype(float)
    p_middle = (np.bincount(data.cell, r_m, n_cells) + prior_middle * prior_n) / (cell_n + prior_n)
    rat_n = np.bincount(data.rater_idx, minlength=data.n_raters).astype(float)
    p_random = (np.bincount(data.rater_idx, r_r, data.n_raters) + prior_random * prior_n) / (rat_n + prior_n)
    return p_middle, p_random


def _subject_parameters(data: MixtureRatings, fit: MixtureFit, r_g: np.ndarray, median: np.ndarray, *,
                        fit_scale: bool, shrink_bias: bool, sigma_prior_n: float,
                        min_sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """M step of the subject model: weighted least squares for psi, then a, b, sigma per rater.

    Returns the new psi, scale, bias and sigma.
    """
    s, image_idx, rater_idx, n_img, n_rat = data.score, data.image_idx, data.rater_idx, data.n_images, data.n_raters
    scale, sigma = fit.scale, fit.sigma
    w = r_g * data.rater_weight[rater_idx] / sigma[rater_idx] ** 2
    a = scale[rater_idx]
    num = np.bincount(image_idx, w * a * (s - fit.bias[rater_idx]), n_img)
    den = np.bincount(image_idx, w * a * a, n_img)
    new_psi = np.where(den > 1e-9, num / np.maximum(den, 1e-12), median)
    x = new_psi[image_idx]
    rw = r_g
    sw = np.bincount(rater_idx, rw, n_rat) + 1e-9
    mx = np.bincount(rater_idx, rw * x, n_rat) / sw
    my = np.bincount(rater_idx, rw * s, n_rat) / sw
    if fit_scale:
        cov = np.bincount(rater_idx, rw * (x - mx[rater_idx]) * (s - my[rater_idx]), n_rat)
        varx = np.bincount(rater_idx, rw * (x - mx[rater_idx]) ** 2, n_rat)
        # shrink towards 1: a scale from few genuine answers is noise
        scale = np.clip((cov + 5.0) / (varx + 5.0), 0.3, 3.0)
    bias = my - scale * mx
    if shrink_bias:
        # empirical Bayes: b_i ~ N(0, tau^2); with unbiased raters tau^2 -> 0 and the estimate -> the mean
        se2 = sigma ** 2 / sw
        tau2 = max(float(np.var(bias) - np.median(se2)), 1e-4)
        bias = bias.mean() + (bias - bias.mean()) * tau2 / (tau2 + se2)
    # identifiability: mean scale 1 and mean bias 0 over raters (psi on the raters' average scale):
    # s = a psi + b = (a / ma) (ma psi + mb) + b - (a / ma) mb
    mean_scale, mean_bias = scale.mean(), bias.mean()
    new_psi = mean_scale * new_psi + mean_bias
    scale = scale / mean_scale
    bias = bias - scale * mean_bias
    resid = s - (scale[rater_idx] * new_psi[image_idx] + bias[rater_idx])
    pooled = np.sum(rw * resid ** 2) / np.sum(rw)
    sigma = np.sqrt((np.bincount(rater_idx, rw * resid ** 2, n_rat) + pooled * sigma_prior_n)
                    / (sw + sigma_prior_n))
    return new_psi, scale, bias, np.maximum(sigma, min_sigma)


def fit_mixture(data: MixtureRatings, *, fit_scale: bool = False, max_iterations: int = 200,
                tolerance: float = 1e-6, min_sigma: float = 0.4, prior_middle: float = 0.001,
                prior_random: float = 0.001, sigma_prior_n: float = 50.0, shrink_bias: bool = False,
                mixing_prior_n: float = 20.0) -> MixtureFit:
    """EM from psi = the per-image median, no bias, unit scale and sigma, 5 % middle and random weights, until
    psi moves less than ``tolerance`` or after ``max_iterations``. Keywords as in ``estimate_robust``."""
    s, n_rat = data.score, data.n_raters
    median = pd.Series(s).groupby(data.image_idx).median().reindex(range(data.n_images)).to_numpy()
    fit = MixtureFit(psi=median.copy(), bias=np.zeros(n_rat), scale=np.ones(n_rat), sigma=np.ones(n_rat),
                     p_middle=np.full(n_rat * data.lazy_segments, 0.05), p_random=np.full(n_rat, 0.05))
    like_middle = np.where(np.isin(s, MIDDLE_SCORES), 1.0 / len(MIDDLE_SCORES), 0.0)
    for _ in range(max_iterations):
        r_g, r_m, r_r = _responsibilities(data, fit, like_middle)
        fit.r_genuine = r_g
        # Dirichlet-like pseudo-counts keep the mixing weights of a few ratings sensible.
        fit.p_middle, fit.p_random = _mixing_weights(data, r_m, r_r, prior_middle=prior_middle,
                                                     prior_random=prior_random, prior_n=mixing_prior_n)
        new_psi, fit.scale, fit.bias, fit.sigma = _subject_parameters(
            data, fit, r_g, median, fit_scale=fit_scale, shrink_bias=shrink_bias, sigma_prior_n=sigma_prior_n,
            min_sigma=min_sigma)
        change = np.nanmax(np.abs(new_psi - fit.psi))
        fit.psi = new_psi
        if change < tolerance:
            break
    return fit
