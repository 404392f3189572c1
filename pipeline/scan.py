"""The ``scan`` stage: list a folder or manifest of photos and describe each file.

Per file: a stable ``image_id`` (path relative to the image root, POSIX separators), SHA-256,
perceptual hash, size, format, mode, EXIF camera, and duplicate groups (exact by SHA-256, near by
perceptual-hash Hamming distance), and the ``photo_key`` of the photo each shows
(:mod:`icaa.pipeline.photos`). Files that cannot be used go to ``rejects`` with a code from
:mod:`icaa.pipeline.rejects`; the run goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icaa.pipeline import rejects as codes
from icaa.pipeline.decode import DecodeError, open_image
from icaa.common.errors import IcaaError
from icaa.common.files import file_sha256, is_inside, relative_id
from icaa.pipeline.io import read_table, write_tables
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.partitions import fingerprint, run_partitioned
from icaa.pipeline.photos import assign_photo_keys, first_of_group, group_rows
from icaa.pipeline.schemas import IMAGES, REJECTS
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = [
    "DEFAULT_EXTENSIONS", "list_images", "list_manifest", "describe_files", "near_duplicate_pairs",
    "group_duplicates", "file_endings", "run_scan",
]

DEFAULT_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")
_EXIF_MAKE, _EXIF_MODEL = 271, 272


def list_images(images_dir: Path | str, extensions: tuple[str, ...] = DEFAULT_EXTENSIONS) -> pd.DataFrame:
    """Every image-like file under ``images_dir`` (hidden files and folders skipped), sorted by id.

    Returns a frame of ``image_id``, ``path`` (absolute) and ``reject`` (a reason code or None: a
    symlink that leaves the root is listed with ``outside_root``).
    """
    root = Path(images_dir).resolve()
    if not root.is_dir():
        raise IcaaError(f"{images_dir}: not a folder of images")
    wanted = {ext.lower() for ext in extensions}
    rows = []
    for path in root.rglob("*"):
        relative_parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative_parts) or path.suffix.lower() not in wanted:
            continue
        if path.is_dir():
            continue
        image_id = "/".join(relative_parts)
        resolved = path.resolve()
        inside = is_inside(root, resolved)
        rows.append({"image_id": image_id, "path": str(resolved if inside else path),
                     "reject": None if inside else codes.OUTSIDE_ROOT})
    frame = pd.DataFrame(rows, columns=["image_id", "path", "reject"])
    return frame.sort_values("image_id", kind="stable").reset_index(drop=True)


def list_manifest(manifest: Path | str, images_dir: Path | str) -> pd.DataFrame:
    """Files named by a CSV/Parquet manifest (column ``path`` or ``image_id``, relative to ``images_dir``).

    Entries escaping the root are kept with reason ``outside_root`` and missing files with ``missing``,
    so that nothing named in the manifest vanishes.
    """
    table = read_table(manifest)
    column = "path" if "path" in table.columns else "image_id" if "image_id" in table.columns else None
    if column is None:
        raise IcaaError(f"{manifest}: a manifest needs a 'path' or 'image_id' column; "
                        f"found {', '.join(map(str, table.columns))}")
    root = Path(images_dir).resolve()
    rows, seen = [], set()
    for raw in table[column].astype(str):
        candidate = (root / raw).resolve()
        inside = is_inside(root, candidate)
        image_id = relative_id(candidate, root) if inside else raw
        if image_id in seen:
            continue
        seen.add(image_id)
        reject = None if inside else codes.OUTSIDE_ROOT
        if reject is None and not candidate.is_file():
            reject = codes.MISSING
        rows.append({"image_id": image_id, "path": str(candidate), "reject": reject})
    frame = pd.DataFrame(rows, columns=["image_id", "path", "reject"])
    return frame.sort_values("image_id", kind="stable").reset_index(drop=True)


def _describe_one(path: Path, *, min_side_px: int, max_pixels: int) -> tuple[dict | None, str | None, str]:
    """(description, reject code, detail) of one file."""
    import imagehash

    try:
        sha256 = file_sha256(path)
    except FileNotFoundError:
        return None, codes.MISSING, "no such file"
    except OSError as error:
        return None, codes.UNREADABLE, str(error)
    try:
        with open_image(path, max_pixels=max_pixels) as image:
            size_bytes = path.stat().st_size
            width, height = image.size
            image_format, mode = image.format, image.mode
            frames = getattr(image, "n_frames", 1)
            if min(width, height) < min_side_px:
                return None, codes.TOO_SMALL, f"{width}x{height}, shorter side < {min_side_px} px"
            exif = image.getexif()
            make = str(exif.get(_EXIF_MAKE, "")).strip("\x00 ") or None
            model = str(exif.get(_EXIF_MODEL, "")).strip("\x00 ") or None
            image.draft("RGB", (max(64, width // 8), max(64, height // 8)))  # DCT scaling for JPEG
            image.load()
            perceptual = imagehash.phash(image.convert("RGB") if image.mode not in ("L", "RGB") else image)
    except DecodeError as error:
        return None, error.reason, error.detail
    return {
        "sha256": sha256, "phash": str(perceptual), "width": int(width), "height": int(height),
        "format": image_format, "mode": mode, "frames": int(frames), "bytes": int(size_bytes),
        "camera_make": make, "camera_model": model,
    }, None, ""


def describe_files(rows: pd.DataFrame, *, min_side_px: int = 64, max_pixels: int = 100_000_000) -> dict[str, pd.DataFrame]:
    """Chunk core: describe each listed file, or reject it with a reason.

    Parameters
    ----------
    rows
        ``image_id``, ``path``, ``reject`` (a code decided while listing, or None).
    min_side_px
        Shorter sides below this are rejected ``too_small``.
    max_pixels
        Images with more pixels are rejected ``decompression_bomb`` without being decoded.
    """
    kept, rejected = [], []
    for image_id, path, listed_reject in zip(rows["image_id"], rows["path"], rows["reject"]):
        if isinstance(listed_reject, str):
            rejected.append({"image_id": image_id, "path": path, "stage": "scan", "reason": listed_reject,
                             "detail": codes.REJECT_REASONS[listed_reject]})
            continue
        description, reason, detail = _describe_one(Path(path), min_side_px=min_side_px, max_pixels=max_pixels)
        if reason:
            rejected.append({"image_id": image_id, "path": path, "stage": "scan", "reason": reason, "detail": detail})
        else:
            kept.append({"image_id": image_id, "path": path, **description})
    return {"images": pd.DataFrame(kept), "rejects": pd.DataFrame(rejected)}


def _hamming_matrix(block: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between 64-bit hashes (uint64 arrays)."""
    xor = block[:, None] ^ others[None, :]
    return np.unpackbits(xor.view(np.uint8).reshape(*xor.shape, 8), axis=-1).sum(axis=-1)


def near_duplicate_pairs(phashes: pd.Series, near_duplicate_distance: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs ``(i, j)``, ``i < j``, whose 64-bit perceptual hashes (hex) are at most
    ``near_duplicate_distance`` bits apart (negative: none), compared in blocks of 512 rows."""
    count = len(phashes)
    if near_duplicate_distance < 0 or count < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    hashes = np.array([int(h, 16) for h in phashes], dtype=np.uint64)
    firsts, seconds = [], []
    block_size = 512
    for start in range(0, count, block_size):
        distances = _hamming_matrix(hashes[start:start + block_size], hashes)
        i, j = np.nonzero(distances <= near_duplicate_distance)
        keep = start + i < j
        firsts.append(start + i[keep])
        seconds.append(j[keep])
    return np.concatenate(firsts).astype(np.int64), np.concatenate(seconds).astype(np.int64)


def group_duplicates(images: pd.DataFrame, *, near_duplicate_distance: int = 6) -> pd.DataFrame:
    """Add ``duplicate_of``, ``duplicate_kind`` and ``photo_key`` to a table of ``image_id, sha256, phash``.

    Exact duplicates share a SHA-256; near duplicates have perceptual hashes at most
    ``near_duplicate_distance`` bits apart (negative: no near-duplicate search). Groups are closed
    transitively; every member points at the group's first ``image_id`` in sorted order, which itself
    has nulls. ``duplicate_kind`` is ``exact`` when the member's bytes equal the representative's.
    ``photo_key`` (:mod:`icaa.pipeline.photos`) groups by the same keys and also by file name.
    """
    frame = images.sort_values("image_id", kind="stable").reset_index(drop=True)
    ids = frame["image_id"].astype(str)
    pairs = near_duplicate_pairs(frame["phash"], near_duplicate_distance)
    groups = group_rows(len(frame), [frame["sha256"]], pairs)
    representative = first_of_group(ids, groups)
    is_member = representative != ids.to_numpy(dtype=object)
    frame["duplicate_of"] = np.where(is_member, representative, None)
    # Rows are sorted by image_id, so each group's first row is its representative.
    first_sha = frame.groupby(groups)["sha256"].transform("first").to_numpy()
    same_bytes = frame["sha256"].to_numpy() == first_sha
    frame["duplicate_kind"] = np.where(is_member, np.where(same_bytes, "exact", "near"), None)
    frame["photo_key"] = assign_photo_keys(ids, keys=[frame["sha256"]], pairs=pairs)
    return frame


def file_endings(extensions: str | Sequence[str]) -> tuple[str, ...]:
    """``".jpg,png"`` or ``["jpg", ".png"]`` -> ``(".jpg", ".png")``: every ending with its dot, blanks dropped."""
    parts = extensions.split(",") if isinstance(extensions, str) else extensions
    return tuple(e.strip() if e.strip().startswith(".") else "." + e.strip() for e in parts if e.strip())


def run_scan(images_dir: Path | str, output: Path | str, *, rejects: Path | str | None = None,
             manifest: Path | str | None = None, extensions: str | Sequence[str] = DEFAULT_EXTENSIONS,
             min_side_px: int = 64, max_pixels: int = 100_000_000, near_duplicate_distance: int = 6,
             chunk_size: int = 64, workers: int = 1, scheduler: str | None = None,
             work_dir: Path | str | None = None, progress: bool = True) -> StageSummary:
    """Scan a folder (or a manifest of files under it) into ``images.parquet`` and the scan rejects table.

    ``rejects`` defaults to ``scan_rejects.parquet`` beside ``output``; ``extensions`` are file endings, as a
    sequence or comma-separated (the dot is optional). Resumable chunks live in ``work_dir`` (default
    ``.<output stem>.parts`` beside the output).

    Example
    -------
    >>> run_scan("data/demo", "work/scan/images.parquet")  # doctest: +SKIP
    """
    clock = Stopwatch()
    output = Path(output)
    rejects = Path(rejects) if rejects else output.with_name("scan_rejects.parquet")
    refuse_overwriting_inputs({"-o": output, "--rejects": rejects}, {"--manifest": manifest})
    extensions = file_endings(extensions)
    listing = list_manifest(manifest, images_dir) if manifest else list_images(images_dir, extensions)
    if listing.empty:
        where = "the manifest lists none" if manifest else f"looked for {' '.join(extensions)}, hidden files skipped"
        raise IcaaError(f"{manifest or images_dir}: no image files to scan ({where})")
    options = {"min_side_px": min_side_px, "max_pixels": max_pixels}
    work_dir = Path(work_dir) if work_dir else output.parent / f".{output.stem}.parts"
    identity = fingerprint(listing["image_id"].tolist(), listing["path"].tolist(), options, "scan-v1")
    tables = run_partitioned(listing, describe_files, schemas={"images": _IMAGES_PARTS, "rejects": REJECTS},
                             work_dir=work_dir, chunk_size=chunk_size, workers=workers, scheduler=scheduler,
                             options=options, run_fingerprint=identity, description="scan", progress=progress)
    images = group_duplicates(tables["images"], near_duplicate_distance=near_duplicate_distance)
    write_tables((images, output, IMAGES), (tables["rejects"], rejects, REJECTS))
    return StageSummary(
        "scan",
        counts={"files_in": len(listing), "images_out": len(images),
                "rejects_by_reason": tables["rejects"]["reason"].value_counts().sort_index().to_dict(),
                "exact_duplicates": int((images["duplicate_kind"] == "exact").sum()),
                "near_duplicates": int((images["duplicate_kind"] == "near").sum())},
        outputs={"output": str(output), "rejects_table": str(rejects)}, seconds=clock.seconds())


from icaa.pipeline.schemas import IMAGES_PARTS as _IMAGES_PARTS  # noqa: E402  (schema of a chunk, before grouping)
