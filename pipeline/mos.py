"""The ``mos`` stage: ratings in, per-image MOS and each rater's verdict out.

The estimators and rater screens are :mod:`icaa.annotation.mos`; this module reads ``ratings.parquet``,
checks its values, and writes ``mos.parquet``, ``raters.parquet`` and the DVC metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_json
from icaa.pipeline.io import read_table, require_columns, write_tables
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.schemas import MOS, RATERS, RATINGS, TABLES, bounds
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = ["HEADLINE_METRICS", "run_mos"]

#: What the metrics JSON holds (a DVC metric: headline counts only; the rest is printed, reasons are in the
#: raters table).
HEADLINE_METRICS = ("raters", "raters_flagged")
_SUMMARY_FIGURES = ("method", "screens", "ratings_per_image", "min_ratings_for_spread")


def run_mos(ratings_parquet: Path | str, output: Path | str, *, raters: Path | str | None = None,
            metrics: Path | str | None = None, method: str = "robust", screens: tuple[str, ...] = ("bt500", "lazy"),
            **options: Any) -> StageSummary:
    """Write ``mos.parquet`` and ``raters.parquet`` (default beside ``output``), and with ``metrics`` the headline
    metrics JSON; ``options`` are ``icaa.annotation.mos.compute_mos`` keyword arguments.

    Example
    -------
    >>> run_mos("work/annotate/ratings.parquet", "work/mos/mos.parquet", metrics="metrics/mos.json")  # doctest: +SKIP
    """
    from icaa.annotation.mos import compute_mos

    clock = Stopwatch()
    raters_path = Path(raters) if raters else Path(output).with_name("raters.parquet")
    refuse_overwriting_inputs({"-o": output, "--raters": raters_path, "--metrics": metrics},
                              {"RATINGS_PARQUET": ratings_parquet})
    ratings = read_table(ratings_parquet)
    require_columns(ratings, list(TABLES["ratings"].needed), str(ratings_parquet))
    for name in ("color", "overall", "confidence"):
        low, high = bounds(RATINGS.field(name))
        bad = ratings[~ratings[name].between(low, high)]
        if len(bad):
            raise IcaaError(f"{ratings_parquet}: {len(bad)} rating(s) with {name} outside {low:g}..{high:g}, e.g. "
                            f"image {bad.iloc[0]['image_id']} by {bad.iloc[0]['rater']}: {bad.iloc[0][name]!r}; "
                            f"use the table written by `icaa-data annotate import`")
    mos, rater_table, summary = compute_mos(ratings, method=method, screens=tuple(screens), **options)
    write_tables((mos, output, MOS), (rater_table, raters_path, RATERS))
    if metrics:
        atomic_write_json(metrics, {key: summary[key] for key in HEADLINE_METRICS if key in summary})
    figures = {key: summary.pop(key) for key in _SUMMARY_FIGURES if key in summary}
    outputs = {"output": str(output), "raters_table": str(raters_path)} | ({"metrics": str(metrics)} if metrics else {})
    return StageSummary("mos", counts=summary, figures=figures, outputs=outputs, seconds=clock.seconds())

