"""``icaa-data mos``: ratings -> per-image MOS with rater screening."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from icaa.pipeline.cli._util import app, echo_summary
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import atomic_write_json, read_table, require_columns, write_table
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.schemas import MOS, RATERS, RATINGS, TABLES, bounds

__all__ = ["run_mos"]


def run_mos(ratings_parquet: Path | str, output: Path | str, *, raters: Path | str | None = None,
            metrics: Path | str | None = None, method: str = "robust", screens: tuple[str, ...] = ("bt500", "lazy"),
            **options: Any) -> dict[str, Any]:
    """Write mos.parquet (and raters.parquet, metrics JSON); ``options`` are ``compute_mos`` keyword arguments."""
    from icaa.annotation.mos import compute_mos
    started = time.time()
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
    write_table(mos, output, schema=MOS)
    write_table(rater_table, raters_path, schema=RATERS)
    summary.update(output=str(output), raters_table=str(raters_path), seconds=round(time.time() - started, 2))
    if metrics:  # a DVC metric: headline counts only (the rest is printed; reasons are in the raters table)
        atomic_write_json(metrics, {key: summary[key] for key in ("raters", "raters_flagged") if key in summary})
    return summary


@app.command("mos", epilog="Example: icaa-data mos work/annotate/ratings.parquet -o work/mos/mos.parquet "
             "--raters work/mos/raters.parquet --method robust --screens bt500,lazy")
def mos_command(
    ratings_parquet: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                    help="ratings.parquet from annotate import")],
    output: Annotated[Path, typer.Option("-o", "--output", help="mos.parquet to write")],
    raters: Annotated[Path | None, typer.Option(help="raters.parquet: verdicts and reasons (default: beside -o)")]
        = None,
    metrics: Annotated[Path | None, typer.Option(help="summary JSON (e.g. metrics/mos.json)")] = None,
    method: Annotated[str, typer.Option(help="robust (subject mixture, default) | mean | sureal_mle_co_ap2")]
        = "robust",
    screens: Annotated[str, typer.Option(
        help="comma-separated rater screens: bt500, lazy (none: --screens none)")] = "bt500,lazy",
    flagged_weight: Annotated[float, typer.Option(help="weight of a flagged rater's ratings (0 drops)")] = 0.7,
    min_mean_confidence: Annotated[float, typer.Option(help="paper's filter: confidence_ok = mean >= this")] = 0.5,
    lazy_max_middle_share: Annotated[float, typer.Option(help="lazy if share of 5-6 answers above")] = 0.6,
    lazy_min_std: Annotated[float, typer.Option(help="lazy if score SD below")] = 1.0,
    lazy_min_loo_srcc: Annotated[float, typer.Option(help="lazy if leave-one-out SRCC below")] = 0.5,
    lazy_min_median_lead_time_s: Annotated[float, typer.Option(help="lazy if median lead time (s) below")] = 2.0,
    min_ratings_per_rater: Annotated[int, typer.Option(help="screens skip raters with fewer ratings")] = 10,
    fit_scale: Annotated[bool, typer.Option(help="robust: fit a per-rater scale as well as the offset")] = False,
    lazy_segments: Annotated[int, typer.Option(help="robust: parts of a rater's sequence with their own "
                                                    "middle-answer probability")] = 1,
    min_ratings_for_spread: Annotated[int, typer.Option(
        help="images with fewer ratings get no SD and no interval (NaN)")] = 3,
) -> None:
    """Per-image colour and overall MOS, SDs, 95 % intervals and raters kept, with each rater's verdict.

    SDs and intervals are NaN for an image with fewer than --min-ratings-for-spread ratings.
    """
    chosen = tuple(s.strip() for s in screens.split(",") if s.strip() and s.strip() != "none")
    summary = run_mos(ratings_parquet, output, raters=raters, metrics=metrics, method=method, screens=chosen,
                      flagged_weight=flagged_weight, min_mean_confidence=min_mean_confidence,
                      lazy_max_middle_share=lazy_max_middle_share, lazy_min_std=lazy_min_std,
                      lazy_min_loo_srcc=lazy_min_loo_srcc, lazy_min_median_lead_time_s=lazy_min_median_lead_time_s,
                      min_ratings_per_rater=min_ratings_per_rater, fit_scale=fit_scale, lazy_segments=lazy_segments,
                      min_ratings_for_spread=min_ratings_for_spread)
    echo_summary("mos", summary)
