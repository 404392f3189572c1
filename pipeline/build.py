"""Assemble the published dataset in ICAA17K's layout, and re-split ICAA17K itself, leak-free.

``build_dataset``: selection + MOS + images -> ``<out>/<kind>/<category>/<file>`` (copies; hard links only
when asked, since a hard link is the original photo), ``all.csv``/``train.csv``/``val.csv``/``test.csv`` with
exactly ``ID,color,MOS,probability``,
``manifest.parquet`` (every upstream column; ``image_id`` as scan wrote it, ``ID`` derived from it and the
category, ``photo_key`` carried from scan) and ``DATASHEET.md``. ``resplit_icaa17k``: the release's
label files -> the same photo-grouped split. Both split with :mod:`icaa.pipeline.split`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from icaa.pipeline.categories import ICAA17K_CATEGORIES
from icaa.pipeline.crawl.licences import SPDX_TO_FLICKR, LicenceFilter, licence_name, parse_licence_filter
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.icaa17k import read_icaa17k_csv, write_icaa17k_csv
from icaa.pipeline.io import (apply_umask, atomic_write_json, atomic_write_text, require_columns, resolve_inside,
                              write_table)
from icaa.pipeline.outputs import refuse_nonempty_folder
from icaa.pipeline.photos import file_name, photo_keys
from icaa.pipeline.rejects import reasons_of
from icaa.pipeline.schemas import MANIFEST, REJECTS
from icaa.pipeline.split import SPLITS, assert_no_leak, grouped_split, leaked_rows, photo_groups, score_bins

__all__ = ["BUILD_REJECTS", "file_names", "foreign_files", "build_dataset", "resplit_icaa17k", "read_release", "datasheet"]

#: Closed set of reasons a selected row is not in the dataset (from the registry of reasons).
BUILD_REJECTS: dict[str, str] = reasons_of("build")


def file_names(image_ids: pd.Series, categories: pd.Series) -> pd.Series:
    """Dataset file name per row: the image id's base name; clashes inside one category folder get
    ``<stem>_<8 hex of sha1(image_id)><ext>`` for every row but the smallest image id (deterministic).
    With the category it makes the ICAA17K ``ID``, ``<category>/<file name>``."""
    names = file_name(image_ids)
    frame = pd.DataFrame({"image_id": image_ids.astype(str).to_numpy(), "category": categories.astype(str).to_numpy(),
                          "name": names.to_numpy()})
    frame["rank"] = frame.groupby(["category", "name"])["image_id"].rank(method="first")
    clash = frame["rank"] > 1
    if clash.any():
        stem_ext = frame.loc[clash, "name"].str.rsplit(".", n=1)
        digests = frame.loc[clash, "image_id"].map(lambda i: hashlib.sha1(i.encode()).hexdigest()[:8])
        frame.loc[clash, "name"] = [f"{se[0]}_{d}.{se[1]}" if len(se) == 2 else f"{se[0]}_{d}"
                                    for se, d in zip(stem_ext, digests)]
    return pd.Series(frame["name"].to_numpy(), index=image_ids.index)


def _place(source: Path, target: Path, link: bool = False) -> str:
    """Copy ``source`` to ``target``, or hard-link it when ``link`` is true (copy across file systems)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(source, target)
            return "hardlink"
        except OSError:
            pass
    shutil.copy2(source, target)
    return "copy"


def _first_column(frame: pd.DataFrame, names: Sequence[str]) -> pd.Series:
    """The first of ``names`` that ``frame`` has (nulls as ``unknown``), else ``unknown`` everywhere."""
    for name in names:
        if name in frame.columns:
            return frame[name].map(lambda v: "unknown" if pd.isna(v) else str(v).replace("|", "/"))
    return pd.Series("unknown", index=frame.index)


def licence_columns(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(Flickr licence ids, licence names) per row: ``licence`` holds ids, or names in a table of photos
    not from Flickr (an attribution table); ``licence_name`` holds names. A name that is exactly a
    Flickr licence (``SPDX_TO_FLICKR``, e.g. ``CC0-1.0``) also counts as its id."""
    raw = frame["licence"] if "licence" in frame.columns else pd.Series(np.nan, index=frame.index, dtype=object)
    ids = pd.to_numeric(raw, errors="coerce")
    names = frame["licence_name"] if "licence_name" in frame.columns else pd.Series(None, index=frame.index,
                                                                                    dtype=object)
    named_in_licence = raw.map(lambda v: isinstance(v, str) and bool(v.strip())) & ids.isna()
    names = names.where(~named_in_licence, raw)
    ids = ids.where(ids.notna(), names.map(lambda v: SPDX_TO_FLICKR.get(v) if isinstance(v, str) else None))
    return pd.to_numeric(ids, errors="coerce"), names


def licence_labels(frame: pd.DataFrame) -> pd.Series:
    """Per row: the licence name with its Flickr id (``CC BY 2.0 (Flickr 4)``), a name alone for photos
    not from Flickr (``GPL-2+``), the bare id when Flickr's name is unknown, else ``unknown``."""
    ids, names = licence_columns(frame)
    labels = []
    for licence_id, name in zip(ids, names):
        name = name if isinstance(name, str) and name.strip() else licence_name(licence_id)
        if pd.isna(licence_id):
            labels.append(name or "unknown")
        else:
            labels.append(f"{name} (Flickr {int(licence_id)})" if name else f"Flickr {int(licence_id)}")
    return pd.Series(labels, index=frame.index, dtype=object).str.replace("|", "/", regex=False)


def _owner_labels(frame: pd.DataFrame) -> pd.Series:
    """Owner's name with the Flickr NSID when both are known (``Ann (1@N01)``), else whichever is, else unknown."""
    name = _first_column(frame, ("author", "owner_name"))
    nsid = _first_column(frame, ("owner",))
    return pd.Series([n if o == "unknown" or o == n else o if n == "unknown" else f"{n} ({o})"
                      for n, o in zip(name, nsid)], index=frame.index, dtype=object)


def datasheet(manifest: pd.DataFrame, summary: dict[str, Any]) -> str:
    """``DATASHEET.md`` (Gebru et al., "Datasheets for Datasets", CACM 2021) filled from the manifest."""
    per_class = manifest.groupby("category").size().sort_index()
    per_split = manifest.groupby("split").size().reindex(list(SPLITS), fill_value=0)
    color = manifest["color"]
    licences = licence_labels(manifest)
    licence_counts = licences.value_counts().sort_index()
    lines = [
        "# Datasheet", "",
        "Generated by `icaa-data build` from the data; structure after Gebru et al., \"Datasheets for Datasets\" "
        "(Communications of the ACM 64(12), 2021).", "",
        "## Motivation",
        "An image colour-aesthetics assessment (ICAA) dataset built with the icaa pipeline, which reproduces the "
        "ICAA17K construction (He et al., ICCV 2023): colour classes, coarse pre-assessment scores balanced over "
        "score bins before annotation, then mean opinion scores. Splits group every copy of a photo on one side, "
        "unlike the ICAA17K release (749 of its 1,617 test rows show a photo that is in train).", "",
        "## Composition",
        f"- Rows (image, class): {len(manifest)}; distinct photos: {manifest['photo_group'].nunique()}.",
        f"- Splits: " + ", ".join(f"{k} {int(v)} rows" for k, v in per_split.items()) + "; photos on more than "
        "one side: 0 (checked at build time).",
        f"- `color` (colour-aesthetics MOS): mean {color.mean():.3f}, SD {color.std():.3f}, "
        f"range {color.min():.3f}..{color.max():.3f}; share above 5: {(color > 5).mean():.3f}.",
        "- Files: `<kind>/<category>/<file>` images, `all.csv`, `train.csv`, `val.csv`, `test.csv` "
        "(`ID,color,MOS,probability`, as ICAA17K), `manifest.parquet` (every column the pipeline computed).", "",
        "| class | rows |", "| --- | --- |",
        *[f"| {k} | {int(v)} |" for k, v in per_class.items()], "",
        "## Collection process",
        "Candidate photos are scanned (hashes, near-duplicate groups), scored for colour harmony and class, "
        "scored for popularity (faves / sqrt(views)), fused into a coarse score 1..10 and balanced per class over "
        f"score bins (`icaa-data balance`); the selected photos are rated (colour and overall, 1..10, with a "
        f"confidence 0..1) and the ratings are reduced to MOS (`icaa-data mos`).",
        *([f"- Ratings per image: mean {manifest['n_ratings'].mean():.1f}, min {int(manifest['n_ratings'].min())}, "
           f"max {int(manifest['n_ratings'].max())}; rows with fewer than 3 ratings (no SD or interval): "
           f"{int((manifest['n_ratings'] < 3).sum())}."] if "n_ratings" in manifest.columns
          and manifest["n_ratings"].notna().any() else ["- Ratings per image: not recorded in the MOS table."]),
        *([f"- Coarse score of the selected photos: mean {manifest['coarse_score'].mean():.2f}, "
           f"range {manifest['coarse_score'].min():.2f}..{manifest['coarse_score'].max():.2f}."]
          if "coarse_score" in manifest.columns and manifest["coarse_score"].notna().any() else []), "",
        "## Preprocessing, cleaning, labelling",
        f"- Rows rejected at build: " + (", ".join(f"{k} {v}" for k, v in summary["rejected"].items()) or "none")
        + f" (codes: {', '.join(BUILD_REJECTS)}).",
        f"- Rows kept only with probability >= {summary['min_probability']}.",
        "- Images are the original files, hard-linked or copied unchanged; name clashes inside a class folder get "
        "a hash suffix.", "",
        "## Uses",
        "Training and evaluating colour-aesthetics models (e.g. `icaa-train` DeT). Scores reflect the raters' "
        "taste and the classes are the ICAA17K colour combinations; do not use the scores to judge people.", "",
        "## Distribution and licences",
        f"Licence filter: {summary.get('licence_filter', 'unknown')}. Every image shipped is listed below with "
        "its licence (the crawl's Flickr licence id and name, or the attribution table's licence for photos "
        "not from Flickr) and its owner, to be credited as the licence asks. Photos the crawl found not "
        "public are never shipped." + (" The filter is off: check each licence before redistributing."
                                        if summary.get("licence_filter", "").startswith("any") else ""), "",
        "| licence | rows |", "| --- | --- |",
        *[f"| {k} | {int(v)} |" for k, v in licence_counts.items()], "",
        "### Licence and owner per image", "",
        "| ID | licence | owner |", "| --- | --- | --- |",
        *[f"| {i} | {lic} | {author} |" for i, lic, author in zip(
            manifest["ID"], licences, _owner_labels(manifest))], "",
        "## Maintenance",
        f"Rebuild with `dvc repro`; split seed {summary['seed']}, fractions train/val/test "
        f"{summary['fractions']}.", "",
    ]
    return "\n".join(lines)


_BUILD_FILES = ("all.csv", "manifest.parquet", "DATASHEET.md", "rejects.parquet",
                *(f"{name}.csv" for name in SPLITS))


def foreign_files(dataset_dir: Path | str) -> list[str]:
    """Files under an existing dataset folder that its build did not write (relative POSIX paths, sorted):
    anything but the tables, the datasheet and the images its ``manifest.parquet`` lists."""
    import pyarrow.parquet as pq

    dataset_dir = Path(dataset_dir)
    written = set(_BUILD_FILES)
    try:
        written |= set(pq.read_table(dataset_dir / "manifest.parquet", columns=["ID"]).column("ID").to_pylist())
    except (OSError, KeyError, ValueError):
        pass
    return sorted(path.relative_to(dataset_dir).as_posix() for path in dataset_dir.rglob("*")
                  if not path.is_dir() and path.relative_to(dataset_dir).as_posix() not in written)


def build_dataset(selection: pd.DataFrame, mos: pd.DataFrame, images: pd.DataFrame, output_dir: Path | str, *,
                  extra_tables: Sequence[pd.DataFrame] = (), train_fraction: float = 0.8, val_fraction: float = 0.1,
                  test_fraction: float = 0.1, seed: int = 0, bins: int = 10, min_probability: float = 0.5,
                  link: bool = False, overwrite: bool = False,
                  licences: str | Sequence[object] | LicenceFilter | None = None) -> dict[str, Any]:
    """Write the dataset folder; return a summary (rows, photos, rejects by code, split sizes).

    An existing folder with files in it is replaced only with ``overwrite``, and only when every file in it
    is one a build writes (:func:`foreign_files`), so nothing the user put there is deleted.
    ``licences`` is the licence filter (see :func:`icaa.pipeline.crawl.licences.parse_licence_filter`):
    None keeps the default, which admits only the Flickr licences that allow redistribution; the
    licence comes from the ``licence`` / ``licence_name`` columns of an extra table (the crawl's
    popularity.parquet). A row whose ``status`` is ``private`` is never shipped.
    """
    licence_filter = licences if isinstance(licences, LicenceFilter) else parse_licence_filter(licences)
    require_columns(selection, ["image_id", "category"], "selection")
    require_columns(mos, ["image_id", "color", "MOS", "probability"], "MOS table")
    require_columns(images, ["image_id", "path"], "images table")
    output_dir = Path(output_dir)
    if refuse_nonempty_folder(output_dir, flag="" if overwrite else "--overwrite", what="replaces the dataset in it"):
        if not (output_dir / "manifest.parquet").is_file():
            raise IcaaError(f"{output_dir} exists and is not an icaa dataset (no manifest.parquet); choose an empty "
                            "folder")
        strangers = foreign_files(output_dir)
        if strangers:
            raise IcaaError(f"{output_dir} holds {len(strangers)} file(s) that no build wrote, e.g. {strangers[0]}; "
                            "move them out or choose a new folder (--overwrite replaces only a build's own files)")
    unknown = ~selection["category"].isin(ICAA17K_CATEGORIES)
    if unknown.any():
        rows = np.flatnonzero(unknown.to_numpy())
        raise IcaaError(f"selection: {len(rows)} row(s) have a category outside the 30 ICAA17K classes, e.g. "
                        f"{selection['category'].iloc[rows[0]]!r} for {selection['image_id'].iloc[rows[0]]!r} "
                        f"(rows {rows[:5].tolist()}); the category names the image folder")
    frame = selection.drop_duplicates(["image_id", "category"]).reset_index(drop=True)
    duplicated_mos = mos["image_id"].duplicated(keep=False)
    if duplicated_mos.any():
        raise IcaaError(f"MOS table: {int(duplicated_mos.sum())} rows share an image_id, e.g. "
                        f"{mos.loc[duplicated_mos, 'image_id'].iloc[0]!r}; keep one MOS row per image")
    mos_cols = [c for c in mos.columns if c not in frame.columns or c == "image_id"]
    frame = frame.merge(mos[mos_cols], on="image_id", how="left")
    image_cols = [c for c in images.columns if c not in frame.columns or c == "image_id"]
    frame = frame.merge(images.drop_duplicates("image_id")[image_cols], on="image_id", how="left")
    for extra in extra_tables:
        if "image_id" in extra.columns:
            cols = [c for c in extra.columns if c not in frame.columns or c == "image_id"]
            frame = frame.merge(extra.drop_duplicates("image_id")[cols], on="image_id", how="left")
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    if "status" in frame.columns:
        reason[(frame["status"] == "private").to_numpy()] = "not_public"
    admitted = licence_filter.admits(*licence_columns(frame))
    reason[reason.isna() & ~admitted] = "licence_not_allowed"
    labels = frame[["color", "MOS", "probability"]].apply(pd.to_numeric, errors="coerce")
    reason[reason.isna() & labels.isna().any(axis=1)] = "no_mos"
    reason[reason.isna() & (labels["probability"] < min_probability)] = "low_confidence"
    exists = frame["path"].map(lambda p: isinstance(p, str) and Path(p).is_file())
    reason[reason.isna() & ~exists] = "no_image"
    rejected = frame[reason.notna()].assign(reason=reason[reason.notna()])
    kept = frame[reason.isna()].reset_index(drop=True)
    kept[["color", "MOS", "probability"]] = labels[reason.isna()].reset_index(drop=True)
    if kept.empty:
        hint = ("; licences come from the crawl's popularity.parquet given with --extra, and --licences names "
                "the ones to ship" if (rejected["reason"] == "licence_not_allowed").any() else "")
        raise IcaaError(f"build: no row is public, has an admitted licence, a MOS, a confidence >= "
                        f"{min_probability} and an image file (rejected: "
                        f"{rejected['reason'].value_counts().to_dict()}){hint}")
    kept["ID"] = kept["category"].astype(str) + "/" + file_names(kept["image_id"], kept["category"])
    kept["photo_key"] = photo_keys(kept).to_numpy()
    keys = {"photo_key": kept["photo_key"]}
    if "sha256" in kept.columns:
        keys["sha256"] = kept["sha256"]  # a selection from elsewhere may key one file twice
    kept["photo_group"] = photo_groups(pd.DataFrame(keys))
    strata = kept["category"].astype(str) + "|" + pd.Series(score_bins(kept["color"], bins)).astype(str)
    kept["split"] = grouped_split(kept["photo_group"].to_numpy(), strata, train_fraction=train_fraction,
                                  val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    assert_no_leak(kept["photo_group"].to_numpy(), kept["split"].to_numpy(), kept["ID"].tolist())

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        apply_umask(staging)
        methods = [_place(Path(p), staging / i, link) for p, i in zip(kept["path"], kept["ID"])]
        kept["placed_by"] = methods
        write_icaa17k_csv(kept, staging / "all.csv")
        for name in SPLITS:
            write_icaa17k_csv(kept[kept["split"] == name], staging / f"{name}.csv")
        manifest = kept.copy()
        for column in manifest.columns:
            if manifest[column].dtype == object:
                manifest[column] = manifest[column].map(lambda v: v if v is None or isinstance(v, (str, bytes, int, float, bool, list, dict, np.ndarray)) else str(v))
        write_table(manifest, staging / "manifest.parquet", schema=MANIFEST)
        if not rejected.empty:
            write_table(pd.DataFrame({"image_id": rejected["image_id"].astype(str).to_numpy(),
                                      "path": rejected["path"].to_numpy() if "path" in rejected.columns else None,
                                      "stage": "build", "reason": rejected["reason"].astype(str).to_numpy(),
                                      "detail": ("category " + rejected["category"].astype(str) + "; licence "
                                                 + licence_labels(rejected)).to_numpy()}),
                        staging / "rejects.parquet", schema=REJECTS)
        summary = {
            "rows_in": int(len(frame)), "rows": int(len(kept)), "photos": int(kept["photo_group"].nunique()),
            "rejected": {k: int(v) for k, v in rejected["reason"].value_counts().sort_index().items()},
            "splits": {k: int((kept["split"] == k).sum()) for k in SPLITS},
            "photos_on_both_sides": 0,
            "placed_by": {str(k): int(v) for k, v in pd.Series(methods).value_counts().items()},
            "seed": seed, "fractions": [train_fraction, val_fraction, test_fraction], "min_probability": min_probability,
            "licence_filter": licence_filter.describe(),
        }
        atomic_write_text(staging / "DATASHEET.md", datasheet(kept, summary))
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary["output"] = str(output_dir)
    return summary


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resplit_icaa17k(csv_dir: Path | str, output_dir: Path | str, *, images_root: Path | str | None = None,
                    train_fraction: float = 0.8, val_fraction: float = 0.1, test_fraction: float = 0.1,
                    seed: int = 0, bins: int = 10) -> dict[str, Any]:
    """Re-split an ICAA17K release by photo: :func:`icaa.pipeline.photos.photo_keys` of the IDs (file name, and
    sha256 where ``images_root`` holds the files)."""
    frame, read = read_release(csv_dir)
    hashes = frame[["ID"]].copy()
    hashed = 0
    if images_root is not None:
        paths = [resolve_inside(images_root, i) for i in frame["ID"]]
        present = [p.is_file() for p in paths]
        hashes["sha256"] = [_sha256(p) if ok else None for p, ok in zip(paths, present)]
        hashed = int(sum(present))
    groups = photo_groups([photo_keys(hashes, id_column="ID", extra_keys=("sha256",))])
    input_split = frame["input_split"].to_numpy()
    leaked_in = int(leaked_rows(groups, input_split).sum())
    strata = frame["ID"].str.rsplit("/", n=1).str[0] + "|" + pd.Series(score_bins(frame["color"], bins)).astype(str)
    split = grouped_split(groups, strata, train_fraction=train_fraction, val_fraction=val_fraction,
                          test_fraction=test_fraction, seed=seed)
    assert_no_leak(groups, split, frame["ID"].tolist())
    leaked_out = int(leaked_rows(groups, split, against=("train", "val")).sum())
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_icaa17k_csv(frame, output_dir / "all.csv")
    for name in SPLITS:
        write_icaa17k_csv(frame[split == name], output_dir / f"{name}.csv")
    summary = {
        "read": read, "rows": int(len(frame)), "photos": int(groups.max() + 1) if len(groups) else 0,
        "images_hashed": hashed,
        "input_split_rows": {k: int(v) for k, v in pd.Series(input_split).value_counts().sort_index().items()},
        "input_leaked_test_rows": leaked_in,
        "output_split_rows": {k: int((split == k).sum()) for k in SPLITS},
        "output_split_photos": {k: int(len(np.unique(groups[split == k]))) for k in SPLITS},
        "output_leaked_test_rows": leaked_out, "seed": seed, "output": str(output_dir),
    }
    atomic_write_json(output_dir / "resplit.json", summary)
    return summary
