"""``icaa-data fuse``: harmony + popularity -> coarse scores 1..10."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from icaa.pipeline.cli._util import app, echo_summary
from icaa.pipeline.fuse import NORMALISATIONS, fuse_scores
from icaa.pipeline.io import read_table, write_table
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.schemas import COARSE, REJECTS

__all__ = ["run_fuse"]


def run_fuse(colour_parquet: Path | str, popularity_parquet: Path | str | None, output: Path | str, *,
             rejects: Path | str | None = None, normalisation: str = "rank", weight_obj: float = 0.5,
             weight_subj: float = 0.5, on_missing_popularity: str = "harmony") -> dict[str, Any]:
    """Write ``coarse.parquet`` (and its rejects table); return the summary. Without a popularity table every
    image is scored from harmony alone (flag ``harmony_only``)."""
    started = time.time()
    rejects_path = Path(rejects) if rejects else Path(output).with_name("fuse_rejects.parquet")
    refuse_overwriting_inputs({"-o": output, "--rejects": rejects_path},
                              {"COLOUR_PARQUET": colour_parquet, "POPULARITY_PARQUET": popularity_parquet})
    colour = read_table(colour_parquet)
    popularity = read_table(popularity_parquet) if popularity_parquet is not None else None
    coarse, rejected, summary = fuse_scores(colour, popularity, normalisation=normalisation, weight_obj=weight_obj,
                                            weight_subj=weight_subj, on_missing_popularity=on_missing_popularity)
    write_table(coarse, output, schema=COARSE)
    paths = colour.set_index("image_id")["path"] if "path" in colour.columns else pd.Series(dtype=object)
    write_table(pd.DataFrame({"image_id": rejected["image_id"],
                              "path": [paths.get(i) for i in rejected["image_id"]],
                              "stage": "fuse", "reason": rejected["reason"], "detail": rejected["detail"]}),
                rejects_path, schema=REJECTS)
    summary.update(output=str(output), rejects_table=str(rejects_path), seconds=round(time.time() - started, 2))
    return summary


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
    echo_summary("fuse", summary)
