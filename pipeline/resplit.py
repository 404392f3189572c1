"""The ``resplit`` stage: the ICAA17K release's label files -> a photo-grouped, leak-free split.

The release files one photo under several classes and its split puts copies of a test photo in train.
``resplit_rows`` (the core) groups the rows by photo (file name, and the file's SHA-256 when the images are
at hand), reports how many test rows of the release's own split show a training photo, and splits the
groups again with :mod:`icaa.pipeline.split`; ``run_resplit`` reads the release, hashes the files and writes
``all.csv``, ``train.csv``, ``val.csv``, ``test.csv`` and ``resplit.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icaa.common.errors import IcaaError
from icaa.pipeline.icaa17k import read_icaa17k_csv, write_icaa17k_csv
from icaa.common.files import atomic_write_json, file_sha256, resolve_inside
from icaa.pipeline.outputs import same_file
from icaa.pipeline.photos import photo_keys
from icaa.pipeline.split import SPLITS, assert_no_leak, grouped_split, leaked_rows, photo_groups, score_bins
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = ["read_release", "resplit_rows", "run_resplit"]


def read_release(csv_dir: Path | str) -> tuple[pd.DataFrame, str]:
    """ICAA17K label files of a folder: ``1all.csv``/``all.csv`` with the split taken from train/test files when
    present, else the train and test files alone. Returns rows with a ``split`` column (``input_split``) and
    the names read."""
    csv_dir = Path(csv_dir)
    if not csv_dir.is_dir():
        raise IcaaError(f"{csv_dir}: not a folder")
    def first(*names: str) -> Path | None:
        return next((csv_dir / n for n in names if (csv_dir / n).is_file()), None)
    all_path, train_path, test_path = first("1all.csv", "all.csv"), first("1train.csv", "train.csv"), first("1test.csv", "test.csv")
    val_path = first("1val.csv", "val.csv")
    parts = {name: read_icaa17k_csv(path) for name, path in (("train", train_path), ("val", val_path),
                                                                  ("test", test_path)) if path is not None}
    if all_path is not None:
        frame = read_icaa17k_csv(all_path)
        split = pd.Series("none", index=frame.index, dtype=object)
        for name, part in parts.items():
            split[frame["ID"].isin(part["ID"])] = name
        frame["input_split"] = split
        read = [all_path.name] + [p.name for p in (train_path, val_path, test_path) if p is not None]
    elif parts and "train" in parts and "test" in parts:
        frame = pd.concat([p.assign(input_split=n) for n, p in parts.items()], ignore_index=True)
        read = [p.name for p in (train_path, val_path, test_path) if p is not None]
    else:
        raise IcaaError(f"{csv_dir}: found neither 1all.csv/all.csv nor both 1train.csv and 1test.csv")
    from icaa.pipeline.icaa17k import validate_icaa17k_frame
    validate_icaa17k_frame(frame, f"{csv_dir} (all files together)")
    return frame, ", ".join(read)


def resplit_rows(frame: pd.DataFrame, *, sha256: pd.Series | None = None, train_fraction: float = 0.8,
                 val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
                 bins: int = 10) -> tuple[np.ndarray, dict[str, Any]]:
    """Split release rows (``ID``, ``color``, ``input_split``) by photo (:func:`icaa.pipeline.photos.photo_keys` of
    the IDs: one file name, or one ``sha256`` per row, None where unknown), so that one photo's rows share a side. Returns the split per row and the figures
    (rows, photos, the leaks of the input split and of the new one, sizes per side)."""
    hashes = frame[["ID"]].copy()
    if sha256 is not None:
        hashes["sha256"] = pd.Series(sha256, dtype=object).to_numpy()
    groups = photo_groups([photo_keys(hashes, id_column="ID", extra_keys=("sha256",) if sha256 is not None else ())])
    input_split = frame["input_split"].to_numpy()
    leaked_in = int(leaked_rows(groups, input_split).sum())
    strata = frame["ID"].str.rsplit("/", n=1).str[0] + "|" + pd.Series(score_bins(frame["color"], bins)).astype(str)
    split = grouped_split(groups, strata, train_fraction=train_fraction, val_fraction=val_fraction,
                          test_fraction=test_fraction, seed=seed)
    assert_no_leak(groups, split, frame["ID"].tolist())
    leaked_out = int(leaked_rows(groups, split, against=("train", "val")).sum())
    return split, {
        "rows": int(len(frame)), "photos": int(groups.max() + 1) if len(groups) else 0,
        "input_split_rows": {k: int(v) for k, v in pd.Series(input_split).value_counts().sort_index().items()},
        "input_leaked_test_rows": leaked_in,
        "output_split_rows": {k: int((split == k).sum()) for k in SPLITS},
        "output_split_photos": {k: int(len(np.unique(groups[split == k]))) for k in SPLITS},
        "output_leaked_test_rows": leaked_out,
    }


#: What resplit writes into its output folder; ``resplit.json`` marks a folder as one it wrote.
_WRITTEN = ("all.csv", *(f"{name}.csv" for name in SPLITS), "resplit.json")


def _check_output_folder(csv_dir: Path, output_dir: Path) -> None:
    """Refuse an output folder where writing would replace files resplit did not write: the release it reads,
    or a folder holding ICAA17K files of another origin (a previous resplit's own output may be replaced)."""
    if output_dir.exists() and not output_dir.is_dir():
        raise IcaaError(f"-o {output_dir} exists and is not a folder; give a folder for the new split")
    if same_file(output_dir, csv_dir):
        raise IcaaError(f"-o {output_dir} is the release folder it reads; writing there would replace the "
                        f"release's own split, so choose another folder")
    found = [name for name in _WRITTEN if (output_dir / name).exists()]
    if found and "resplit.json" not in found:
        raise IcaaError(f"-o {output_dir} already holds {', '.join(found)}, which resplit did not write; choose "
                        f"an empty or new folder")


def run_resplit(csv_dir: Path | str, output_dir: Path | str, *, images_root: Path | str | None = None,
                train_fraction: float = 0.8, val_fraction: float = 0.1, test_fraction: float = 0.1,
                seed: int = 0, bins: int = 10) -> StageSummary:
    """Re-split an ICAA17K release by photo (file name, and SHA-256 where ``images_root`` holds the files) into
    ``output_dir``: the ICAA17K CSVs and ``resplit.json`` (the summary's figures).

    Example
    -------
    >>> run_resplit("../shared/reference/icaa17k", "work/icaa17k_resplit", seed=0)  # doctest: +SKIP
    """
    clock = Stopwatch()
    output_dir = Path(output_dir)
    _check_output_folder(Path(csv_dir), output_dir)
    frame, read = read_release(csv_dir)
    sha256, hashed = None, 0
    if images_root is not None:
        paths = [resolve_inside(images_root, i) for i in frame["ID"]]
        present = [p.is_file() for p in paths]
        sha256 = pd.Series([file_sha256(p) if ok else None for p, ok in zip(paths, present)], dtype=object)
        hashed = int(sum(present))
    split, figures = resplit_rows(frame, sha256=sha256, train_fraction=train_fraction, val_fraction=val_fraction,
                                  test_fraction=test_fraction, seed=seed, bins=bins)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_icaa17k_csv(frame, output_dir / "all.csv")
    for name in SPLITS:
        write_icaa17k_csv(frame[split == name], output_dir / f"{name}.csv")
    record = {"read": read, "rows": figures["rows"], "photos": figures["photos"], "images_hashed": hashed,
              **{key: figures[key] for key in ("input_split_rows", "input_leaked_test_rows", "output_split_rows",
                                               "output_split_photos", "output_leaked_test_rows")},
              "seed": seed, "output": str(output_dir)}
    atomic_write_json(output_dir / "resplit.json", record)
    counts = {key: value for key, value in record.items() if key not in ("read", "seed", "output")}
    return StageSummary("resplit", counts=counts, figures={"read": read, "seed": seed},
                        outputs={"output": str(output_dir)}, seconds=clock.seconds())
