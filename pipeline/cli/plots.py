"""``icaa-data plots``: render the dvc.yaml plots (score histograms, training curves) offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.cli._util import app
from icaa.pipeline.plots import render_dvc_plots

__all__ = ["plots_command"]


@app.command("plots", epilog="Example: icaa-data plots -o plots/  (then open plots/index.html)")
def plots_command(
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Folder for the SVGs and index.html.")]
        = Path("plots"),
    repo: Annotated[Path, typer.Option(exists=True, file_okay=False, help="DVC repository (holds dvc.yaml).")]
        = Path("."),
) -> None:
    """Render the plots declared in dvc.yaml to SVG and a self-contained HTML page, with no network.

    `dvc plots show` loads Vega from a CDN; this uses the same specs and data, rendered locally.
    """
    summary = render_dvc_plots(repo, out)
    typer.echo(f"rendered {len(summary['plots'])} plots ({', '.join(summary['plots']) or 'none'}) -> {summary['index']}")
    if summary["empty"]:
        typer.echo(f"no data yet for: {', '.join(summary['empty'])} (run dvc repro first)")
