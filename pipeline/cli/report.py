"""``icaa-data report``: one self-contained HTML report of the pool, the selection and the dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.cli._util import app, echo_summary

__all__ = ["report_command"]


@app.command("report", epilog="Example: icaa-data report work/fuse/coarse.parquet --selection "
             "work/balance/selection.parquet --dataset dataset --images work/scan/images.parquet -o reports/report.html")
def report_command(
    coarse: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="coarse.parquet from fuse")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write")],
    selection: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="selection.parquet")] = None,
    dataset: Annotated[Path | None, typer.Option(exists=True, file_okay=False, help="dataset folder of build")] = None,
    images: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="images.parquet from scan")] = None,
    bins: Annotated[int, typer.Option(help="coarse-score bins in the histograms")] = 10,
    extremes: Annotated[int, typer.Option(help="thumbnails at each end per class")] = 2,
) -> None:
    """Write one self-contained HTML report (plots and thumbnails embedded)."""
    from icaa.pipeline.report import run_report

    echo_summary(run_report(coarse, output, selection=selection, dataset=dataset, images=images, bins=bins,
                            extremes=extremes))
