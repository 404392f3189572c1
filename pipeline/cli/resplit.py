"""``icaa-data resplit``: the ICAA17K release, split again by photo, leak-free."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.cli._util import app, echo_summary

__all__ = ["resplit_command"]


@app.command("resplit", epilog="Example: icaa-data resplit ../shared/reference/icaa17k -o work/icaa17k_resplit "
             "--seed 0")
def resplit_command(
    csv_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                            help="folder with 1all.csv (or all.csv, or train+test CSVs)")],
    output_dir: Annotated[Path, typer.Option("-o", "--output", help="folder for train.csv, val.csv, test.csv")],
    images_root: Annotated[Path | None, typer.Option(exists=True, file_okay=False,
                                                     help="image root: also group by sha256 of the files")] = None,
    train_fraction: Annotated[float, typer.Option(help="share of photos in train")] = 0.8,
    val_fraction: Annotated[float, typer.Option(help="share of photos in val")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="share of photos in test")] = 0.1,
    seed: Annotated[int, typer.Option(help="split seed")] = 0,
) -> None:
    """Re-split ICAA17K by photo: report the input split's leaks and write a leak-free split."""
    from icaa.pipeline.resplit import run_resplit

    echo_summary(run_resplit(csv_dir, output_dir, images_root=images_root, train_fraction=train_fraction,
                             val_fraction=val_fraction, test_fraction=test_fraction, seed=seed))
