"""``icaa-data report``: one self-contained HTML report of the pool, the selection and the dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from icaa.pipeline.cli._util import app
from icaa.pipeline.contracts import check_table
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import atomic_write_text, read_table
from icaa.pipeline.outputs import refuse_overwriting_inputs

__all__ = ["run_report"]


def run_report(coarse: Path | str, output: Path | str, *, selection: Path | str | None = None,
               dataset: Path | str | None = None, images: Path | str | None = None, bins: int = 10,
               extremes: int = 2) -> dict[str, Any]:
    """Write the HTML report; return the summary."""
    from icaa.pipeline.report import render_report

    started = time.time()
    manifest_path = Path(dataset) / "manifest.parquet" if dataset else None
    refuse_overwriting_inputs({"-o": output}, {"COARSE": coarse, "--selection": selection, "--images": images,
                                               "--dataset manifest": manifest_path})
    if manifest_path is not None and not manifest_path.is_file():
        raise IcaaError(f"--dataset {dataset} holds no manifest.parquet; give the folder that build wrote")
    tables = {}
    for kind, path in (("coarse", coarse), ("selection", selection), ("images", images),
                       ("manifest", manifest_path)):
        if path is not None:
            tables[kind] = read_table(path)
            check_table(tables[kind], kind, path)
    text = render_report(tables["coarse"], selection=tables.get("selection"), manifest=tables.get("manifest"),
                         images=tables.get("images"), bins=bins, extremes=extremes)
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
