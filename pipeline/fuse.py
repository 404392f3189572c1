"""Coarse pre-assessment scores: harmony plus popularity, ICAA17K (He et al., ICCV 2023) section 4.1.

``f_obj`` is harmony-score's ``harmony_score`` (0..1, higher is more harmonious: the Cohen-Or hue-template
fits scored against unstructured hues, :mod:`icaa.pipeline.colour.measures`) and
``f_subj = faves / sqrt(views)`` is the paper's Eq. 7 ("herd mentality"). The paper normalises both
and adds them without saying how; we normalise each within the candidate pool (default: by rank,
robust to the heavy tail of faves), take the weighted mean and map it to ``1 + 9 * mean`` so the
coarse score spans 1..10 like the final MOS. Rows whose popularity is unusable (zero views, no
popularity row, a failed crawl) are flagged and scored from harmony alone, or dropped into the
rejects table with the flag as reason (``on_missing_popularity="drop"``). A photo the crawl found
not public (status ``private``) is always rejected (reason ``not_public``): it must never be published.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icaa.pipeline.categories import CLASS_SCORE_COLUMNS
from icaa.common.errors import IcaaError
from icaa.pipeline.io import read_table, write_tables
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.rejects import FUSE_FLAGS, UNUSABLE_POPULARITY
from icaa.pipeline.schemas import COARSE, REJECTS
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = [
    "FUSE_FLAGS",
    "HARMONY_COLUMN",
    "NORMALISATIONS",
    "normalise_rank",
    "normalise_minmax",
    "normalise_zscore",
    "popularity_score",
    "fuse_scores",
    "run_fuse",
]

#: The harmony column read as f_obj.
HARMONY_COLUMN = "harmony_score"


def normalise_rank(values: np.ndarray) -> np.ndarray:
    """Average rank scaled to 0..1: ``(rank - 1) / (n - 1)``; ties share their mean rank; one value gives 0.5.

    >>> normalise_rank(np.array([3.0, 1.0, 2.0, 2.0]))
    array([1. , 0. , 0.5, 0.5])
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 1:
        return np.full(1, 0.5)
    from scipy.stats import rankdata  # here, not at import: scipy.stats costs every icaa-data call 0.5 s

    return (rankdata(values, method="average") - 1.0) / (values.size - 1.0)


def normalise_minmax(values: np.ndarray) -> np.ndarray:
    """``(x - min) / (max - min)``; a constant input gives 0.5.

    >>> normalise_minmax(np.array([1.0, 3.0, 2.0]))
    array([0. , 1. , 0.5])
    """
    values = np.asarray(values, dtype=np.float64)
    span = values.max() - values.min() if values.size else 0.0
    if span == 0:
        return np.full(values.shape, 0.5)
    return (values - values.min()) / span


def normalise_zscore(values: np.ndarray) -> np.ndarray:
    """Standard normal CDF of the z-score (population SD), so 0..1 with the mean at 0.5; constant gives 0.5.

    >>> normalise_zscore(np.array([1.0, 3.0])).round(4)
    array([0.1587, 0.8413])
    """
    values = np.asarray(values, dtype=np.float64)
    std = values.std() if values.size else 0.0
    if std == 0:
        return np.full(values.shape, 0.5)
    from scipy.special import ndtr

    return ndtr((values - values.mean()) / std)


NORMALISATIONS = {"rank": normalise_rank, "minmax": normalise_minmax, "zscore": normalise_zscore}


def popularity_score(faves: np.ndarray, views: np.ndarray) -> np.ndarray:
    """ICAA17K Eq. 7: ``faves / sqrt(views)``; NaN where views <= 0 or a count is missing.

    >>> popularity_score(np.array([10.0, 5.0]), np.array([400.0, 0.0]))
    array([0.5, nan])
    """
    faves = np.asarray(faves, dtype=np.float64)
    views = np.asarray(views, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(views > 0, faves / np.sqrt(np.where(views > 0, views, 1.0)), np.nan)


def _duplicates(frame: pd.DataFrame, name: str) -> None:
    duplicated = frame["image_id"][frame["image_id"].duplicated()]
    if len(duplicated):
        raise IcaaError(f"{name}: {len(duplicated)} image_id(s) appear twice, e.g. "
                        f"{', '.join(map(str, duplicated.head(3)))}; give each image one row")


def _popularity_flags(status: np.ndarray, present: np.ndarray, f_subj: np.ndarray) -> np.ndarray:
    """One flag per row from the popularity status: what the crawl did for the image."""
    flags = np.full(len(status), "ok", dtype=object)
    status_text = np.array([s if isinstance(s, str) else "" for s in status], dtype=object)
    flags[~present | (status_text == "not_listed")] = "no_popularity"
    flags[present & (status_text == "error:no_photo_id")] = "no_photo_id"
    flags[present & (status_text == "not_found")] = "photo_not_found"
    flags[present & (status_text == "private")] = "not_public"
    other_error = present & (status_text != "ok") & (flags == "ok")
    flags[other_error] = "crawl_failed"
    flags[(flags == "ok") & np.isnan(f_subj)] = "zero_views"
    return flags


def _check_options(normalisation: str, on_missing_popularity: str, weight_obj: float, weight_subj: float) -> None:
    if normalisation not in NORMALISATIONS:
        raise IcaaError(f"normalisation must be one of {', '.join(NORMALISATIONS)}; got {normalisation!r}")
    if on_missing_popularity not in ("harmony", "drop"):
        raise IcaaError(f"on_missing_popularity must be harmony or drop; got {on_missing_popularity!r}")
    if weight_obj < 0 or weight_subj < 0 or weight_obj + weight_subj <= 0:
        raise IcaaError(f"weights must be >= 0 and not both 0; got weight_obj={weight_obj}, weight_subj={weight_subj}")


def _popularity_or_empty(popularity: pd.DataFrame | None, on_missing_popularity: str) -> tuple[pd.DataFrame, bool]:
    """The popularity table, or an empty one when none is given; and whether none was (harmony only)."""
    if popularity is not None:
        return popularity, False
    if on_missing_popularity == "drop":
        raise IcaaError("on_missing_popularity=drop needs a popularity table: without one every image would "
                        "be dropped; give the table or use harmony")
    return pd.DataFrame({"image_id": pd.Series(dtype=str), "views": pd.Series(dtype=float),
                         "faves": pd.Series(dtype=float), "status": pd.Series(dtype=str)}), True


def _checked_harmony(colour: pd.DataFrame, popularity: pd.DataFrame) -> np.ndarray:
    """Check both tables' columns and ids; return the colour table's harmony (NaN where missing, else 0..1)."""
    for name, frame, needed in (("colour table (harmony-score's colour.parquet)", colour, ("image_id", HARMONY_COLUMN)),
                                ("popularity table (crawl's popularity.parquet)", popularity,
                                 ("image_id", "views", "faves", "status"))):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise IcaaError(f"{name}: missing column(s) {', '.join(missing)}; found "
                            f"{', '.join(map(str, frame.columns))}")
        _duplicates(frame, name)
    harmony = pd.to_numeric(colour[HARMONY_COLUMN], errors="coerce").to_numpy(dtype=np.float64)
    bad = colour["image_id"][(harmony < 0) | (harmony > 1)]
    if len(bad):
        raise IcaaError(f"colour table: {HARMONY_COLUMN} must lie in 0..1; {len(bad)} row(s) outside, e.g. "
                        f"{', '.join(map(str, bad.head(3)))}")
    return harmony


@dataclass
class _Popularity:
    """The popularity of each row of the colour table (matched on ``image_id``)."""

    ids: pd.Series                # the colour table's image ids, as text
    listed: pd.Index              # every image id of the popularity table
    present: np.ndarray           # the image has a popularity row
    status: np.ndarray            # its crawl status (NaN without a row)
    f_subj: np.ndarray            # Eq. 7; NaN where the flag is not ok
    flags: np.ndarray             # FUSE_FLAGS code per row


def _match_popularity(colour: pd.DataFrame, popularity: pd.DataFrame, harmony: np.ndarray,
                      harmony_only: bool) -> _Popularity:
    pop = popularity.set_index(popularity["image_id"].astype(str))
    ids = colour["image_id"].astype(str)
    present = ids.isin(pop.index).to_numpy()
    matched = pop.reindex(ids)
    views = pd.to_numeric(matched["views"], errors="coerce").to_numpy(dtype=np.float64)
    faves = pd.to_numeric(matched["faves"], errors="coerce").to_numpy(dtype=np.float64)
    status = matched["status"].astype(object).to_numpy()
    f_subj = popularity_score(faves, views)
    flags = _popularity_flags(status, present, f_subj)
    if harmony_only:
        flags[:] = "harmony_only"
    f_subj[flags != "ok"] = np.nan
    flags[np.isnan(harmony)] = "no_harmony"
    return _Popularity(ids=ids, listed=pop.index, present=present, status=status, f_subj=f_subj, flags=flags)


def _kept_and_rejects(harmony: np.ndarray, popularity: _Popularity, on_missing_popularity: str,
                      harmony_only: bool) -> tuple[np.ndarray, pd.DataFrame]:
    """Which rows are scored, and the rejects table (``image_id, reason, detail``) of the others."""
    flags, f_subj, status = popularity.flags, popularity.f_subj, popularity.status
    keep = np.ones(len(harmony), dtype=bool)
    if on_missing_popularity == "drop":
        keep &= ~np.isin(flags, UNUSABLE_POPULARITY)
    keep &= ~(np.isnan(harmony) & np.isnan(f_subj))  # nothing to score from
    not_public = popularity.present & (status == "private")
    keep &= ~not_public
    rejects = pd.DataFrame({
        "image_id": popularity.ids[~keep].to_numpy(),
        "reason": np.where(not_public[~keep], "not_public",
                           np.where(np.isnan(harmony[~keep]), "unscorable", flags[~keep])),
        "detail": [("no harmony score and " if np.isnan(h) else "")
                   + ("no popularity table was given" if harmony_only
                      else f"popularity status {st}" if isinstance(st, str) else "no popularity row")
                   for h, st in zip(harmony[~keep], status[~keep])],
    })
    return keep, rejects


def _combine(harmony: np.ndarray, f_subj: np.ndarray, keep: np.ndarray, normalisation: str, weight_obj: float,
             weight_subj: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise harmony and popularity over the kept rows and take their weighted mean (or the one there is).

    Returns f_obj_norm, f_subj_norm, the combined 0..1 score and ``scored_from`` per row.
    """
    normalise = NORMALISATIONS[normalisation]
    f_obj_norm = np.full(len(harmony), np.nan)
    f_subj_norm = np.full(len(harmony), np.nan)
    has_obj = keep & ~np.isnan(harmony)
    has_subj = keep & ~np.isnan(f_subj)
    if has_obj.any():
        f_obj_norm[has_obj] = normalise(harmony[has_obj])
    if has_subj.any():
        f_subj_norm[has_subj] = normalise(f_subj[has_subj])
    both = has_obj & has_subj
    combined = np.where(both, (weight_obj * np.nan_to_num(f_obj_norm) + weight_subj * np.nan_to_num(f_subj_norm))
                        / (weight_obj + weight_subj), np.where(has_obj, f_obj_norm, f_subj_norm))
    scored_from = np.where(both, "both", np.where(has_obj, "harmony", "popularity"))
    return f_obj_norm, f_subj_norm, combined, scored_from


def _summary(colour: pd.DataFrame, coarse: pd.DataFrame, rejects: pd.DataFrame, popularity: _Popularity,
             normalisation: str, weight_obj: float, weight_subj: float) -> dict[str, Any]:
    return {
        "images": len(colour), "scored": len(coarse), "rejected": len(rejects),
        "flags": dict(Counter(popularity.flags.tolist()).most_common()),
        "scored_from": dict(Counter(coarse["scored_from"]).most_common()),
        "rejects_by_reason": dict(Counter(rejects["reason"]).most_common()),
        "popularity_rows_without_colour": int((~popularity.listed.isin(popularity.ids)).sum()),
        "normalisation": normalisation, "weights": {"obj": weight_obj, "subj": weight_subj},
        "coarse_score": dict(zip(("min", "q1", "median", "q3", "max"), (
            round(float(q), 2) for q in np.percentile(coarse["coarse_score"], [0, 25, 50, 75, 100])))) if len(coarse)
        else {},
    }


def fuse_scores(colour: pd.DataFrame, popularity: pd.DataFrame | None, *, normalisation: str = "rank",
                weight_obj: float = 0.5, weight_subj: float = 0.5, on_missing_popularity: str = "harmony"
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Coarse scores for every image of ``colour``.

    Parameters
    ----------
    colour
        harmony-score's table: ``image_id``, ``harmony_score`` (0..1), ``category``, the
        ``class_score_*`` columns and ``photo_key`` (carried over; derived from file names when absent).
    popularity
        crawl's table: ``image_id``, ``views``, ``faves``, ``status``; ``None`` scores every image from harmony
        alone (flag ``harmony_only``), as for a folder of one's own photos.
    normalisation
        ``rank`` (default), ``minmax`` or ``zscore`` (see :data:`NORMALISATIONS`).
    weight_obj, weight_subj
        Weights of normalised harmony and popularity (non-negative, not both zero).
    on_missing_popularity
        ``harmony``: score such rows from harmony alone; ``drop``: move them to the rejects.

    Returns
    -------
    coarse, rejects, summary
        ``coarse`` has the ``COARSE`` schema's columns; ``rejects`` has ``image_id, reason, detail``.
    """
    _check_options(normalisation, on_missing_popularity, weight_obj, weight_subj)
    popularity, harmony_only = _popularity_or_empty(popularity, on_missing_popularity)
    harmony = _checked_harmony(colour, popularity)
    matched = _match_popularity(colour, popularity, harmony, harmony_only)
    keep, rejects = _kept_and_rejects(harmony, matched, on_missing_popularity, harmony_only)
    f_obj_norm, f_subj_norm, combined, scored_from = _combine(harmony, matched.f_subj, keep, normalisation,
                                                              weight_obj, weight_subj)
    coarse = pd.DataFrame({"image_id": matched.ids.to_numpy()})
    coarse["category"] = colour["category"].to_numpy() if "category" in colour.columns else None
    for name in CLASS_SCORE_COLUMNS:
        coarse[name] = pd.to_numeric(colour[name], errors="coerce").to_numpy() if name in colour.columns else np.nan
    coarse["f_obj"] = harmony
    coarse["f_subj"] = matched.f_subj
    coarse["f_obj_norm"] = f_obj_norm
    coarse["f_subj_norm"] = f_subj_norm
    coarse["coarse_score"] = 1.0 + 9.0 * combined
    coarse["scored_from"] = scored_from
    coarse["flag"] = matched.flags
    # scan's key, as harmony-score carried it; a colour table without it (written before photo_key existed)
    # leaves it null, and balance derives it with scan's duplicate groups (--images).
    coarse["photo_key"] = colour["photo_key"].to_numpy() if "photo_key" in colour.columns else None
    coarse = coarse[keep].reset_index(drop=True)
    return coarse, rejects, _summary(colour, coarse, rejects, matched, normalisation, weight_obj, weight_subj)


def run_fuse(colour_parquet: Path | str, popularity_parquet: Path | str | None, output: Path | str, *,
             rejects: Path | str | None = None, normalisation: str = "rank", weight_obj: float = 0.5,
             weight_subj: float = 0.5, on_missing_popularity: str = "harmony") -> StageSummary:
    """Write ``coarse.parquet`` and its rejects table (default ``fuse_rejects.parquet`` beside ``output``).

    Without a popularity table every image is scored from harmony alone (flag ``harmony_only``).

    Example
    -------
    >>> run_fuse("work/harmony/colour.parquet", "work/crawl/popularity.parquet",
    ...          "work/fuse/coarse.parquet")  # doctest: +SKIP
    """
    clock = Stopwatch()
    rejects_path = Path(rejects) if rejects else Path(output).with_name("fuse_rejects.parquet")
    refuse_overwriting_inputs({"-o": output, "--rejects": rejects_path},
                              {"COLOUR_PARQUET": colour_parquet, "POPULARITY_PARQUET": popularity_parquet})
    colour = read_table(colour_parquet)
    popularity = read_table(popularity_parquet) if popularity_parquet is not None else None
    coarse, rejected, summary = fuse_scores(colour, popularity, normalisation=normalisation, weight_obj=weight_obj,
                                            weight_subj=weight_subj, on_missing_popularity=on_missing_popularity)
    paths = colour.set_index("image_id")["path"] if "path" in colour.columns else pd.Series(dtype=object)
    fuse_rejects = pd.DataFrame({"image_id": rejected["image_id"], "path": [paths.get(i) for i in rejected["image_id"]],
                                 "stage": "fuse", "reason": rejected["reason"], "detail": rejected["detail"]})
    write_tables((coarse, output, COARSE), (fuse_rejects, rejects_path, REJECTS))
    figures = {key: summary.pop(key) for key in ("normalisation", "weights", "coarse_score")}
    return StageSummary("fuse", counts=summary, figures=figures,
                        outputs={"output": str(output), "rejects_table": str(rejects_path)}, seconds=clock.seconds())
