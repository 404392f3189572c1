"""``icaa-data report``: one self-contained HTML report of the pool, the selection and the dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from icaa.pipeline.cli._util import app
from icaa.pipeline.io import atomic_write_text, read_table
from icaa.pipeline.report import render_report

__all__ = ["run_report"]


def run_report(coarse: Path | str, output: Path | str, *, selection: Path | str | None = None,
               dataset: Path | str | None = None, images: Path | str | None = None, bins: int = 10,
               extremes: int = 2) -> dict[str, Any]:
    """Write the HTML report; return the summary."""
    started = time.time()
    manifest = read_table(Path(dataset) / "manifest.parquet") if dataset else None
    text = render_report(read_table(coarse), selection=read_table(selection) if selection else None,
                         manifest=manifest, images=read_table(images) if images else None, bins=bins,
                         extremes=extremes)
    atomic_write_text(output, text)
    return {"output": str(output), "bytes": len(text.encode()), "seconds": round(time.time() - started, 2)}


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
    typer.echo("report:")
    for key, value in run_report(coarse, output, selection=selection, dataset=dataset, images=images, bins=bins,
                                 extremes=extremes).items():
        typer.echo(f"  {key}: {value}")
