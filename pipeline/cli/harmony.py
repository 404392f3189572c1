"""``icaa-data harmony-score``: colour class and harmony scores per image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from icaa.pipeline.cli._util import app
from icaa.pipeline.harmony import harmony_score

__all__ = ["harmony_score_command"]


@app.command("harmony-score",
             epilog="Example: icaa-data harmony-score work/scan/images.parquet -o work/harmony/colour.parquet "
                    "--images-root data/demo --workers 2")
def harmony_score_command(
    images: Annotated[Path, typer.Argument(help="images.parquet from scan.", exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="colour.parquet to write.")],
    rejects: Annotated[Optional[Path], typer.Option(help="rejects.parquet (default: beside the output).")] = None,
    images_root: Annotated[Optional[Path], typer.Option(help="Read each image at IMAGES_ROOT/image_id (refusing "
                                                        "paths outside it) instead of scan's absolute path.",
                                                        exists=True, file_okay=False)] = None,
    long_side_px: Annotated[int, typer.Option(help="Analyse at this long side (reduced-size decode).")] = 256,
    max_pixels: Annotated[int, typer.Option(help="Reject larger images undecoded.")] = 100_000_000,
    chroma_full_credit: Annotated[float, typer.Option(help="C*ab at which a pixel counts fully as colour.")] = 30.0,
    achromatic_chroma: Annotated[float, typer.Option(help="C*ab below which a pixel is black/gray/white.")] = 10.0,
    min_chromatic_fraction: Annotated[float, typer.Option(help="Below this chromatic share: black/gray/white.")] = 0.2,
    auxiliary_min_share: Annotated[float, typer.Option(help="Chromatic share the runner-up needs (tau_aux).")] = 0.2,
    achromatic_auxiliary_min_share: Annotated[float, typer.Option(help="Gray/white pixel share that makes "
                                                                  "achromatic the auxiliary.")] = 0.25,
    suppress_background: Annotated[bool, typer.Option(help="Down-weight plain white/black backdrops.")] = True,
    background_weight: Annotated[float, typer.Option(help="Weight of backdrop pixels.")] = 0.25,
    chunk_size: Annotated[int, typer.Option(help="Images per resumable chunk.")] = 32,
    workers: Annotated[int, typer.Option(help="Local worker processes.")] = 1,
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address, tcp://HOST:PORT.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Dominant and auxiliary colour, ICAA17K class (30 scores), hue-template, Ou-Luo and colourfulness scores."""
    summary = harmony_score(
        images, output, rejects_output=rejects, images_root=images_root, long_side_px=long_side_px,
        max_pixels=max_pixels, chunk_size=chunk_size, workers=workers, scheduler=scheduler or None, progress=progress,
        chroma_full_credit=chroma_full_credit, achromatic_chroma=achromatic_chroma,
        min_chromatic_fraction=min_chromatic_fraction, auxiliary_min_share=auxiliary_min_share,
        achromatic_auxiliary_min_share=achromatic_auxiliary_min_share, suppress_background=suppress_background,
        background_weight=background_weight)
    rejected = ", ".join(f"{reason} {count}" for reason, count in summary.rejects_by_reason.items()) or "none"
    top = ", ".join(f"{name} {count}" for name, count in sorted(summary.categories.items(), key=lambda kv: -kv[1])[:5])
    typer.echo(f"harmony-score: {summary.images_in} images in, {summary.scored} scored; rejects: {rejected}; "
               f"top classes: {top or 'none'}; {summary.seconds:.1f} s; wrote {', '.join(summary.outputs)}")
