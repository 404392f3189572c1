"""``icaa-data build``: the published dataset, in ICAA17K's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.cli._util import app, echo_summary

__all__ = ["build_command"]


@app.command("build", epilog="Example: icaa-data build --selection work/balance/selection.parquet "
             "--mos work/mos/mos.parquet --images work/scan/images.parquet --extra work/crawl/popularity.parquet "
             "-o dataset --licences 4,5,9,10")
def build_command(
    selection: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="selection.parquet from balance")],
    mos: Annotated[Path, typer.Option(exists=True, dir_okay=False, help=(
        "MOS table, Parquet (mos.parquet from icaa-data mos) or CSV (your own ratings): image_id, color, MOS, "
        "probability."))],
    images: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="images.parquet from scan (path, sha256)")],
    output_dir: Annotated[Path, typer.Option("-o", "--output", help="dataset folder to write (new or empty; "
                                                                    "see --overwrite)")],
    extra: Annotated[list[Path] | None, typer.Option(exists=True, dir_okay=False,
                                                     help="more per-image tables for the manifest (repeatable)")]
        = None,
    train_fraction: Annotated[float, typer.Option(help="share of photos in train")] = 0.8,
    val_fraction: Annotated[float, typer.Option(help="share of photos in val")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="share of photos in test")] = 0.1,
    seed: Annotated[int, typer.Option(help="split seed")] = 0,
    bins: Annotated[int, typer.Option(help="colour-score bins used to stratify")] = 10,
    min_probability: Annotated[float, typer.Option(help="keep rows whose mean confidence reaches this")] = 0.5,
    link: Annotated[bool, typer.Option("--link", help="hard-link images instead of copying them: saves space, "
                                                      "but a hard link IS the original photo, so editing a dataset "
                                                      "image edits the original")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace the dataset an earlier build wrote in "
                                                                "--output (refused if it holds other files)")]
        = False,
    licences: Annotated[str | None, typer.Option(
        help="licences to ship: Flickr ids and/or licence names, comma-separated, or 'any' [default: 4,5,7,8,9,10, "
             "the Flickr licences that allow redistribution in a dataset]", show_default=False)] = None,
) -> None:
    """Write the dataset in ICAA17K's layout with a photo-grouped split, manifest.parquet and DATASHEET.md."""
    from icaa.pipeline.build import run_build

    echo_summary(run_build(selection, mos, images, output_dir, extra=extra, train_fraction=train_fraction,
                           val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, bins=bins,
                           min_probability=min_probability, link=link, overwrite=overwrite, licences=licences))
