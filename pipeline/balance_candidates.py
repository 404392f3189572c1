"""The candidates of the balance: one representative row per photo and the (photo, class) pairs, ordered by
class-bin cell.

A photo (all rows of one ``photo_key``, :mod:`icaa.pipeline.photos`) is represented by its representative row
when the pool has it, else by the member with the smallest hash of its image id (so the choice does not
depend on the pool's row order). It is a candidate for its primary category and for every class whose class
score reaches the threshold, over all its members. Within a cell the photos with the fewest classes go first,
then a seeded hash of the photo key. Only hashing, scatter-min and 16-bit radix sorts: linear time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from icaa.pipeline.categories import ICAA17K_CATEGORIES, class_score_column
from icaa.pipeline.photos import photo_keys
from icaa.pipeline.split import score_bins

__all__ = ["Photos", "Candidates", "group_photos", "candidate_pairs", "order_candidates", "find_candidates"]


@dataclass(frozen=True)
class Photos:
    """The scored rows grouped by photo: photo ``p`` is ``keys[p]`` and is represented by row ``rep_rows[p]``."""

    keys: pd.Index                # photo_key of each photo
    rep_rows: np.ndarray          # pool row representing each photo
    member_rows: np.ndarray       # every scored pool row
    member_photo: np.ndarray      # the photo of each of member_rows


@dataclass(frozen=True)
class Candidates:
    """(photo, class) candidate pairs sorted by cell (``class * bins + score bin``), with per-photo facts."""

    photos: Photos
    photo: np.ndarray             # per pair: photo index
    class_index: np.ndarray       # per pair: index into ICAA17K_CATEGORIES
    cell: np.ndarray              # per pair: class * bins + the photo's score bin (sorted ascending)
    cell_start: np.ndarray        # pairs of cell c are photo[cell_start[c]:cell_start[c + 1]]
    n_options: np.ndarray         # per photo: how many classes it is a candidate for
    photo_score: np.ndarray       # per photo: coarse score of its representative
    photo_bin: np.ndarray         # per photo: score bin of photo_score

    @property
    def n_photos(self) -> int:
        return len(self.photos.keys)


def group_photos(pool: pd.DataFrame, images: pd.DataFrame | None, has_score: np.ndarray) -> Photos:
    """Group the scored rows of ``pool`` by ``photo_key`` and pick each photo's representative row."""
    key_series = photo_keys(pool, images)
    id_series = pool["image_id"].astype(str)
    scored_rows = np.flatnonzero(has_score)
    key_codes, key_uniques = pd.factorize(key_series.iloc[scored_rows])
    key_codes = key_codes.astype(np.int64)
    n_photos = len(key_uniques)
    is_rep = (key_series.iloc[scored_rows] == id_series.iloc[scored_rows]).to_numpy(dtype=bool)
    # Rank of each member: 0 for the representative, else 1 + hash of its image id (computed only in groups
    # whose representative is not in the pool, which are rare); the lowest rank represents the photo.
    rank = np.where(is_rep, np.uint64(0), np.uint64(1))
    has_rep = np.zeros(n_photos, dtype=bool)
    has_rep[key_codes[is_rep]] = True
    orphan = ~has_rep[key_codes]
    if orphan.any():
        hashed = pd.util.hash_array(id_series.iloc[scored_rows[orphan]].to_numpy(dtype=object), categorize=False)
        rank[orphan] = (hashed >> np.uint64(1)) + np.uint64(1)
    best = np.full(n_photos, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(best, key_codes, rank)
    winner = np.flatnonzero(rank == best[key_codes])
    rep_rows = np.empty(n_photos, dtype=np.int64)
    rep_rows[key_codes[winner[::-1]]] = scored_rows[winner[::-1]]  # the first winner of each photo is written last
    return Photos(keys=key_uniques, rep_rows=rep_rows, member_rows=scored_rows, member_photo=key_codes)


def candidate_pairs(pool: pd.DataFrame, categories: pd.Series, photos: Photos,
                    class_score_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (photo, class index) pairs: every member's primary category, and every class whose score in
    ``pool`` is at least ``class_score_threshold``, in first-seen order."""
    member_rows, member_photo = photos.member_rows, photos.member_photo
    cat_index = {c: i for i, c in enumerate(ICAA17K_CATEGORIES)}
    category_codes, category_uniques = pd.factorize(categories)
    lookup = np.array([cat_index[str(u)] for u in category_uniques] + [-1], dtype=np.int64)
    primary_codes = lookup[category_codes]  # -1 (null) picks the appended -1
    primary = np.where(primary_codes >= 0, primary_codes, np.nan)
    pair_photo = [member_photo[np.isfinite(primary[member_rows])]]
    pair_class = [primary[member_rows][np.isfinite(primary[member_rows])].astype(np.int64)]
    for category, index in cat_index.items():
        column = class_score_column(category)
        if column in pool.columns:
            values = pd.to_numeric(pool[column], errors="coerce").to_numpy(dtype=np.float64)[member_rows]
            hit = values >= class_score_threshold
            pair_photo.append(member_photo[hit])
            pair_class.append(np.full(int(hit.sum()), index, dtype=np.int64))
    n_classes_total = len(ICAA17K_CATEGORIES)
    pair_codes = pd.unique(np.concatenate(pair_photo) * n_classes_total + np.concatenate(pair_class))
    return pair_codes // n_classes_total, pair_codes % n_classes_total


def order_candidates(cell: np.ndarray, n_options: np.ndarray, tie: np.ndarray, n_cells: int) -> np.ndarray:
    """Order by cell, then fewest options, then the 32 high bits of the seeded hash: four stable 16-bit sorts
    (numpy radix-sorts 16-bit keys, in linear time) where the keys fit, else one lexsort."""
    if n_cells > 0xFFFF:
        return np.lexsort((tie, n_options, cell))
    tie32 = (tie >> np.uint64(32)).astype(np.uint32)
    keys = [(tie32 & 0xFFFF).astype(np.uint16), (tie32 >> 16).astype(np.uint16),
            np.minimum(n_options, 0xFFFF).astype(np.uint16), cell.astype(np.uint16)]
    order = np.arange(len(cell))
    for key in keys:
        order = order[np.argsort(key[order], kind="stable")]
    return order


def find_candidates(pool: pd.DataFrame, categories: pd.Series, scores: np.ndarray, has_score: np.ndarray, *,
                    images: pd.DataFrame | None, bins: int, score_min: float, score_max: float,
                    class_score_threshold: float, seed: int) -> Candidates:
    """The candidate pairs of the scored rows, each photo binned by its representative's coarse score, sorted
    by cell (:func:`order_candidates`, the tie broken by a hash of the photo key seeded with ``seed``)."""
    photos = group_photos(pool, images, has_score)
    n_photos = len(photos.keys)
    cand_photo, cand_class = candidate_pairs(pool, categories, photos, class_score_threshold)
    photo_score = scores[photos.rep_rows]
    photo_bin = score_bins(photo_score, bins, score_min, score_max)
    cand_cell = cand_class * bins + photo_bin[cand_photo]
    n_options = np.bincount(cand_photo, minlength=n_photos)
    # Seeded hash of the photo key: a tie-break that does not depend on the pool's row order.
    tie = pd.util.hash_array(np.asarray(photos.keys, dtype=object), hash_key=f"{seed % 2**64:016x}",
                             categorize=False)
    n_cells = len(ICAA17K_CATEGORIES) * bins
    order = order_candidates(cand_cell, n_options[cand_photo], tie[cand_photo], n_cells)
    cand_photo, cand_class, cand_cell = cand_photo[order], cand_class[order], cand_cell[order]
    return Candidates(photos=photos, photo=cand_photo, class_index=cand_class, cell=cand_cell,
                      cell_start=np.searchsorted(cand_cell, np.arange(n_cells + 1)), n_options=n_options,
                      photo_score=photo_score, photo_bin=photo_bin)
