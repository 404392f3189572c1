"""The ``harmony-score`` stage: colour class, dominant/auxiliary colours and harmony scores per image.

Shell around the pure functions of :mod:`icaa.pipeline.colour`: reads ``images.parquet`` (from
``scan``), decodes each image at reduced size (:mod:`icaa.pipeline.decode`), analyses it, and writes
``colour.parquet`` (scan's ``photo_key`` carried over) and ``rejects.parquet`` through resumable chunks
(local processes or Dask). Its tables are Arrow tables from end to end: no pandas frame is built or
converted per chunk.
"""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from icaa.pipeline import colour_tables, rejects as codes
from icaa.pipeline.arrow_arrays import array_from_values, table_from_rows
from icaa.pipeline.categories import HUE_FAMILIES, ICAA17K_CATEGORIES, class_score_column
from icaa.pipeline.colour import analyse_colours
from icaa.pipeline.colour.dominant import FAMILY_FROM
from icaa.pipeline.colour.naming import ACHROMATIC_LEVELS, FAMILY_UPPER_DEG, tone_index
from icaa.pipeline.contracts import check_table
from icaa.pipeline.decode import DecodeError, decode_for_colour
from icaa.common.errors import IcaaError
from icaa.common.files import is_inside
from icaa.pipeline.io import read_arrow_table, write_tables
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.partitions import code_fingerprint, fingerprint, run_partitioned
from icaa.pipeline.schemas import COLOUR, COLOUR_PARTS, REJECTS
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = ["ANALYSIS_DEFAULTS", "WORKER_PRELOAD", "check_analysis_options", "load_analysis_options", "score_chunk",
           "score_image", "run_harmony_score"]

#: What local workers need loaded besides this module: the analysis's lookup tables, built once.
WORKER_PRELOAD = ("icaa.pipeline.colour.preload",)

#: Every threshold of the analysis: the keyword arguments of ``analyse_colours`` with its own defaults
#: (``params.yaml`` section ``harmony-score.analysis``), so the two cannot drift apart.
ANALYSIS_DEFAULTS: dict[str, object] = {
    name: parameter.default for name, parameter in inspect.signature(analyse_colours).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
_TONE_THRESHOLDS = {name for name, parameter in inspect.signature(tone_index).parameters.items()
                    if parameter.kind is inspect.Parameter.KEYWORD_ONLY}


def _is_nan(value) -> bool:
    return isinstance(value, (float, np.floating)) and value != value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_analysis_options(options: dict) -> dict:
    """Validate analysis thresholds (names and types) and return them; raise IcaaError naming every problem."""
    problems = []
    for name, value in options.items():
        if name not in ANALYSIS_DEFAULTS:
            problems.append(f"unknown option {name!r}")
            continue
        default = ANALYSIS_DEFAULTS[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif _is_number(default):
            ok = _is_number(value)
        elif name == "family_hue":
            ok = value in FAMILY_UPPER_DEG
        elif name == "family_from":
            ok = value in FAMILY_FROM
        elif name == "achromatic_auxiliary_levels":
            ok = isinstance(value, (list, tuple)) and all(level in ACHROMATIC_LEVELS for level in value)
        elif name == "family_upper_deg":
            ok = value is None or (isinstance(value, dict) and set(value) <= set(HUE_FAMILIES)
                                   and all(_is_number(v) for v in value.values()))
        elif name == "tone_thresholds":
            ok = value is None or (isinstance(value, dict) and set(value) <= _TONE_THRESHOLDS
                                   and all(_is_number(v) for v in value.values()))
        else:
            ok = True
        if not ok:
            problems.append(f"{name}={value!r} (default {default!r})")
    if problems:
        raise IcaaError(f"bad harmony-score analysis option(s): {'; '.join(problems)}. Known options: "
                        f"{', '.join(ANALYSIS_DEFAULTS)}; tone_thresholds keys: {', '.join(sorted(_TONE_THRESHOLDS))}; "
                        f"family_upper_deg keys: {', '.join(HUE_FAMILIES)}; family_hue: {', '.join(FAMILY_UPPER_DEG)}; "
                        f"family_from: {', '.join(FAMILY_FROM)}")
    return dict(options)


def load_analysis_options(path: Path | str, key: str = "harmony-score.analysis") -> dict:
    """The analysis thresholds stored under the dotted ``key`` of a YAML file (such as ``params.yaml``)."""
    import yaml

    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise IcaaError(f"cannot read analysis options from {path}: {error}") from None
    node = document
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise IcaaError(f"{path} has no mapping at {key!r} (missing {part!r})")
        node = node[part]
    if not isinstance(node, dict):
        raise IcaaError(f"{path}: {key!r} must be a mapping of option: value, got {type(node).__name__}")
    return check_analysis_options(node)


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
        **analysis.harmony,
    }
    for category in ICAA17K_CATEGORIES:
        row[class_score_column(category)] = analysis.class_scores[category]
    return row


def score_chunk(rows: pa.Table, *, images_root: str | None = None, long_side_px: int = 96,
                max_pixels: int = 100_000_000, analysis: dict | None = None) -> dict[str, pa.Table]:
    """Chunk core: decode and score each listed image (``image_id``, ``path``), or reject it with a reason."""
    import cv2

    cv2.setNumThreads(1)  # parallelism comes from worker processes, not from OpenCV's pool
    root = Path(images_root).resolve() if images_root else None
    kept, rejected = [], []
    for image_id, listed_path in zip(rows.column("image_id").to_pylist(), rows.column("path").to_pylist()):
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
        row = score_image(rgb, **(analysis or {}))
        # A measure with nothing to measure (no hue, no second colour) says NaN; the table says null.
        kept.append({"image_id": image_id, **{name: None if _is_nan(value) else value for name, value in row.items()}})
    return {"colour": table_from_rows(kept, COLOUR_PARTS), "rejects": table_from_rows(rejected, REJECTS)}


def _as_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` as strings; a string column as it is (a cast loads pyarrow.compute, 20-30 ms of start-up)."""
    return column if pa.types.is_string(column.type) else column.cast(pa.string())


def _listing(table: pa.Table) -> pa.Table:
    """``image_id`` and ``path`` (strings; path null with --images-root and no path column), one row per id
    (its first), sorted by id."""
    ids = np.asarray(_as_strings(table.column("image_id")).to_pylist(), dtype=object)
    paths = (_as_strings(table.column("path")).to_pylist() if "path" in table.column_names
             else [None] * len(ids))
    _, first = np.unique(ids, return_index=True)  # sorted ids, each at its first row
    return pa.table({"image_id": array_from_values(ids[first].tolist(), pa.string()),
                     "path": array_from_values([paths[i] for i in first], pa.string())})


def _photo_key_by_id(table: pa.Table) -> dict[str, str]:
    """Scan's ``photo_key`` of each image id; derived as scan derives it where the table lacks the column."""
    ids = [str(value) for value in table.column("image_id").to_pylist()]
    keys = table.column("photo_key").to_pylist() if "photo_key" in table.column_names else [None]
    if any(key is None for key in keys):
        from icaa.pipeline.photos import photo_keys  # pandas: only for a table scan did not write

        keys = photo_keys(table.to_pandas()).tolist()
    by_id: dict[str, str] = {}
    for image_id, key in zip(ids, keys):
        by_id.setdefault(image_id, str(key))
    return by_id


def run_harmony_score(images: Path | str, output: Path | str, *, rejects: Path | str | None = None,
                      images_root: Path | str | None = None, long_side_px: int = 96, max_pixels: int = 100_000_000,
                      analysis_params: Path | str | None = None, analysis_key: str = "harmony-score.analysis",
                      chunk_size: int = 64, workers: int = 1, scheduler: str | None = None,
                      work_dir: Path | str | None = None, progress: bool = True,
                      **analysis_options) -> StageSummary:
    """Score every image of ``images`` (scan's table) into ``colour.parquet`` and the harmony rejects table.

    ``rejects`` defaults to ``harmony_rejects.parquet`` beside ``output``. The analysis thresholds are those
    stored under ``analysis_key`` in the YAML file ``analysis_params`` (such as ``params.yaml``), overridden by
    ``analysis_options`` (names of ``ANALYSIS_DEFAULTS``; unknown names or wrong types raise IcaaError).
    With ``images_root``, each image is read at ``images_root/image_id`` instead of scan's absolute path.

    Example
    -------
    >>> run_harmony_score("work/scan/images.parquet", "work/harmony/colour.parquet", workers=2)  # doctest: +SKIP
    """
    clock = Stopwatch()
    output = Path(output)
    rejects = Path(rejects) if rejects else output.with_name("harmony_rejects.parquet")
    refuse_overwriting_inputs({"-o": output, "--rejects": rejects},
                              {"IMAGES": images, "--analysis-params": analysis_params})
    table = read_arrow_table(images, columns=["image_id", "path", "photo_key", "duplicate_of"])
    check_table(table, "images", images, needed=["image_id"] + ([] if images_root else ["path"]))
    analysis_options = {**(load_analysis_options(analysis_params, analysis_key) if analysis_params else {}),
                        **analysis_options}
    check_analysis_options(analysis_options)
    analysis_px = analysis_options.get("analysis_long_side_px", ANALYSIS_DEFAULTS["analysis_long_side_px"])
    if long_side_px < analysis_px:
        raise IcaaError(f"long_side_px {long_side_px} is below the analysis size analysis_long_side_px {analysis_px}: "
                        f"decode at least as large as the analysis")
    listing = _listing(table)
    if len(listing) == 0:  # refused before any work: nothing written
        raise IcaaError(f"{images} lists no images; run scan on a folder of photos first")
    analysis = {**ANALYSIS_DEFAULTS, **analysis_options}
    options = {"images_root": str(images_root) if images_root else None, "long_side_px": long_side_px,
               "max_pixels": max_pixels, "analysis": analysis}
    work_dir = Path(work_dir) if work_dir else output.parent / f".{output.stem}.parts"
    identity = fingerprint(listing.column("image_id").to_pylist(),
                           [str(path) for path in listing.column("path").to_pylist()], options,
                           code_fingerprint("icaa.pipeline.colour", "icaa.pipeline.decode", __name__))
    if not scheduler:
        colour_tables.build()  # before this process analyses an image or forks its workers
    tables = run_partitioned(listing, score_chunk, schemas={"colour": COLOUR_PARTS, "rejects": REJECTS},
                             work_dir=work_dir, chunk_size=chunk_size, workers=workers, scheduler=scheduler or None,
                             options=options, run_fingerprint=identity, description="harmony-score",
                             progress=progress, preload=WORKER_PRELOAD)
    colour = tables["colour"]
    keys = _photo_key_by_id(table)
    colour = colour.append_column("photo_key", array_from_values(
        [keys[i] for i in colour.column("image_id").to_pylist()], pa.string()))
    write_tables((colour, output, COLOUR), (tables["rejects"], rejects, REJECTS))
    rejects_by_reason = dict(sorted(Counter(tables["rejects"].column("reason").to_pylist()).items()))
    if len(colour) == 0:
        rejected = ", ".join(f"{reason} {count}" for reason, count in rejects_by_reason.items()) or "none"
        where = (f"under --images-root {images_root}" if images_root else "at the paths scan recorded")
        raise IcaaError(f"none of the {len(listing)} images could be scored {where} (rejects: {rejected}, "
                        f"listed in {rejects}); is --images-root the folder scan read?")
    return StageSummary(
        "harmony-score",
        counts={"images_in": len(listing), "scored": len(colour), "rejects_by_reason": rejects_by_reason,
                "categories": dict(sorted(Counter(colour.column("category").to_pylist()).items()))},
        outputs={"output": str(output), "rejects_table": str(rejects)}, seconds=clock.seconds())
