"""``icaa-data fuse``: harmony + popularity -> coarse scores 1..10."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.cli._util import app, echo_summary
from icaa.pipeline.fuse import NORMALISATIONS, run_fuse

__all__ = ["fuse_command"]


@app.command("fuse", epilog="Example: icaa-data fuse work/harmony/colour.parquet work/crawl/popularity.parquet "
             "-o work/fuse/coarse.parquet --normalisation rank --weight-obj 0.5 --weight-subj 0.5. Own photos, "
             "no popularity: icaa-data fuse work/harmony/colour.parquet -o work/fuse/coarse.parquet")
def fuse_command(
    colour_parquet: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                   help="colour.parquet from harmony-score")],
    popularity_parquet: Annotated[Path | None, typer.Argument(
        exists=True, dir_okay=False, help="popularity.parquet from crawl popularity; leave it out to score from "
                                          "harmony alone (every row flagged harmony_only)")] = None,
    *,
    output: Annotated[Path, typer.Option("-o", "--output", help="coarse.parquet to write")],
    rejects: Annotated[Path | None, typer.Option(help="rejects table (default: fuse_rejects.parquet beside -o)")]
        = None,
    normalisation: Annotated[str, typer.Option(help=f"one of {', '.join(NORMALISATIONS)}")] = "rank",
    weight_obj: Annotated[float, typer.Option(help="weight of normalised harmony")] = 0.5,
    weight_subj: Annotated[float, typer.Option(help="weight of normalised faves/sqrt(views)")] = 0.5,
    on_missing_popularity: Annotated[str, typer.Option(
        help="harmony: score rows without usable popularity from harmony alone; drop: reject them")] = "harmony",
) -> None:
    """Fuse harmony (f_obj) and popularity faves/sqrt(views) (f_subj, ICAA17K Eq. 7) into coarse scores 1..10."""
    summary = run_fuse(colour_parquet, popularity_parquet, output, rejects=rejects, normalisation=normalisation,
                       weight_obj=weight_obj, weight_subj=weight_subj, on_missing_popularity=on_missing_popularity)
    echo_summary(summary)
