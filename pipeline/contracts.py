"""Which table a stage expects, and a one-sentence error when it is given another.

A stage that reads a table checks the columns it uses against its contract here, so a wrong file (the colour
table where the coarse one belongs) gets "work/harmony/colour.parquet is not coarse.parquet from fuse: it
lacks coarse_score; it looks like colour.parquet from harmony-score" instead of ``KeyError: 'coarse_score'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from icaa.pipeline.errors import IcaaError

__all__ = ["TABLES", "identify_table", "check_table"]

#: kind -> (what the user knows it as, the columns every reader of it needs, columns only it has).
TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "images": ("images.parquet from scan", ("image_id", "path"), ("sha256", "phash")),
    "colour": ("colour.parquet from harmony-score", ("image_id", "category"), ("dominant", "harmony_template")),
    "popularity": ("popularity.parquet from crawl popularity", ("image_id", "views", "faves", "status"), ("views",)),
    "coarse": ("coarse.parquet from fuse", ("image_id", "category", "coarse_score"), ("coarse_score", "flag")),
    "selection": ("selection.parquet from balance", ("image_id", "category", "coarse_score"),
                  ("score_bin", "photo_key")),
    "ratings": ("ratings.parquet from annotate import", ("image_id", "rater", "color", "overall", "confidence"),
                ("rater", "annotation_id")),
    "mos": ("a MOS table (mos.parquet from mos, or a CSV of image_id,color,MOS,probability)",
            ("image_id", "color", "MOS", "probability"), ("MOS", "probability")),
    "manifest": ("manifest.parquet of a dataset folder written by build", ("ID", "category", "color", "split"),
                 ("ID", "split")),
    "rejects": ("a rejects table", ("image_id", "reason"), ("reason",)),
}

# Most specific first: a selection also has coarse_score, a dataset manifest has every column.
_IDENTIFY_ORDER = ("manifest", "selection", "coarse", "mos", "ratings", "colour", "popularity", "images", "rejects")


def identify_table(columns: Iterable[str]) -> str | None:
    """The kind of stage table whose distinctive columns ``columns`` has, or None."""
    present = set(columns)
    for kind in _IDENTIFY_ORDER:
        if set(TABLES[kind][2]) <= present:
            return kind
    return None


def check_table(frame, kind: str, source: Path | str, needed: Iterable[str] | None = None) -> None:
    """Raise IcaaError, in one sentence, when ``frame`` (read from ``source``) lacks a column of the ``kind``
    contract (or of ``needed``, when given)."""
    what = TABLES[kind][0]
    columns = [str(c) for c in frame.columns]
    missing = [c for c in (needed if needed is not None else TABLES[kind][1]) if c not in columns]
    if not missing:
        return
    looks = identify_table(columns)
    hint = (f"; it looks like {TABLES[looks][0]}" if looks and looks != kind
            else f"; it has {', '.join(columns[:8])}{', ...' if len(columns) > 8 else ''}")
    raise IcaaError(f"{source} is not {what}: it lacks {', '.join(missing)}{hint}")
