"""MOS from ratings: rater screening (BT.500 for partial designs, lazy-rater detection, confidence filter) and
estimators (plain mean, a robust subject-mixture model, sureal's MLE_CO_AP2).

The robust estimator (``estimate_robust``, fitted by :mod:`icaa.annotation.mixture`) models every rating s_ij of
rater i on image j as a mixture of

* *genuine*: ``s_ij ~ N(a_i * psi_j + b_i, sigma_i^2)``: the P.913/P.910 subject model (bias b_i, inconsistency
  sigma_i; sureal's MLE_CO_AP2, Li & Bampis 2017) extended with a per-rater scale a_i;
* *middle*: the middle score (5 or 6, probability 1/2 each) whatever the image: the lazy, tired rater
  (ICAA17K, He et al. 2023, README: "annotators get lazy and, when tired, tend to give a middle score");
* *random*: uniform over 1..10: the spammer.

with per-rater mixing weights, the lazy weight varying over the rater's sequence (tiredness grows). EM alternates
responsibilities and the weighted least-squares updates of psi, a, b, sigma. Ratings are therefore down-weighted one
by one (the middle answers of a lazy rater, everything of a spammer) instead of dropping raters, which the
simulation showed to be worse (``../shared/notes/ecosystem.md`` 3.4).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from icaa.annotation.mixture import MIDDLE_SCORES, SCORE_MAX, MixtureFit, MixtureRatings, fit_mixture
from icaa.pipeline.rejects import reasons_of

__all__ = [
    "ESTIMATORS", "SCREENS", "SCREEN_REASONS",
    "rater_statistics", "screen_bt500", "screen_lazy", "estimate_mean", "estimate_robust", "estimate_sureal",
    "compute_mos",
]

ESTIMATORS = ("robust", "mean", "sureal_mle_co_ap2")
SCREENS = ("bt500", "lazy")
#: Closed set of rater verdict reasons written to raters.parquet (from the registry of reasons).
SCREEN_REASONS: dict[str, str] = reasons_of("mos")


def _codes(ratings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index, pd.Index]:
    images = pd.Index(sorted(ratings["image_id"].unique()), name="image_id")
    raters = pd.Index(sorted(ratings["rater"].astype(str).unique()), name="rater")
    return (images.get_indexer(ratings["image_id"]), raters.get_indexer(ratings["rater"].astype(str)),
            images, raters)


def rater_statistics(ratings: pd.DataFrame, score: str = "color") -> pd.DataFrame:
    """Per rater: ``n_ratings``, ``middle_share``, ``score_std``, ``loo_srcc``, ``median_lead_time_s``.

    ``loo_srcc`` is the Spearman correlation of the rater's scores with the mean of the *other* raters on the same
    images (leave-one-out consensus).
    """
    image_idx, rater_idx, images, raters = _codes(ratings)
    values = ratings[score].to_numpy(float)
    sums = np.bincount(image_idx, values, len(images))
    counts = np.bincount(image_idx, minlength=len(images)).astype(float)
    others = counts[image_idx] - 1
    loo = np.where(others > 0, (sums[image_idx] - values) / np.maximum(others, 1), np.nan)
    rows = []
    lead = ratings["lead_time"].to_numpy(float) if "lead_time" in ratings else np.full(len(values), np.nan)
    for r, name in enumerate(raters):
        mask = rater_idx == r
        v, c = values[mask], loo[mask]
        ok = ~np.isnan(c)
        srcc = (stats.spearmanr(v[ok], c[ok]).statistic
                if ok.sum() >= 3 and np.ptp(v[ok]) > 0 and np.ptp(c[ok]) > 0 else 0.0)
        rows.append({"rater": name, "n_ratings": int(mask.sum()),
                     "middle_share": float(np.isin(v, MIDDLE_SCORES).mean()),
                     "score_std": float(v.std()), "loo_srcc": float(srcc),
                     "median_lead_time_s": float(np.nanmedian(lead[mask])) if np.isfinite(lead[mask]).any()
                     else float("nan")})
    return pd.DataFrame(rows).set_index("rater")


def screen_bt500(ratings: pd.DataFrame, score: str = "color") -> pd.Series:
    """ITU-R BT.500 Annex 2 subject rejection, for partial designs: True where rater i is rejected.

    For each image: mean, standard deviation (ddof 0) and Pearson kurtosis of its scores; a score counts in P_i
    (above) or Q_i (below) when outside mean +- 2 sd (kurtosis in [2, 4]) or +- sqrt(20) sd. Rater i is rejected
    when (P_i + Q_i) / N_i > 0.05 and |P_i - Q_i| / (P_i + Q_i) < 0.3, with N_i the number of images **rater i
    rated** (sureal divides by all images, which understates the share in partial designs). If every rater would
    be rejected, none is.
    """
    image_idx, rater_idx, images, raters = _codes(ratings)
    values = ratings[score].to_numpy(float)
    frame = pd.DataFrame({"image": image_idx, "value": values})
    grouped = frame.groupby("image")["value"]
    mean = grouped.mean().reindex(range(len(images))).to_numpy()
    std = grouped.std(ddof=0).reindex(range(len(images))).to_numpy()
    kurt = grouped.apply(lambda v: stats.kurtosis(v, fisher=False) if len(v) > 3 and v.std() > 0 else 3.0)
    kurt = kurt.reindex(range(len(images))).fillna(3.0).to_numpy()
    width = np.where((kurt >= 2) & (kurt <= 4), 2.0, np.sqrt(20.0)) * std
    above = (values >= mean[image_idx] + width[image_idx]) & (std[image_idx] > 0)
    below = (values <= mean[image_idx] - width[image_idx]) & (std[image_idx] > 0)
    p = np.bincount(rater_idx, above, len(raters))
    q = np.bincount(rater_idx, below, len(raters))
    n = np.bincount(rater_idx, minlength=len(raters))
    with np.errstate(invalid="ignore", divide="ignore"):
        rejected = ((p + q) / n > 0.05) & (np.abs(p - q) / (p + q) < 0.3)
    if rejected.all():
        rejected[:] = False
    return pd.Series(rejected, index=raters, name="bt500")


def screen_lazy(statistics: pd.DataFrame, *, lazy_max_middle_share: float = 0.6, lazy_min_std: float = 1.0,
                lazy_min_loo_srcc: float = 0.5, lazy_min_median_lead_time_s: float = 2.0,
                min_ratings_per_rater: int = 10) -> pd.Series:
    """Lazy-rater verdict per rater: the first reason code that applies (``SCREEN_REASONS``), or ``""``."""
    reasons = []
    for _, row in statistics.iterrows():
        if row["n_ratings"] < min_ratings_per_rater:
            reasons.append("")
        elif row["middle_share"] > lazy_max_middle_share:
            reasons.append("lazy_middle_share")
        elif row["loo_srcc"] < lazy_min_loo_srcc:
            reasons.append("lazy_low_loo_srcc")
        elif row["score_std"] < lazy_min_std:
            reasons.append("lazy_low_std")
        elif np.isfinite(row["median_lead_time_s"]) and row["median_lead_time_s"] < lazy_min_median_lead_time_s:
            reasons.append("lazy_short_lead_time")
        else:
            reasons.append("")
    return pd.Series(reasons, index=statistics.index, name="lazy")


def estimate_mean(ratings: pd.DataFrame, score: str = "color", weights: pd.Series | None = None) -> pd.DataFrame:
    """Per image: the (rater-weighted) mean, its sd, standard error and 95 % interval; ``n_raters`` with weight > 0."""
    image_idx, rater_idx, images, raters = _codes(ratings)
    values = ratings[score].to_numpy(float)
    w = np.ones(len(values)) if weights is None else weights.reindex(raters).fillna(1.0).to_numpy()[rater_idx]
    return _summarise(values, w, image_idx, images, values)


def _summarise(values, w, image_idx, images, corrected) -> pd.DataFrame:
    n_img = len(images)
    wsum = np.bincount(image_idx, w, n_img)
    mean = np.bincount(image_idx, w * corrected, n_img) / np.where(wsum > 0, wsum, np.nan)
    var = np.bincount(image_idx, w * (corrected - mean[image_idx]) ** 2, n_img) / np.where(wsum > 0, wsum, np.nan)
    n_eff = wsum ** 2 / np.maximum(np.bincount(image_idx, w ** 2, n_img), 1e-12)
    n_kept = np.bincount(image_idx, w > 0, n_img)
    se = np.sqrt(var / np.maximum(n_eff, 1))
    return pd.DataFrame({"score": mean, "sd": np.sqrt(var), "se": se, "n_raters": n_kept.astype(int)},
                        index=images)


def estimate_robust(ratings: pd.DataFrame, score: str = "color", *, rater_weights: pd.Series | None = None,
                    fit_scale: bool = False, lazy_segments: int = 1, max_iterations: int = 200,
                    tolerance: float = 1e-6, min_sigma: float = 0.4, prior_middle: float = 0.001,
                    prior_random: float = 0.001, sigma_prior_n: float = 50.0, shrink_bias: bool = False,
                    mixing_prior_n: float = 20.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Robust subject-mixture MOS (module docstring). Returns (per image, per rater).

    Per image: ``score`` (psi_j, on the raters' average scale), ``sd`` (weighted sd of the bias-corrected
    genuine ratings), ``se`` (from the Fisher information sum_i r_ij a_i^2 / sigma_i^2), ``n_raters`` (raters with
    a genuine weight above 0.5). Per rater: ``bias``, ``scale``, ``sigma``, ``p_genuine``, ``p_middle``,
    ``p_random`` (mixing weights, the middle one averaged over the sequence), ``weight``.
    ``rater_weights`` multiplies each rater's likelihood weight (screening verdicts), ``lazy_segments`` the number
    of equal parts of a rater's sequence (ordered by ``order`` or ``created_at`` when present) with their own
    middle-answer probability. ``prior_middle``/``prior_random`` are the prior mixing weights (``mixing_prior_n`` pseudo-ratings),
    ``sigma_prior_n`` the pseudo-ratings pulling each sigma_i towards the pooled sigma (with only honest raters
    the estimator then stays within 1 % of the plain mean's RMSE). ``shrink_bias`` shrinks each bias towards
    the mean by empirical Bayes (b_i ~ N(0, tau^2), tau^2 from the spread of the raw biases less their noise).
    """
    image_idx, rater_idx, images, raters = _codes(ratings)
    s = ratings[score].to_numpy(float)
    n_img, n_rat = len(images), len(raters)
    prior_w = (np.ones(n_rat) if rater_weights is None
               else rater_weights.reindex(raters).fillna(1.0).to_numpy(float))
    data = MixtureRatings(score=s, image_idx=image_idx, rater_idx=rater_idx,
                          cell=_sequence_cells(ratings, rater_idx, n_rat, lazy_segments), n_images=n_img,
                          n_raters=n_rat, lazy_segments=lazy_segments, rater_weight=prior_w)
    fit = fit_mixture(data, fit_scale=fit_scale, max_iterations=max_iterations, tolerance=tolerance,
                      min_sigma=min_sigma, prior_middle=prior_middle, prior_random=prior_random,
                      sigma_prior_n=sigma_prior_n, shrink_bias=shrink_bias, mixing_prior_n=mixing_prior_n)
    return _robust_per_image(data, fit, images), _robust_per_rater(data, fit, raters)


def _sequence_cells(ratings: pd.DataFrame, rater_idx: np.ndarray, n_rat: int, lazy_segments: int) -> np.ndarray:
    """``rater * lazy_segments + segment`` of every rating: its rater's sequence (by ``order`` or ``created_at``
    when present, else row order) cut into ``lazy_segments`` equal parts."""
    order_col = next((c for c in ("order", "created_at") if c in ratings.columns), None)
    if order_col is not None:
        rank = ratings.groupby(rater_idx)[order_col].rank(method="first").to_numpy() - 1
    else:
        rank = ratings.groupby(rater_idx).cumcount().to_numpy()
    size = np.bincount(rater_idx, minlength=n_rat)[rater_idx]
    segment = np.minimum((rank * lazy_segments / np.maximum(size, 1)).astype(int), lazy_segments - 1)
    return rater_idx * lazy_segments + segment


def _robust_per_image(data: MixtureRatings, fit: MixtureFit, images: pd.Index) -> pd.DataFrame:
    """``score`` psi, ``sd`` of the bias-corrected genuine ratings, ``se`` from the Fisher information,
    ``n_raters`` with genuine weight above 0.5."""
    s, image_idx, rater_idx, prior_w = data.score, data.image_idx, data.rater_idx, data.rater_weight
    r_g, scale, sigma = fit.r_genuine, fit.scale, fit.sigma
    w = r_g * prior_w[rater_idx] * scale[rater_idx] ** 2 / sigma[rater_idx] ** 2
    corrected = (s - fit.bias[rater_idx]) / scale[rater_idx]
    summary = _summarise(s, r_g * prior_w[rater_idx], image_idx, images, corrected)
    info = np.bincount(image_idx, w, data.n_images)
    summary["score"] = fit.psi
    summary["se"] = 1.0 / np.sqrt(np.maximum(info, 1e-12))
    summary["n_raters"] = np.bincount(image_idx, (r_g > 0.5) & (prior_w[rater_idx] > 0), data.n_images).astype(int)
    return summary


def _robust_per_rater(data: MixtureRatings, fit: MixtureFit, raters: pd.Index) -> pd.DataFrame:
    """``bias``, ``scale``, ``sigma``, the mixing weights (middle averaged over the sequence), ``weight``."""
    per_rater = pd.DataFrame({
        "bias": fit.bias, "scale": fit.scale, "sigma": fit.sigma,
        "p_middle": fit.p_middle.reshape(data.n_raters, data.lazy_segments).mean(axis=1), "p_random": fit.p_random,
        "weight": data.rater_weight,
    }, index=raters)
    per_rater["p_genuine"] = 1.0 - per_rater["p_middle"] - per_rater["p_random"]
    return per_rater


def estimate_sureal(ratings: pd.DataFrame, score: str = "color",
                    rater_weights: pd.Series | None = None) -> pd.DataFrame:
    """sureal's MLE_CO_AP2 (Li & Bampis 2017, P.910 alternating projection) on the raters with weight > 0."""
    try:
        from sureal.dataset_reader import RawDatasetReader
        from sureal.subjective_model import \
            MaximumLikelihoodEstimationModelContentObliviousAlternativeProjection2 as MleCoAp2
    except ImportError as error:  # pragma: no cover - sureal is in the annotate extra
        from icaa.common.errors import IcaaError
        raise IcaaError("--method sureal_mle_co_ap2 needs sureal: pip install 'icaa[annotate]'") from error
    import types
    if rater_weights is not None:
        keep = rater_weights.reindex(ratings["rater"].astype(str)).fillna(1.0).to_numpy() > 0
        ratings = ratings[keep]
    ids = sorted(ratings["image_id"].unique())
    idx = {a: k for k, a in enumerate(ids)}
    dataset = types.SimpleNamespace(ref_score=float(SCORE_MAX))
    dataset.ref_videos = [{"content_id": k, "content_name": a, "path": a} for a, k in idx.items()]
    dataset.dis_videos = sorted(({"content_id": idx[a], "asset_id": idx[a], "path": a,
                                  "os": dict(zip(g["rater"].astype(str), g[score].astype(float)))}
                                 for a, g in ratings.groupby("image_id")), key=lambda d: d["asset_id"])
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = MleCoAp2(RawDatasetReader(dataset)).run_modeling()
    counts = ratings.groupby("image_id").size().reindex(ids)
    sd = ratings.groupby("image_id")[score].std(ddof=0).reindex(ids)
    return pd.DataFrame({"score": result["quality_scores"], "sd": sd.to_numpy(),
                         "se": result["quality_scores_std"], "n_raters": counts.to_numpy().astype(int)},
                        index=pd.Index(ids, name="image_id"))


def compute_mos(ratings: pd.DataFrame, *, method: str = "robust", screens: tuple[str, ...] = ("bt500", "lazy"),
                flagged_weight: float = 0.7, min_mean_confidence: float = 0.5,
                lazy_max_middle_share: float = 0.6, lazy_min_std: float = 1.0, lazy_min_loo_srcc: float = 0.5,
                lazy_min_median_lead_time_s: float = 2.0, min_ratings_per_rater: int = 10,
                fit_scale: bool = False, lazy_segments: int = 1,
                min_ratings_for_spread: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Screen raters and estimate per-image MOS for colour (``color``) and overall (``MOS``) aesthetics.

    ``ratings`` needs ``image_id, rater, color, overall, confidence`` (``lead_time``, ``created_at`` used when
    present). Screens (``SCREENS``) flag raters with a reason (``SCREEN_REASONS``); a flagged rater's ratings get
    weight ``flagged_weight`` (0 drops them, 1 only reports). ``method`` is one of ``ESTIMATORS``. The paper's
    confidence filter: ``probability`` = mean confidence, ``confidence_ok`` = probability >= min_mean_confidence
    (ICAA17K kept images with mean confidence above 0.5); no row is dropped. An image with fewer than
    ``min_ratings_for_spread`` ratings gets NaN SDs and intervals: one rating has no spread, and two give an SD
    and an interval too unstable to print as if they meant something (the score itself is kept).

    Returns (mos per image, raters per rater, summary dict).
    """
    _check_mos_request(ratings, method=method, screens=screens, flagged_weight=flagged_weight,
                       min_ratings_for_spread=min_ratings_for_spread)
    ratings = ratings.copy()
    ratings["rater"] = ratings["rater"].astype(str)
    statistics = rater_statistics(ratings, "color")
    bt500 = screen_bt500(ratings, "color") if "bt500" in screens else pd.Series(False, index=statistics.index)
    lazy = (screen_lazy(statistics, lazy_max_middle_share=lazy_max_middle_share, lazy_min_std=lazy_min_std,
                        lazy_min_loo_srcc=lazy_min_loo_srcc,
                        lazy_min_median_lead_time_s=lazy_min_median_lead_time_s,
                        min_ratings_per_rater=min_ratings_per_rater)
            if "lazy" in screens else pd.Series("", index=statistics.index))
    reasons = _verdict_reasons(statistics, bt500, lazy, min_ratings_per_rater)
    flagged = pd.Series([r not in ("kept", "too_few_ratings") for r in reasons], index=statistics.index)
    weights = pd.Series(np.where(flagged, flagged_weight, 1.0), index=statistics.index)
    colour, overall, per_rater = _estimate_colour_and_overall(ratings, method, weights, fit_scale=fit_scale,
                                                              lazy_segments=lazy_segments)
    mos = _mos_frame(ratings, colour, overall, min_mean_confidence)
    few = mos["n_ratings"] < min_ratings_for_spread
    mos.loc[few, ["color_sd", "MOS_sd", "color_ci95_low", "color_ci95_high", "MOS_ci95_low", "MOS_ci95_high"]] = np.nan
    raters = statistics.reset_index()
    raters["bt500_rejected"] = bt500.reindex(statistics.index).to_numpy().astype(bool)
    raters["lazy_reason"] = lazy.reindex(statistics.index).to_numpy()
    raters["verdict"] = np.where(flagged.to_numpy(), "flagged", "kept")
    raters["reason"] = reasons
    raters["weight"] = weights.to_numpy()
    for name in ("bias", "scale", "sigma", "p_middle", "p_random"):
        raters[name] = (per_rater[name].reindex(statistics.index).to_numpy() if per_rater is not None
                        else np.nan)
    summary = {"images": int(len(mos)), "ratings": int(len(ratings)), "raters": int(len(raters)),
               "raters_flagged": int(flagged.sum()), "method": method, "screens": list(screens),
               "flag_reasons": {k: int(v) for k, v in pd.Series(reasons).value_counts().items()},
               "images_low_confidence": int((~mos["confidence_ok"]).sum()),
               "ratings_per_image": {"min": int(mos["n_ratings"].min()), "median": float(mos["n_ratings"].median()),
                                     "max": int(mos["n_ratings"].max())},
               "min_ratings_for_spread": int(min_ratings_for_spread),
               "images_without_spread": int(few.sum())}
    return mos, raters, summary


def _check_mos_request(ratings: pd.DataFrame, *, method: str, screens: tuple[str, ...], flagged_weight: float,
                       min_ratings_for_spread: int) -> None:
    from icaa.common.errors import IcaaError
    if method not in ESTIMATORS:
        raise IcaaError(f"unknown MOS method {method!r}; expected one of {', '.join(ESTIMATORS)}")
    unknown = [name for name in screens if name not in SCREENS]
    if unknown:
        raise IcaaError(f"unknown screen(s) {unknown}; expected any of {', '.join(SCREENS)}")
    if not 0.0 <= flagged_weight <= 1.0:
        raise IcaaError(f"flagged_weight must lie in [0, 1], got {flagged_weight}")
    if ratings.empty:
        raise IcaaError("no valid ratings to compute MOS from (the ratings table is empty)")
    if min_ratings_for_spread < 2:
        raise IcaaError(f"min_ratings_for_spread must be at least 2 (one rating has no spread), got "
                        f"{min_ratings_for_spread}")


def _verdict_reasons(statistics: pd.DataFrame, bt500: pd.Series, lazy: pd.Series,
                     min_ratings_per_rater: int) -> list[str]:
    """Per rater: the screens' reason codes joined by commas, ``too_few_ratings`` or ``kept``."""
    reasons = []
    for rater in statistics.index:
        codes = (["bt500_outlier"] if bt500.get(rater, False) else []) + ([lazy[rater]] if lazy[rater] else [])
        if not codes and statistics.loc[rater, "n_ratings"] < min_ratings_per_rater:
            codes = ["too_few_ratings"]
        reasons.append(",".join(codes) if codes else "kept")
    return reasons


def _estimate_colour_and_overall(ratings: pd.DataFrame, method: str, weights: pd.Series, *, fit_scale: bool,
                                 lazy_segments: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Per-image estimates of ``color`` and ``overall`` by ``method``; the robust fit's raters on colour."""
    results = {}
    per_rater = None
    for column in ("color", "overall"):
        if method == "mean":
            results[column] = estimate_mean(ratings, column, weights)
        elif method == "sureal_mle_co_ap2":
            results[column] = estimate_sureal(ratings, column, weights)
        else:
            results[column], fitted = estimate_robust(ratings, column, rater_weights=weights, fit_scale=fit_scale,
                                                      lazy_segments=lazy_segments)
            if column == "color":
                per_rater = fitted
    return results["color"], results["overall"], per_rater


def _mos_frame(ratings: pd.DataFrame, colour: pd.DataFrame, overall: pd.DataFrame,
               min_mean_confidence: float) -> pd.DataFrame:
    """One row per image: both scores, probability (mean confidence), SDs, 95 % intervals and counts."""
    probability = ratings.groupby("image_id")["confidence"].mean().reindex(colour.index)
    mos = pd.DataFrame({
        "image_id": colour.index.astype(str),
        "color": colour["score"].to_numpy(), "MOS": overall.reindex(colour.index)["score"].to_numpy(),
        "probability": probability.to_numpy(),
        "color_sd": colour["sd"].to_numpy(), "MOS_sd": overall.reindex(colour.index)["sd"].to_numpy(),
        "color_ci95_low": (colour["score"] - 1.96 * colour["se"]).to_numpy(),
        "color_ci95_high": (colour["score"] + 1.96 * colour["se"]).to_numpy(),
        "MOS_ci95_low": (overall["score"] - 1.96 * overall["se"]).reindex(colour.index).to_numpy(),
        "MOS_ci95_high": (overall["score"] + 1.96 * overall["se"]).reindex(colour.index).to_numpy(),
        "n_ratings": ratings.groupby("image_id").size().reindex(colour.index).to_numpy().astype(int),
        "n_raters_kept": colour["n_raters"].to_numpy().astype(int),
        "color_mean": ratings.groupby("image_id")["color"].mean().reindex(colour.index).to_numpy(),
    })
    mos["confidence_ok"] = mos["probability"] >= min_mean_confidence
    return mos
