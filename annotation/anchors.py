"""Anchor photos for the rating instructions: which photos, at which level, and where their number comes from.

Anchors are shown before rating, so that raters share a scale (ICAA17K 4.2: expert-rated reference photos). An
anchor must never be a photo the raters then rate: they would have been told its answer. Three sources, in order
of preference:

* an ``--anchors`` table of ``image_id, score`` rated by people (its ``source`` column, e.g. ``expert score``,
  says who rated them; without one the caption says ``reference score``);
* a pool the user names (e.g. fuse's ``coarse.parquet``): photos of the pool that are not in the selection;
* photos set aside from the selection itself, which are then removed from the tasks.

Pool and set-aside anchors carry a *coarse* score (fuse's automatic pre-score), and a level gets a photo only where
one lies within ``max_distance`` of it; the captions say "coarse score".
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from icaa.common.errors import IcaaError

__all__ = ["ANCHOR_COLUMNS", "COARSE_SOURCE", "choose_anchors", "anchors_from_table", "excluded_ids"]

#: image_id, the photo's score, the scale level it illustrates and the source of the score (shown in captions).
ANCHOR_COLUMNS = ["image_id", "score", "level", "source"]
COARSE_SOURCE = "coarse score"


def excluded_ids(selection: pd.DataFrame) -> set[str]:
    """Ids a pool photo must not have to be an anchor: the selection's image_ids and duplicate-group keys."""
    ids = set(selection["image_id"].astype(str))
    if "photo_key" in selection.columns:
        ids |= set(selection["photo_key"].dropna().astype(str))
    return ids


def choose_anchors(pool: pd.DataFrame, *, exclude: Iterable[str] = (), levels: Iterable[float] = (2.0, 4.0, 6.0, 8.0),
                   max_distance: float = 0.25, per_level: int = 1) -> pd.DataFrame:
    """For each level, up to ``per_level`` photos of ``pool`` whose coarse score lies within ``max_distance``.

    ``pool`` needs ``image_id, coarse_score``; a photo whose ``image_id`` (or ``photo_key``/``duplicate_of``, where
    the pool has them) is in ``exclude`` is never chosen, nor is a photo twice. The nearest photo wins, ties by
    ``image_id``. Returns ``ANCHOR_COLUMNS`` (``score`` = the photo's coarse score, ``source`` = "coarse score"),
    sorted by level; a level with no photo close enough has no row.

    >>> pool = pd.DataFrame({"image_id": ["a", "b", "c"], "coarse_score": [2.1, 4.34, 6.9]})
    >>> choose_anchors(pool, max_distance=0.25)[["image_id", "level"]].values.tolist()
    [['a', 2.0]]
    """
    if max_distance < 0:
        raise IcaaError(f"the anchor distance must be >= 0 score points, got {max_distance}")
    if per_level < 1:
        raise IcaaError(f"anchors per level must be at least 1, got {per_level}")
    excluded = set(exclude)
    candidates = pool.dropna(subset=["coarse_score"])
    keep = ~candidates["image_id"].astype(str).isin(excluded)
    for column in ("photo_key", "duplicate_of"):
        if column in candidates.columns:
            keep &= ~candidates[column].astype(str).isin(excluded)
    candidates = candidates[keep].sort_values("image_id", kind="stable")
    chosen: list[dict] = []
    used: set[str] = set()
    for level in sorted(float(v) for v in levels):
        distance = (candidates["coarse_score"] - level).abs()
        near = candidates.assign(_distance=distance)[distance <= max_distance + 1e-12]
        near = near[~near["image_id"].isin(used)].sort_values(["_distance", "image_id"], kind="stable")
        for row in near.head(per_level).itertuples(index=False):
            chosen.append({"image_id": row.image_id, "score": float(row.coarse_score), "level": level,
                           "source": COARSE_SOURCE})
            used.add(row.image_id)
    return pd.DataFrame(chosen, columns=ANCHOR_COLUMNS)


def anchors_from_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """A user's anchors table (``image_id, score`` 1..10, optional ``source``) as ``ANCHOR_COLUMNS``."""
    missing = [c for c in ("image_id", "score") if c not in table.columns]
    if missing:
        raise IcaaError(f"{name}: the anchors table lacks column(s) {missing}; expected image_id, score "
                        f"(and optionally source, e.g. 'expert score')")
    score = pd.to_numeric(table["score"], errors="coerce")
    bad = table[~score.between(1, 10)]
    if len(bad):
        raise IcaaError(f"{name}: {len(bad)} anchor score(s) outside 1..10, e.g. "
                        f"{bad.iloc[0]['image_id']}={bad.iloc[0]['score']!r}")
    if "source" in table.columns:
        source = table["source"].fillna("reference score").astype(str).str.strip().replace("", "reference score")
    else:
        source = pd.Series("reference score", index=table.index)
    return pd.DataFrame({"image_id": table["image_id"].astype(str), "score": score.astype(float),
                         "level": score.astype(float), "source": source}).sort_values(["level", "image_id"]) \
        .reset_index(drop=True)[ANCHOR_COLUMNS]
