"""``icaa-data scan``: describe every photo of a folder or manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from icaa.pipeline.cli._util import app, echo_summary, interrupted
from icaa.pipeline.scan import DEFAULT_EXTENSIONS, run_scan

__all__ = ["scan_command"]


@app.command("scan", epilog="Example: icaa-data scan data/demo -o work/scan/images.parquet --workers 2")
def scan_command(
    images_dir: Annotated[Path, typer.Argument(help="Image root: ids are paths relative to it.", exists=True,
                                               file_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="images.parquet to write.")],
    rejects: Annotated[Optional[Path], typer.Option(help="Rejected files (default: scan_rejects.parquet beside "
                                                    "the output).")] = None,
    manifest: Annotated[Optional[Path], typer.Option(help="CSV/Parquet with a 'path' or 'image_id' column "
                                                     "(relative to IMAGES_DIR) instead of walking the folder.",
                                                     exists=True, dir_okay=False)] = None,
    extensions: Annotated[str, typer.Option(help="Comma-separated file endings to scan.")] = ",".join(DEFAULT_EXTENSIONS),
    min_side_px: Annotated[int, typer.Option(help="Reject images whose shorter side is smaller.")] = 64,
    max_pixels: Annotated[int, typer.Option(help="Reject larger images undecoded (decompression bombs).")] = 100_000_000,
    near_duplicate_distance: Annotated[int, typer.Option(help="Max perceptual-hash Hamming distance of near "
                                                         "duplicates (-1: exact only).")] = 6,
    chunk_size: Annotated[int, typer.Option(help="Files per resumable chunk.")] = 64,
    workers: Annotated[int, typer.Option(help="Local workers: this process and N-1 child processes.")] = 1,
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address, tcp://HOST:PORT.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Describe each photo: id, hashes, size, format, EXIF camera, duplicate group; reject the rest with a reason."""
    try:
        summary = run_scan(images_dir, output, rejects=rejects, manifest=manifest, extensions=extensions,
                           min_side_px=min_side_px, max_pixels=max_pixels,
                           near_duplicate_distance=near_duplicate_distance, chunk_size=chunk_size, workers=workers,
                           scheduler=scheduler, progress=progress)
    except KeyboardInterrupt:
        raise interrupted("scan", output.parent / f".{output.stem}.parts", chunk_size) from None
    echo_summary(summary)
