"""``icaa-data mos``: ratings -> per-image MOS with rater screening."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.cli._util import app, echo_summary

__all__ = ["mos_command"]


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
    from icaa.pipeline.mos import run_mos

    chosen = tuple(s.strip() for s in screens.split(",") if s.strip() and s.strip() != "none")
    summary = run_mos(ratings_parquet, output, raters=raters, metrics=metrics, method=method, screens=chosen,
                      flagged_weight=flagged_weight, min_mean_confidence=min_mean_confidence,
                      lazy_max_middle_share=lazy_max_middle_share, lazy_min_std=lazy_min_std,
                      lazy_min_loo_srcc=lazy_min_loo_srcc, lazy_min_median_lead_time_s=lazy_min_median_lead_time_s,
                      min_ratings_per_rater=min_ratings_per_rater, fit_scale=fit_scale, lazy_segments=lazy_segments,
                      min_ratings_for_spread=min_ratings_for_spread)
    echo_summary(summary)
