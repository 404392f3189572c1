"""``icaa-data harmony-score``: colour class and harmony scores per image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from icaa.pipeline.cli._util import app, echo_summary, interrupted

__all__ = ["harmony_score_command", "WORKER_MODULES"]

#: What the workers need loaded: harmony-score's chunk module and its ``WORKER_PRELOAD``.
WORKER_MODULES = ("icaa.pipeline.harmony", "icaa.pipeline.colour.preload")


@app.command("harmony-score",
             epilog="Example: icaa-data harmony-score work/scan/images.parquet -o work/harmony/colour.parquet "
                    "--images-root data/demo --workers 2 --analysis-params params.yaml")
def harmony_score_command(
    images: Annotated[Path, typer.Argument(help="images.parquet from scan.", exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="colour.parquet to write.")],
    rejects: Annotated[Optional[Path], typer.Option(help="Rejected images (default: harmony_rejects.parquet "
                                                    "beside the output).")] = None,
    images_root: Annotated[Optional[Path], typer.Option(help="Read each image at IMAGES_ROOT/image_id (refusing "
                                                        "paths outside it) instead of scan's absolute path.",
                                                        exists=True, file_okay=False)] = None,
    long_side_px: Annotated[int, typer.Option(
        help="Decode at this long side (reduced-size decode), at least the analysis size.")] = 96,
    max_pixels: Annotated[int, typer.Option(help="Reject larger images undecoded.")] = 100_000_000,
    analysis_params: Annotated[Optional[Path], typer.Option(
        help="YAML file with analysis thresholds (any keyword of analyse_colours) under --analysis-key, "
             "e.g. params.yaml.", exists=True, dir_okay=False)] = None,
    analysis_key: Annotated[str, typer.Option(help="Dotted key of the thresholds in --analysis-params.")]
        = "harmony-score.analysis",
    chroma_full_credit: Annotated[Optional[float], typer.Option(
        help="C*ab at which a pixel counts fully as colour [default 30; overrides the file].")] = None,
    achromatic_chroma: Annotated[Optional[float], typer.Option(
        help="C*ab below which a pixel is black/gray/white [default 10].")] = None,
    min_chromatic_fraction: Annotated[Optional[float], typer.Option(
        help="Below this chromatic share: black/gray/white [default 0.2].")] = None,
    auxiliary_min_share: Annotated[Optional[float], typer.Option(
        help="Chromatic share the runner-up needs (tau_aux) [default 0.2].")] = None,
    suppress_background: Annotated[Optional[bool], typer.Option(
        "--suppress-background/--no-suppress-background",
        help="Down-weight plain white/black backdrops [default on].", show_default=False)] = None,
    chunk_size: Annotated[int, typer.Option(help="Images per resumable chunk.")] = 64,
    workers: Annotated[int, typer.Option(help="Local workers: this process and N-1 child processes.")] = 1,
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address, tcp://HOST:PORT.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Dominant and auxiliary colour, ICAA17K class (30 scores), hue-template, Ou-Luo and colourfulness scores."""
    if not scheduler:
        from icaa.pipeline.colour_tables import build_in_background
        from icaa.pipeline.worker_start import start_early

        build_in_background()  # OpenCV's CIELAB tables build on another core while this process imports
        if workers > 1:
            start_early(WORKER_MODULES)  # a fork server's imports too, where workers come from one
    from icaa.pipeline.harmony import run_harmony_score  # OpenCV, pyarrow load here, not for --help

    overrides = {"chroma_full_credit": chroma_full_credit, "achromatic_chroma": achromatic_chroma,
                 "min_chromatic_fraction": min_chromatic_fraction, "auxiliary_min_share": auxiliary_min_share,
                 "suppress_background": suppress_background}
    try:
        summary = run_harmony_score(
            images, output, rejects=rejects, images_root=images_root, long_side_px=long_side_px,
            max_pixels=max_pixels, analysis_params=analysis_params, analysis_key=analysis_key, chunk_size=chunk_size,
            workers=workers, scheduler=scheduler, progress=progress,
            **{name: value for name, value in overrides.items() if value is not None})
    except KeyboardInterrupt:
        raise interrupted("harmony-score", output.parent / f".{output.stem}.parts", chunk_size) from None
    echo_summary(summary)
