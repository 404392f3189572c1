"""Score-bin balancing of the annotation set: even coarse-score bins per colour class.

ICAA17K (He et al., ICCV 2023, section 4.1) "extracts balanced samples from each score range" of the
coarse pre-assessment score to avoid a long tail, without saying how. Here: each class gets a quota
(500 as in ICAA17K, overridable per class), split evenly over ``bins`` equal-width bins of the coarse
score over 1..10. Where a bin lacks candidates, its deficit goes to the nearest bins that have spare
candidates (nearer first, the lower bin first at equal distance); what cannot be placed anywhere is
reported. A photo (all images of one ``photo_key``, :mod:`icaa.pipeline.photos`) is selected at most
once; a photo that qualifies for several classes (its primary category, or a class score >= ``class_score_threshold``)
is used where it helps most: the scarcest class-bin cells are filled first, and within a cell the
photos with the fewest other uses go first. Everything is numpy over arrays sorted once, so time
and memory grow linearly with the number of candidates.

Rows not used are not errors; rows that cannot be candidates are counted by a code from
``BALANCE_SKIPS`` in the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from icaa.pipeline.balance_candidates import Candidates, find_candidates
from icaa.pipeline.categories import ICAA17K_CATEGORIES
from icaa.pipeline.contracts import check_table
from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_json
from icaa.pipeline.io import read_table, write_table
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.rejects import reasons_of
from icaa.pipeline.schemas import SELECTION
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = ["BALANCE_SKIPS", "HEADLINE_METRICS", "even_targets", "spread_deficits", "kl_from_uniform", "balance_pool",
           "shortfall_sentence", "run_balance"]

#: Closed set of reasons a row of the pool is not a candidate (from the registry of reasons).
BALANCE_SKIPS: dict[str, str] = reasons_of("balance", codes=("no_score", "not_public", "no_category", "duplicate"))


def even_targets(quota: int, n_bins: int) -> np.ndarray:
    """``quota`` spread over ``n_bins`` as evenly as integers allow; the remainder goes to the middle bins.

    >>> even_targets(23, 10).tolist()
    [2, 2, 2, 3, 3, 3, 2, 2, 2, 2]
    """
    base, remainder = divmod(int(quota), n_bins)
    targets = np.full(n_bins, base, dtype=np.int64)
    if remainder:
        order = np.argsort(np.abs(np.arange(n_bins) - (n_bins - 1) / 2), kind="stable")
        targets[np.sort(order[:remainder])] += 1
    return targets


def spread_deficits(targets: np.ndarray, available: np.ndarray) -> tuple[np.ndarray, int]:
    """Cap each bin at what is available and move each bin's deficit to the nearest bins with room.

    Parameters
    ----------
    targets, available
        Per-bin even targets and candidate counts (same length).

    Returns
    -------
    (numpy.ndarray, int)
        The achievable per-bin targets and the count that no bin could take (the unmet part of the quota).

    >>> placed, unmet = spread_deficits(np.array([5, 5, 5]), np.array([0, 20, 2]))
    >>> placed.tolist(), unmet
    ([0, 13, 2], 0)
    """
    targets = np.asarray(targets, dtype=np.int64)
    available = np.asarray(available, dtype=np.int64)
    placed = np.minimum(targets, available)
    n_bins = len(targets)
    unmet = 0
    for source in np.flatnonzero(targets > available):
        deficit = int(targets[source] - available[source])
        for distance in range(1, n_bins):
            for neighbour in (source - distance, source + distance):
                if deficit and 0 <= neighbour < n_bins:
                    take = min(deficit, int(available[neighbour] - placed[neighbour]))
                    if take > 0:
                        placed[neighbour] += take
                        deficit -= take
            if not deficit:
                break
        unmet += deficit
    return placed, unmet


def kl_from_uniform(counts: np.ndarray) -> float:
    """KL divergence ``sum p log(p K)`` (nats) of a bin histogram from the uniform one; 0 when even.

    >>> round(kl_from_uniform(np.array([5, 5, 0, 0])), 4)
    0.6931
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    p = counts / total
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] * len(counts))))


def _check_request(pool: pd.DataFrame, *, per_class: int, bins: int, score_min: float, score_max: float) -> None:
    """Refuse a pool without the needed columns, and an impossible quota or binning."""
    for name in ("image_id", "category", "coarse_score"):
        if name not in pool.columns:
            raise IcaaError(f"balance: the pool lacks column {name!r} (found {', '.join(map(str, pool.columns))})")
    if bins < 1 or per_class < 0 or score_max <= score_min:
        raise IcaaError(f"balance: need bins >= 1, per_class >= 0 and score_max > score_min, got bins={bins}, "
                        f"per_class={per_class}, score range {score_min}..{score_max}")


def _checked_overrides(quota_overrides: Mapping[str, int] | None) -> dict[str, int]:
    """The per-class quota overrides as a dict; a class name outside the 30 classes is an error."""
    overrides = dict(quota_overrides or {})
    unknown = sorted(set(overrides) - set(ICAA17K_CATEGORIES))
    if unknown:
        raise IcaaError(f"balance: quota overrides name unknown classes {unknown}; use names like complementary/red_blue")
    return overrides


def _checked_categories(pool: pd.DataFrame) -> pd.Series:
    """The pool's primary categories as strings; a category outside the 30 classes is an error."""
    categories = pool["category"].astype("string")
    bad_category = categories.notna() & ~categories.isin(ICAA17K_CATEGORIES)
    if bad_category.any():
        rows = np.flatnonzero(bad_category.to_numpy())
        raise IcaaError(f"balance: {len(rows)} row(s) have a category outside the 30 ICAA17K classes, e.g. "
                        f"{pool['image_id'].iloc[rows[0]]!r} with {categories.iloc[rows[0]]!r} (rows {rows[:5].tolist()})")
    return categories


def _usable_rows(pool: pd.DataFrame, skips: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Coarse scores and the mask of rows with a score that are public; counts the others in ``skips``."""
    scores = pd.to_numeric(pool["coarse_score"], errors="coerce").to_numpy(dtype=np.float64)
    has_score = np.isfinite(scores)
    skips["no_score"] = int((~has_score).sum())
    not_public = np.zeros(len(pool), dtype=bool)
    for name in ("flag", "status"):
        if name in pool.columns:
            not_public |= pool[name].isin(["private", "not_public"]).to_numpy(dtype=bool)
    skips["not_public"] = int((has_score & not_public).sum())
    return scores, has_score & ~not_public


@dataclass
class _Fill:
    """Where the refill rounds got to: which photos are used and for which class, counts per class and bin."""

    used: np.ndarray              # per photo
    used_class: np.ndarray        # per photo: class index, -1 when unused
    selected: np.ndarray          # (classes, bins)
    unmet: np.ndarray             # per class: what no bin could take in the last round


def _active_quotas(per_class: int, overrides: Mapping[str, int], candidates: Candidates) -> np.ndarray:
    """Quota per class: the override or ``per_class`` for classes with a candidate or an override, else 0."""
    quotas = np.array([int(overrides.get(c, per_class)) for c in ICAA17K_CATEGORIES], dtype=np.int64)
    present = np.bincount(candidates.class_index, minlength=len(ICAA17K_CATEGORIES)) > 0
    return np.where(present | np.isin(ICAA17K_CATEGORIES, list(overrides)), quotas, 0)


def _fill_cells(candidates: Candidates, quotas_active: np.ndarray, even: np.ndarray, bins: int,
                max_rounds: int) -> _Fill:
    """Rounds of: spread each class's deficits over the free candidates, then fill the needed cells, scarcest
    first (fewest spare candidates per needed photo), each photo once; until nothing is needed or added."""
    n_classes_total, n_photos = len(ICAA17K_CATEGORIES), candidates.n_photos
    n_cells = n_classes_total * bins
    cand_photo, cand_cell, cell_start = candidates.photo, candidates.cell, candidates.cell_start
    fill = _Fill(used=np.zeros(n_photos, dtype=bool), used_class=np.full(n_photos, -1, dtype=np.int64),
                 selected=np.zeros((n_classes_total, bins), dtype=np.int64),
                 unmet=np.zeros(n_classes_total, dtype=np.int64))
    used, selected = fill.used, fill.selected
    for _ in range(max_rounds):
        free = ~used[cand_photo]
        spare = np.bincount(cand_cell[free], minlength=n_cells).reshape(n_classes_total, bins)
        need = np.zeros_like(selected)
        for c in range(n_classes_total):
            if quotas_active[c]:
                placed, fill.unmet[c] = spread_deficits(even[c], selected[c] + spare[c])
                need[c] = np.maximum(placed - selected[c], 0)
        if not need.any():
            break
        flat_need = need.ravel()
        cells = np.flatnonzero(flat_need)
        # Scarcest first: fewest spare candidates per needed photo.
        cells = cells[np.argsort(spare.ravel()[cells] / flat_need[cells], kind="stable")]
        added = 0
        for cell in cells:
            members = cand_photo[cell_start[cell]:cell_start[cell + 1]]
            take = members[~used[members]][: flat_need[cell]]
            used[take] = True
            fill.used_class[take] = cell // bins
            selected.flat[cell] += len(take)
            added += len(take)
        if not added:
            break
    return fill


def _selection_frame(pool: pd.DataFrame, categories: pd.Series, candidates: Candidates,
                     fill: _Fill) -> pd.DataFrame:
    """One row per used photo (its representative row), sorted by class, then photo key."""
    chosen = np.flatnonzero(fill.used)
    chosen_keys = np.asarray(candidates.photos.keys.take(chosen), dtype=object).astype(str)
    sort_chosen = np.lexsort((chosen_keys, fill.used_class[chosen]))
    chosen, chosen_keys = chosen[sort_chosen], chosen_keys[sort_chosen]
    rows = candidates.photos.rep_rows[chosen]
    return pd.DataFrame({
        "image_id": pool["image_id"].astype(str).to_numpy()[rows],
        "category": np.asarray(ICAA17K_CATEGORIES, dtype=object)[fill.used_class[chosen]],
        "coarse_score": candidates.photo_score[chosen],
        "score_bin": candidates.photo_bin[chosen],
        "primary_category": categories.iloc[rows].to_numpy(dtype=object, na_value=None),
        "photo_key": chosen_keys,
        "n_classes": candidates.n_options[chosen],
    })


def _per_class_metrics(candidates: Candidates, quotas_active: np.ndarray, even: np.ndarray, fill: _Fill,
                       bins: int) -> dict[str, dict[str, Any]]:
    """Per class with a quota: targets, candidates, selection and deficits per bin, what moved, KL."""
    n_classes_total = len(ICAA17K_CATEGORIES)
    available = np.bincount(candidates.cell, minlength=n_classes_total * bins).reshape(n_classes_total, bins)
    selected, unmet = fill.selected, fill.unmet
    per_class_metrics = {}
    for c, category in enumerate(ICAA17K_CATEGORIES):
        if not quotas_active[c]:
            continue
        deficits = np.maximum(even[c] - selected[c], 0)
        per_class_metrics[category] = {
            "quota": int(quotas_active[c]),
            "selected": int(selected[c].sum()),
            "fraction_met": float(selected[c].sum() / quotas_active[c]) if quotas_active[c] else 1.0,
            "target_per_bin": even[c].tolist(),
            "candidates_per_bin": available[c].tolist(),
            "selected_per_bin": selected[c].tolist(),
            "deficit_per_bin": deficits.tolist(),
            "moved_to_other_bins": int(deficits.sum() - unmet[c]),
            "unmet": int(unmet[c]),
            "kl_from_uniform": kl_from_uniform(selected[c]),
        }
    return per_class_metrics


def balance_pool(pool: pd.DataFrame, *, images: pd.DataFrame | None = None, per_class: int = 500,
                 quota_overrides: Mapping[str, int] | None = None, bins: int = 10, score_min: float = 1.0,
                 score_max: float = 10.0, class_score_threshold: float = 0.5, seed: int = 0,
                 max_rounds: int = 8) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Select an even-binned subset of the pool per class.

    Parameters
    ----------
    pool
        At least ``image_id``, ``category``, ``coarse_score``; ``class_score_*`` columns and
        ``photo_key`` are used when present.
    images
        scan's images.parquet (``image_id``, ``photo_key``), when the pool lacks ``photo_key``; without
        either, photos are told apart by :func:`icaa.pipeline.photos.photo_keys` (file name, duplicate_of).
    per_class, quota_overrides
        Quota of every class, and per-class exceptions ``{"monochromatic/red": 300}``.
    bins, score_min, score_max
        Equal-width coarse-score bins over ``[score_min, score_max]``.
    class_score_threshold
        A photo also qualifies for every class whose class score is at least this.
    seed
        Seed of the order among equally good candidates.
    max_rounds
        Refill rounds (a cell can fall short when its photos were used elsewhere; its deficit is re-spread).

    Returns
    -------
    (pandas.DataFrame, dict)
        The selection (``image_id, category, coarse_score, score_bin, primary_category, photo_key,
        n_classes``) and the metrics (per-class bin counts, deficits, KL from uniform, quota met).
    """
    _check_request(pool, per_class=per_class, bins=bins, score_min=score_min, score_max=score_max)
    overrides = _checked_overrides(quota_overrides)
    pool = pool.reset_index(drop=True)
    categories = _checked_categories(pool)
    skips = {code: 0 for code in BALANCE_SKIPS}
    scores, usable = _usable_rows(pool, skips)
    candidates = find_candidates(pool, categories, scores, usable, images=images, bins=bins, score_min=score_min,
                                 score_max=score_max, class_score_threshold=class_score_threshold, seed=seed)
    n_photos = candidates.n_photos
    photos_with_class = np.zeros(n_photos, dtype=bool)
    photos_with_class[candidates.photo] = True
    skips["no_category"] = int((~photos_with_class).sum())
    skips["duplicate"] = int(len(candidates.photos.member_rows) - n_photos)

    quotas_active = _active_quotas(per_class, overrides, candidates)
    even = np.stack([even_targets(q, bins) for q in quotas_active])
    fill = _fill_cells(candidates, quotas_active, even, bins, max_rounds)
    selection = _selection_frame(pool, categories, candidates, fill)
    per_class_metrics = _per_class_metrics(candidates, quotas_active, even, fill, bins)
    total_quota = int(quotas_active.sum())
    metrics = {
        "rows_in": len(pool),
        "photos": n_photos,
        "candidate_pairs": int(len(candidates.photo)),
        "multi_class_photos": int((candidates.n_options > 1).sum()),
        "selected": int(len(selection)),
        "skipped": skips,
        "quota": total_quota,
        "fraction_met": float(len(selection) / total_quota) if total_quota else 1.0,
        "unmet": int(fill.unmet[quotas_active > 0].sum()),
        "kl_from_uniform_max": max((m["kl_from_uniform"] for m in per_class_metrics.values()
                                    if np.isfinite(m["kl_from_uniform"])), default=0.0),
        "bins": bins,
        "seed": seed,
        "per_class": per_class_metrics,
    }
    return selection, metrics


#: What the metrics JSON holds (a DVC metric: so that ``dvc metrics show`` over every stage fits a terminal);
#: the other totals and the per-class, per-bin detail go to ``balance_per_class.json`` beside the selection.
HEADLINE_METRICS = ("selected", "unmet")
SUMMARY_METRICS = ("rows_in", "photos", "multi_class_photos", "selected", "quota", "fraction_met", "unmet",
                   "kl_from_uniform_max", "skipped")
_SUMMARY_FIGURES = ("fraction_met", "kl_from_uniform_max")


def shortfall_sentence(metrics: dict[str, Any]) -> str:
    """One line saying why fewer photos were selected than the quota asked for (or that none are missing)."""
    if metrics["unmet"] == 0 and metrics["selected"] >= metrics["quota"]:
        return f"every class quota met ({metrics['selected']} photos)"
    per_class = metrics["per_class"]
    candidates = sum(sum(m["candidates_per_bin"]) for m in per_class.values())
    short = [name for name, m in per_class.items() if m["unmet"] > 0]
    empty = [name for name, m in per_class.items() if sum(m["candidates_per_bin"]) == 0]
    return (f"{metrics['selected']} of {metrics['quota']} wanted ({metrics['fraction_met']:.1%}): the pool has only "
            f"{metrics['photos']} photos ({candidates} class candidates) for {len(per_class)} class quotas; "
            f"{len(short)} classes fall short, {len(empty)} have no candidate at all; lower --per-class or add photos")


def run_balance(coarse_parquet: Path | str, output: Path | str, *, images: Path | str | None = None,
                metrics: Path | str | None = None, per_class: int = 500, quota_overrides: dict[str, int] | None = None,
                bins: int = 10, score_min: float = 1.0, score_max: float = 10.0, class_score_threshold: float = 0.5,
                seed: int = 0) -> StageSummary:
    """Write ``selection.parquet``, the headline metrics JSON (default ``balance.json`` beside ``output``) and
    ``balance_per_class.json`` beside ``output``.

    Example
    -------
    >>> run_balance("work/fuse/coarse.parquet", "work/balance/selection.parquet", per_class=50)  # doctest: +SKIP
    """
    clock = Stopwatch()
    metrics_path = Path(metrics) if metrics else Path(output).with_name("balance.json")
    details_path = Path(output).with_name("balance_per_class.json")
    refuse_overwriting_inputs({"-o": output, "--metrics": metrics_path, "per-class details": details_path},
                              {"COARSE_PARQUET": coarse_parquet, "--images": images})
    pool = read_table(coarse_parquet)
    check_table(pool, "coarse", coarse_parquet)
    images_table = read_table(images, columns=None) if images else None
    if images_table is not None:
        check_table(images_table, "images", images, needed=["image_id"])
    selection, balance_metrics = balance_pool(pool, images=images_table, per_class=per_class,
                                              quota_overrides=quota_overrides, bins=bins, score_min=score_min,
                                              score_max=score_max, class_score_threshold=class_score_threshold,
                                              seed=seed)
    write_table(selection, output, schema=SELECTION)
    atomic_write_json(metrics_path, {key: balance_metrics[key] for key in HEADLINE_METRICS})
    atomic_write_json(details_path, {key: balance_metrics[key] for key in SUMMARY_METRICS}
                      | {"bins": bins, "seed": seed, "per_class": balance_metrics["per_class"]})
    figures = {key: balance_metrics[key] for key in _SUMMARY_FIGURES}
    figures["shortfall"] = shortfall_sentence(balance_metrics)
    return StageSummary(
        "balance", counts={key: balance_metrics[key] for key in SUMMARY_METRICS if key not in figures}, figures=figures,
        outputs={"output": str(output), "metrics": str(metrics_path), "per_class_details": str(details_path)},
        seconds=clock.seconds())
