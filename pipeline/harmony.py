"""The ``harmony-score`` stage: colour class, dominant/auxiliary colours and harmony scores per image.

Shell around the pure functions of :mod:`icaa.pipeline.colour`: reads ``images.parquet`` (from
``scan``), decodes each image at reduced size (:mod:`icaa.pipeline.decode`), analyses it, and writes
``colour.parquet`` and ``rejects.parquet`` through resumable chunks (local processes or Dask).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from icaa.pipeline import rejects as codes
from icaa.pipeline.categories import ICAA17K_CATEGORIES, class_score_column
from icaa.pipeline.colour import analyse_colours
from icaa.pipeline.colour.templates import TEMPLATES
from icaa.pipeline.decode import DecodeError, decode_for_colour
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import is_inside, read_table, require_columns, write_table
from icaa.pipeline.partitions import fingerprint, run_partitioned
from icaa.pipeline.schemas import COLOUR, REJECTS

__all__ = ["ANALYSIS_DEFAULTS", "HarmonySummary", "score_chunk", "score_image", "harmony_score"]

_ANALYSIS_PARAMETERS = ("chroma_full_credit", "achromatic_chroma", "black_below_lightness", "white_above_lightness",
                        "min_chromatic_fraction", "auxiliary_min_share", "achromatic_auxiliary_min_share",
                        "chromatic_auxiliary_min_fraction", "suppress_background", "background_weight",
                        "grey_mean_saturation")
#: The analysis thresholds exposed as parameters (``params.yaml`` section ``harmony-score``), with the
#: defaults of ``analyse_colours`` itself, so the two cannot drift apart.
ANALYSIS_DEFAULTS: dict[str, float | bool] = {
    name: inspect.signature(analyse_colours).parameters[name].default for name in _ANALYSIS_PARAMETERS}


def score_image(rgb: np.ndarray, **analysis_options) -> dict:
    """One output row (without ``image_id``) for a decoded sRGB image."""
    analysis = analyse_colours(rgb, **analysis_options)
    row = {
        "category": analysis.category,
        "category_confidence": analysis.category_confidence,
        "dominant": analysis.dominant,
        "auxiliary": analysis.auxiliary,
        "dominant_share": analysis.dominant_share,
        "auxiliary_share": analysis.auxiliary_share,
        "chromatic_fraction": analysis.chromatic_fraction,
        "background_fraction": analysis.background_fraction,
        "ryb12_dominant": analysis.ryb12_dominant,
        "ryb12_auxiliary": analysis.ryb12_auxiliary,
        "dominant_lab": list(analysis.dominant_lab) if analysis.dominant_lab else None,
        "auxiliary_lab": list(analysis.auxiliary_lab) if analysis.auxiliary_lab else None,
        "harmony_template": analysis.template,
        "harmony_template_rotation_deg": analysis.template_rotation_deg,
        "harmony_template_distance_deg": analysis.template_distance_deg,
        "harmony_template_score": analysis.harmony_template_score,
        "harmony_ou_luo": analysis.harmony_ou_luo,
        "colourfulness_m3": analysis.colourfulness,
    }
    for name in TEMPLATES:
        row[f"template_distance_{name}_deg"] = analysis.template_distances_deg.get(name, float("nan"))
    for category in ICAA17K_CATEGORIES:
        row[class_score_column(category)] = analysis.class_scores[category]
    return row


def score_chunk(rows: pd.DataFrame, *, images_root: str | None = None, long_side_px: int = 256,
                max_pixels: int = 100_000_000, analysis: dict | None = None) -> dict[str, pd.DataFrame]:
    """Chunk core: decode and score each listed image, or reject it with a reason."""
    import cv2

    cv2.setNumThreads(1)  # parallelism comes from worker processes, not from OpenCV's pool
    root = Path(images_root).resolve() if images_root else None
    kept, rejected = [], []
    for image_id, listed_path in zip(rows["image_id"], rows["path"]):
        if root is not None:
            path = (root / image_id).resolve()
            if not is_inside(root, path):
                rejected.append({"image_id": image_id, "path": str(path), "stage": "harmony-score",
                                 "reason": codes.OUTSIDE_ROOT, "detail": f"outside {root}"})
                continue
        else:
            path = Path(listed_path)
        try:
            rgb = decode_for_colour(path, long_side_px=long_side_px, max_pixels=max_pixels)
        except DecodeError as error:
            rejected.append({"image_id": image_id, "path": str(path), "stage": "harmony-score",
                             "reason": error.reason, "detail": error.detail})
            continue
        kept.append({"image_id": image_id, **score_image(rgb, **(analysis or {}))})
    return {"colour": pd.DataFrame(kept), "rejects": pd.DataFrame(rejected)}


@dataclass
class HarmonySummary:
    """What a harmony-score run did."""

    images_in: int
    scored: int
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)


def harmony_score(images: Path | str, output: Path | str, *, rejects_output: Path | str | None = None,
                  images_root: Path | str | None = None, long_side_px: int = 256, max_pixels: int = 100_000_000,
                  chunk_size: int = 32, workers: int = 1, scheduler: str | None = None,
                  work_dir: Path | str | None = None, progress: bool = True, **analysis_options) -> HarmonySummary:
    """Score every image of ``images`` (scan's table) into ``colour.parquet`` and ``rejects.parquet``.

    ``analysis_options`` are the thresholds of ``ANALYSIS_DEFAULTS``; unknown names raise IcaaError.

    Example
    -------
    >>> harmony_score("work/scan/images.parquet", "work/harmony/colour.parquet", workers=2)  # doctest: +SKIP
    """
    unknown = sorted(set(analysis_options) - set(ANALYSIS_DEFAULTS))
    if unknown:
        raise IcaaError(f"unknown harmony-score option(s) {', '.join(unknown)}; expected {', '.join(ANALYSIS_DEFAULTS)}")
    started = time.perf_counter()
    output = Path(output)
    rejects_output = Path(rejects_output) if rejects_output else output.with_name("rejects.parquet")
    table = read_table(images)
    require_columns(table, ["image_id"] + ([] if images_root else ["path"]), str(images))
    if "path" not in table.columns:
        table["path"] = None
    listing = table[["image_id", "path"]].drop_duplicates("image_id").sort_values("image_id", kind="stable")
    listing = listing.reset_index(drop=True)
    analysis = {**ANALYSIS_DEFAULTS, **analysis_options}
    options = {"images_root": str(images_root) if images_root else None, "long_side_px": long_side_px,
               "max_pixels": max_pixels, "analysis": analysis}
    work_dir = Path(work_dir) if work_dir else output.parent / f".{output.stem}.parts"
    identity = fingerprint(listing["image_id"].tolist(), listing["path"].astype(str).tolist(), options, "harmony-v1")
    tables = run_partitioned(listing, score_chunk, schemas={"colour": COLOUR, "rejects": REJECTS},
                             work_dir=work_dir, chunk_size=chunk_size, workers=workers, scheduler=scheduler,
                             options=options, run_fingerprint=identity, description="harmony-score",
                             progress=progress)
    write_table(tables["colour"], output, schema=COLOUR)
    write_table(tables["rejects"], rejects_output, schema=REJECTS)
    return HarmonySummary(
        images_in=len(listing), scored=len(tables["colour"]),
        rejects_by_reason=tables["rejects"]["reason"].value_counts().sort_index().to_dict(),
        categories=tables["colour"]["category"].value_counts().sort_index().to_dict(),
        seconds=time.perf_counter() - started, outputs=[str(output), str(rejects_output)],
    )
