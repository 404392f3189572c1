"""The label tables a run uses: train, validation (``val.csv``, or carved from train by photo) and test, with
every image checked before any training starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from icaa.common.errors import IcaaError
from icaa.model.data import carve_validation, check_images, detect_layout, find_split_file, image_root_of, read_labels

__all__ = ["load_split_tables", "drop_unusable_images"]


def load_split_tables(data_dir: str | Path, layout: str | None = None, attribute: str = "Colorfulness",
                      val_fraction: float = 0.1, seed: int = 0) -> dict[str, Any]:
    """``{"train", "val", "test"}`` label tables (test may be ``None``), the layout and where val came from.

    Validation is ``val.csv`` when present, else carved from train grouped by photo file name.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise IcaaError(f"data folder {data_dir} does not exist")
    train_file = find_split_file(data_dir, "train", layout)
    if train_file is None:
        raise IcaaError(f"{data_dir}: no training labels (looked for train.csv, 1train.csv, spaqTrain.csv)")
    train = read_labels(train_file, layout, attribute)
    detected = layout or _layout_of(train_file)
    val_file = find_split_file(data_dir, "val", detected)
    val = read_labels(val_file, detected, attribute) if val_file is not None else None
    if val is not None and len(val):
        val_source = str(val_file.name)
    else:
        train, val = carve_validation(train, val_fraction, seed)
        val_source = f"carved from {train_file.name} ({val_fraction:.0%} of photos, seed {seed})"
    test_file = find_split_file(data_dir, "test", detected)
    test = read_labels(test_file, detected, attribute) if test_file is not None else None
    return {"train": train, "val": val, "test": test, "layout": detected, "val_source": val_source,
            "root": image_root_of(data_dir)}


def _layout_of(path: Path) -> str:
    return detect_layout(pd.read_csv(path, nrows=0).columns, str(path))


def drop_unusable_images(tables: Mapping[str, pd.DataFrame | None], root: Path, skip_missing: bool,
                         echo: Callable[[str], None]) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Check every image of every split: refuse missing or unreadable ones (IcaaError listing them), or with
    ``skip_missing`` drop them and say so. Returns the tables kept and the count of images per reason."""
    ids = [i for t in tables.values() if t is not None for i in t["image_id"]]
    problems = check_images(root, ids)
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.reason] = counts.get(p.reason, 0) + 1
    if problems:
        listing = "\n".join(f"  {p.reason}: {p.image_id} {p.detail}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        summary = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
        if not skip_missing:
            raise IcaaError(f"{len(problems)} images cannot be used under {root} ({summary}):\n{listing}{more}\n"
                            "fix the image root or pass --skip-missing to train without them")
        echo(f"skipping {len(problems)} images ({summary}):\n{listing}{more}")
    bad = {p.image_id for p in problems}
    kept = {name: (t[~t["image_id"].isin(bad)].reset_index(drop=True) if t is not None else None)
            for name, t in tables.items()}
    for name, table in kept.items():
        if table is not None and name in ("train", "val") and table.empty:
            raise IcaaError(f"the {name} split has no usable images under {root}")
    return kept, counts
