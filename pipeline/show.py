"""A readable listing of any stage table: which class each photo got, its colours and its scores.

Pure functions on a DataFrame; ``icaa-data show`` reads the file and prints the listing.
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["LISTING_COLUMNS", "listing_columns", "listing", "format_listing"]

#: Columns shown when a table has them, in this order (the first of each group that exists).
LISTING_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("image", ("image_id", "ID", "image", "file")),
    ("class", ("category",)),
    ("dominant", ("dominant",)),
    ("auxiliary", ("auxiliary",)),
    ("harmony", ("harmony_score", "harmony_template_score")),
    ("colourfulness", ("colourfulness_m3", "colourfulness")),
    ("coarse", ("coarse_score",)),
    ("bin", ("score_bin",)),
    ("colour_mos", ("color",)),
    ("overall_mos", ("MOS",)),
    ("colour_score", ("colour_score",)),
    ("overall_score", ("overall_score",)),
    ("views", ("views",)),
    ("faves", ("faves",)),
    ("split", ("split",)),
    ("flag", ("flag",)),
    ("status", ("status",)),
    ("reason", ("reason",)),
    ("detail", ("detail",)),
)


def listing_columns(columns) -> dict[str, str]:
    """Shown name -> source column, for the columns of :data:`LISTING_COLUMNS` that ``columns`` has."""
    present = set(map(str, columns))
    chosen = {}
    for shown, sources in LISTING_COLUMNS:
        source = next((name for name in sources if name in present), None)
        if source is not None:
            chosen[shown] = source
    return chosen


def listing(table: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of ``table`` with the listing's columns (or the ``columns`` asked for, by their table names),
    renamed to short headings; every column when none of the known ones is there."""
    if columns:
        return table.loc[:, columns].reset_index(drop=True)
    chosen = listing_columns(table.columns)
    if not chosen:
        return table.reset_index(drop=True)
    return table.loc[:, list(chosen.values())].set_axis(list(chosen), axis=1).reset_index(drop=True)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_listing(frame: pd.DataFrame, max_width: int = 48) -> str:
    """An aligned plain-text table (numbers to 3 decimals, missing values as ``-``, long cells cut with ``...``).

    >>> print(format_listing(pd.DataFrame({"image": ["a.jpg"], "coarse": [5.25]})))
    image  coarse
    a.jpg  5.250
    """
    cells = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    cells = [[c if len(c) <= max_width else c[:max_width - 3] + "..." for c in row] for row in cells]
    headers = [str(c) for c in frame.columns]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]

    def line(values):
        return "  ".join(v.rjust(w) if is_number else v.ljust(w)
                         for v, w, is_number in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers)] + [line(row) for row in cells])
