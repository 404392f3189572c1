"""The ``build`` stage: the published dataset in ICAA17K's layout.

``assemble_dataset`` (the core): selection + MOS + images (+ extra per-image tables) -> the rows shipped, each
with its dataset ``ID`` and a photo-grouped split (:mod:`icaa.pipeline.split`), and the rows rejected with a
reason. ``write_dataset``: those rows -> ``<out>/<kind>/<category>/<file>`` (copies; hard links only when asked,
since a hard link is the original photo), ``all.csv``/``train.csv``/``val.csv``/``test.csv`` with exactly
``ID,color,MOS,probability``, ``manifest.parquet`` (every upstream column; ``image_id`` as scan wrote it, ``ID``
derived from it and the category, ``photo_key`` as the selection carries it from scan; the split groups by
it, scan's duplicate groups and sha256 together) and ``DATASHEET.md``. ``run_build``
reads the tables, checks the output folder and does both. Re-splitting the ICAA17K release itself is
:mod:`icaa.pipeline.resplit`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from icaa.pipeline.categories import ICAA17K_CATEGORIES
from icaa.pipeline.crawl.licences import SPDX_TO_FLICKR, LicenceFilter, licence_name, parse_licence_filter
from icaa.common.errors import IcaaError
from icaa.pipeline.icaa17k import write_icaa17k_csv
from icaa.common.files import apply_umask, atomic_write_text, is_inside
from icaa.pipeline.io import read_table, require_columns, write_table
from icaa.pipeline.contracts import check_table
from icaa.pipeline.outputs import refuse_nonempty_folder, refuse_overwriting_inputs
from icaa.pipeline.photos import duplicate_group_key, file_name, photo_keys
from icaa.pipeline.rejects import reasons_of
from icaa.pipeline.schemas import MANIFEST, REJECTS
from icaa.pipeline.split import SPLITS, assert_no_leak, grouped_split, photo_groups, score_bins
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = ["BUILD_REJECTS", "AssembledDataset", "file_names", "foreign_files", "datasheet", "assemble_dataset",
           "check_output_folder", "dataset_summary", "write_dataset", "run_build"]

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
        "- Splits: " + ", ".join(f"{k} {int(v)} rows" for k, v in per_split.items()) + "; photos on more than "
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
        "score bins (`icaa-data balance`); the selected photos are rated (colour and overall, 1..10, with a "
        "confidence 0..1) and the ratings are reduced to MOS (`icaa-data mos`).",
        *([f"- Ratings per image: mean {manifest['n_ratings'].mean():.1f}, min {int(manifest['n_ratings'].min())}, "
           f"max {int(manifest['n_ratings'].max())}; rows with fewer than 3 ratings (no SD or interval): "
           f"{int((manifest['n_ratings'] < 3).sum())}."] if "n_ratings" in manifest.columns
          and manifest["n_ratings"].notna().any() else ["- Ratings per image: not recorded in the MOS table."]),
        *([f"- Coarse score of the selected photos: mean {manifest['coarse_score'].mean():.2f}, "
           f"range {manifest['coarse_score'].min():.2f}..{manifest['coarse_score'].max():.2f}."]
          if "coarse_score" in manifest.columns and manifest["coarse_score"].notna().any() else []), "",
        "## Preprocessing, cleaning, labelling",
        "- Rows rejected at build: " + (", ".join(f"{k} {v}" for k, v in summary["rejected"].items()) or "none")
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


@dataclass
class AssembledDataset:
    """The rows a build ships and those it does not, before anything is written."""

    #: One row per (image, class) shipped: every upstream column, ``ID``, ``photo_group`` and ``split``.
    rows: pd.DataFrame
    #: Rows not shipped, with a ``reason`` from :data:`BUILD_REJECTS`.
    rejected: pd.DataFrame
    #: Rows of the selection (one per image and class) before any was rejected.
    rows_in: int
    licence_filter: LicenceFilter
    seed: int
    fractions: list[float]
    min_probability: float


def assemble_dataset(selection: pd.DataFrame, mos: pd.DataFrame, images: pd.DataFrame, *,
                     extra_tables: Sequence[pd.DataFrame] = (), train_fraction: float = 0.8,
                     val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0, bins: int = 10,
                     min_probability: float = 0.5,
                     licences: str | Sequence[object] | LicenceFilter | None = None) -> AssembledDataset:
    """Join selection, MOS, images and the extra tables; reject what may not or cannot ship; split by photo.

    ``licences`` is the licence filter (see :func:`icaa.pipeline.crawl.licences.parse_licence_filter`):
    None keeps the default, which admits only the Flickr licences that allow redistribution; the
    licence comes from the ``licence`` / ``licence_name`` columns of an extra table (the crawl's
    popularity.parquet). A row whose ``status`` is ``private`` is never shipped.
    """
    licence_filter = licences if isinstance(licences, LicenceFilter) else parse_licence_filter(licences)
    require_columns(selection, ["image_id", "category"], "selection")
    require_columns(mos, ["image_id", "color", "MOS", "probability"], "MOS table")
    require_columns(images, ["image_id", "path"], "images table")
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
    if "duplicate_of" in kept.columns:  # scan's duplicate groups, whatever key the selection carries
        keys["duplicate_of"] = duplicate_group_key(kept["duplicate_of"], kept["image_id"].astype(str))
    kept["photo_group"] = photo_groups(pd.DataFrame(keys))
    strata = kept["category"].astype(str) + "|" + pd.Series(score_bins(kept["color"], bins)).astype(str)
    kept["split"] = grouped_split(kept["photo_group"].to_numpy(), strata, train_fraction=train_fraction,
                                  val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    assert_no_leak(kept["photo_group"].to_numpy(), kept["split"].to_numpy(), kept["ID"].tolist())
    return AssembledDataset(rows=kept, rejected=rejected, rows_in=int(len(frame)), licence_filter=licence_filter,
                            seed=seed, fractions=[train_fraction, val_fraction, test_fraction],
                            min_probability=min_probability)


def check_output_folder(output_dir: Path | str, *, overwrite: bool = False) -> None:
    """Refuse an output folder a build may not replace.

    An existing folder with files in it is replaced only with ``overwrite``, and only when every file in it
    is one a build writes (:func:`foreign_files`), so nothing the user put there is deleted.
    """
    output_dir = Path(output_dir)
    if refuse_nonempty_folder(output_dir, flag="" if overwrite else "--overwrite", what="replaces the dataset in it"):
        if not (output_dir / "manifest.parquet").is_file():
            raise IcaaError(f"{output_dir} exists and is not an icaa dataset (no manifest.parquet); choose an empty "
                            "folder")
        strangers = foreign_files(output_dir)
        if strangers:
            raise IcaaError(f"{output_dir} holds {len(strangers)} file(s) that no build wrote, e.g. {strangers[0]}; "
                            "move them out or choose a new folder (--overwrite replaces only a build's own files)")


def dataset_summary(dataset: AssembledDataset) -> dict[str, Any]:
    """The figures of a dataset the datasheet and the build summary report: rows, photos, rejects by code,
    split sizes, settings."""
    kept, rejected = dataset.rows, dataset.rejected
    return {
        "rows_in": dataset.rows_in, "rows": int(len(kept)), "photos": int(kept["photo_group"].nunique()),
        "rejected": {k: int(v) for k, v in rejected["reason"].value_counts().sort_index().items()},
        "splits": {k: int((kept["split"] == k).sum()) for k in SPLITS},
        "photos_on_both_sides": 0,
        "seed": dataset.seed, "fractions": dataset.fractions, "min_probability": dataset.min_probability,
        "licence_filter": dataset.licence_filter.describe(),
    }


def write_dataset(dataset: AssembledDataset, output_dir: Path | str, *, link: bool = False) -> dict[str, int]:
    """Write the dataset folder: images (copies; hard links only with ``link``), the ICAA17K CSVs,
    ``manifest.parquet``, the rejects table and ``DATASHEET.md``, built in a staging folder that then replaces
    ``output_dir`` (check it first with :func:`check_output_folder`). Returns the images placed per method."""
    kept, rejected = dataset.rows.copy(), dataset.rejected
    output_dir = Path(output_dir)
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
        atomic_write_text(staging / "DATASHEET.md", datasheet(kept, dataset_summary(dataset)))
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {str(k): int(v) for k, v in pd.Series(methods).value_counts().items()}


def run_build(selection: Path | str, mos: Path | str, images: Path | str, output_dir: Path | str, *,
              extra: Sequence[Path | str] | None = None, train_fraction: float = 0.8, val_fraction: float = 0.1,
              test_fraction: float = 0.1, seed: int = 0, bins: int = 10, min_probability: float = 0.5,
              link: bool = False, overwrite: bool = False, licences: str | None = None) -> StageSummary:
    """Read the selection, MOS, images and ``extra`` tables and write the dataset folder ``output_dir``.

    Example
    -------
    >>> run_build("work/balance/selection.parquet", "work/mos/mos.parquet", "work/scan/images.parquet",
    ...           "dataset", extra=["work/crawl/popularity.parquet"], licences="4,5,9,10")  # doctest: +SKIP
    """
    clock = Stopwatch()
    inputs = {"--selection": selection, "--mos": mos, "--images": images,
              **{f"--extra {path}": path for path in extra or []}}
    refuse_overwriting_inputs({"-o": output_dir}, inputs)
    inside = [name for name, path in inputs.items() if is_inside(Path(output_dir).resolve(), Path(path).resolve())]
    if inside:
        raise IcaaError(f"the input {inside[0]} lies inside the output folder {output_dir}, which build replaces; "
                        "choose another output folder")
    tables = {}
    for kind, path in (("selection", selection), ("mos", mos), ("images", images)):
        tables[kind] = read_table(path)
        check_table(tables[kind], kind, path, needed=["image_id", "category"] if kind == "selection" else None)
    extra_tables = [read_table(p) for p in extra or []]
    licence_filter = parse_licence_filter(licences)
    check_output_folder(output_dir, overwrite=overwrite)
    dataset = assemble_dataset(tables["selection"], tables["mos"], tables["images"], extra_tables=extra_tables,
                               train_fraction=train_fraction, val_fraction=val_fraction,
                               test_fraction=test_fraction, seed=seed, bins=bins, min_probability=min_probability,
                               licences=licence_filter)
    placed_by = write_dataset(dataset, output_dir, link=link)
    figures = dataset_summary(dataset)
    counts = {key: figures.pop(key) for key in ("rows_in", "rows", "photos", "rejected", "splits",
                                                "photos_on_both_sides")}
    return StageSummary("build", counts=counts | {"placed_by": placed_by}, figures=figures,
                        outputs={"output": str(output_dir)}, seconds=clock.seconds())
