"""Label tables and image datasets for ``icaa-train``: ICAA17K and SPAQ layouts.

Layouts
-------
``icaa17k``
    CSV columns ``ID,color,MOS,probability`` as the ICAA17K release (``1all.csv``, ``1train.csv``,
    ``1test.csv``) and our ``build`` stage (``all.csv``, ``train.csv``, ``val.csv``, ``test.csv``) write them.
    ``ID`` is the image path relative to the image root; ``color`` (colour score, 1-10) is the target,
    ``MOS`` (overall score, 1-10) the optional second target. Checked by
    :func:`icaa.pipeline.icaa17k.validate_icaa17k_frame` (the ``build`` stage's reader).
``spaq``
    CSV columns ``image_id`` + attribute columns (``spaqTrain.csv``, ``spaqTest.csv``); the colour target is
    ``Colorfulness`` by default (0-10 as the authors store it), the overall target ``MOS``.

Every label table is normalised to the columns of :data:`LABEL_COLUMNS`: ``image_id``, ``colour_score``
(0-10), ``overall_score`` (0-10 or NaN). torch is imported only by :class:`ScoreDataset`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from icaa.common.errors import IcaaError
from icaa.common.files import is_inside
from icaa.pipeline.photos import photo_keys

__all__ = [
    "LAYOUTS",
    "LABEL_COLUMNS",
    "SPLIT_FILES",
    "ImageProblem",
    "detect_layout",
    "read_labels",
    "find_split_file",
    "image_root_of",
    "check_images",
    "carve_validation",
    "ScoreDataset",
]

LAYOUTS = ("icaa17k", "spaq")
LABEL_COLUMNS = ("image_id", "colour_score", "overall_score")
ICAA17K_COLUMNS = ("ID", "color", "MOS")
SPLIT_FILES = {
    "icaa17k": {"train": ("train.csv", "1train.csv"), "val": ("val.csv", "1val.csv"),
                "test": ("test.csv", "1test.csv"), "all": ("all.csv", "1all.csv")},
    "spaq": {"train": ("spaqTrain.csv", "train.csv"), "val": ("spaqVal.csv", "val.csv"),
             "test": ("spaqTest.csv", "test.csv"), "all": ("spaqAll.csv", "all.csv")},
}
"""Per layout and split, the file names looked for in the data folder, first match wins."""

SCORE_RANGE = (0.0, 10.0)


def detect_layout(columns: Sequence[str], where: str = "labels") -> str:
    """``icaa17k`` if the columns hold ``ID,color,MOS``; ``spaq`` if they hold ``image_id``; else IcaaError."""
    names = set(columns)
    if set(ICAA17K_COLUMNS) <= names:
        return "icaa17k"
    if "image_id" in names:
        return "spaq"
    raise IcaaError(f"{where}: cannot tell the layout from columns {sorted(names)}; expected ICAA17K "
                    "(ID,color,MOS,probability) or SPAQ (image_id + attribute columns); pass --layout")


def read_labels(path: str | Path, layout: str | None = None, attribute: str = "Colorfulness",
                overall_attribute: str = "MOS") -> pd.DataFrame:
    """Read one label CSV into the columns ``image_id, colour_score, overall_score`` (scores on 0-10).

    ``layout``: ``icaa17k``, ``spaq`` or ``None`` (detected from the header). ``attribute``: the SPAQ column
    used as colour target. Rows with a missing or out-of-range score, or a duplicated ``image_id`` with
    different scores, raise IcaaError naming them.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise IcaaError(f"{path}: cannot read the label CSV ({error})") from None
    layout = layout or detect_layout(frame.columns, str(path))
    if layout not in LAYOUTS:
        raise IcaaError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    if layout == "icaa17k":
        missing = [c for c in ICAA17K_COLUMNS if c not in frame.columns]
        if missing:
            raise IcaaError(f"{path}: ICAA17K labels need columns ID,color,MOS; missing {missing}")
        from icaa.pipeline.icaa17k import validate_icaa17k_frame

        frame = validate_icaa17k_frame(frame, str(path))  # the build stage's checks: IDs, numbers, conflicts
        out = pd.DataFrame({"image_id": frame["ID"], "colour_score": frame["color"], "overall_score": frame["MOS"]})
    else:
        missing = [c for c in ("image_id", attribute) if c not in frame.columns]
        if missing:
            raise IcaaError(f"{path}: SPAQ labels need columns image_id and {attribute}; missing {missing} "
                            f"(columns: {list(frame.columns)}); choose the target with --attribute")
        overall = frame[overall_attribute] if overall_attribute in frame.columns else np.nan
        out = pd.DataFrame({"image_id": frame["image_id"], "colour_score": frame[attribute],
                            "overall_score": overall})
    out["image_id"] = out["image_id"].astype(str)
    for column in ("colour_score", "overall_score"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    bad_colour = out.index[~out["colour_score"].between(*SCORE_RANGE)]
    if len(bad_colour):
        rows = [int(i) + 2 for i in bad_colour[:5]]
        raise IcaaError(f"{path}: {len(bad_colour)} rows have a colour score missing or outside 0-10 "
                        f"(CSV lines {rows}, e.g. {out.loc[bad_colour[0], 'image_id']!r})")
    bad_overall = out.index[out["overall_score"].notna() & ~out["overall_score"].between(*SCORE_RANGE)]
    if len(bad_overall):
        rows = [int(i) + 2 for i in bad_overall[:5]]
        raise IcaaError(f"{path}: {len(bad_overall)} rows have an overall score outside 0-10 (CSV lines {rows})")
    empty = out.index[out["image_id"].str.strip().isin(["", "nan"])]
    if len(empty):
        raise IcaaError(f"{path}: {len(empty)} rows have an empty image id (CSV lines {[int(i) + 2 for i in empty[:5]]})")
    return out.reset_index(drop=True)


def find_split_file(data_dir: str | Path, split: str, layout: str | None = None) -> Path | None:
    """The label CSV of ``split`` in ``data_dir`` (see :data:`SPLIT_FILES`), or ``None`` if there is none."""
    data_dir = Path(data_dir)
    layouts = [layout] if layout else list(LAYOUTS)
    for name in layouts:
        for file_name in SPLIT_FILES[name].get(split, ()):
            candidate = data_dir / file_name
            if candidate.is_file():
                return candidate
    return None


def image_root_of(data_dir: str | Path) -> Path:
    """Where image ids are resolved: ``DATA/images`` if that folder exists, else ``DATA`` itself."""
    data_dir = Path(data_dir)
    return data_dir / "images" if (data_dir / "images").is_dir() else data_dir


@dataclass(frozen=True)
class ImageProblem:
    """An image that cannot be used: ``reason`` is ``missing``, ``unreadable`` or ``escapes_root``."""

    image_id: str
    reason: str
    detail: str = ""


def _check_one(root: Path, image_id: str, decode: bool) -> ImageProblem | None:
    from PIL import Image

    path = (root / image_id)
    if not is_inside(root.resolve(), path.resolve()):
        return ImageProblem(image_id, "escapes_root", str(path))
    if not path.is_file():
        return ImageProblem(image_id, "missing", str(path))
    try:
        with Image.open(path) as image:
            if decode:
                image.load()
            else:
                image.verify()
    except Exception as error:  # Pillow raises many types for broken files
        return ImageProblem(image_id, "unreadable", f"{type(error).__name__}: {error}")
    return None


def check_images(root: str | Path, image_ids: Sequence[str], workers: int = 8, decode: bool = False
                 ) -> list[ImageProblem]:
    """Every image id that is missing under ``root``, escapes it, or that Pillow cannot read.

    ``decode=False`` checks headers and structure (``Image.verify``); ``decode=True`` decodes every image.
    """
    root = Path(root)
    unique = list(dict.fromkeys(str(i) for i in image_ids))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda i: _check_one(root, i, decode), unique))
    return [r for r in results if r is not None]


def carve_validation(train: pd.DataFrame, fraction: float = 0.1, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``train`` into (train, val), keeping every photo on one side.

    Photos are told apart by :func:`icaa.pipeline.photos.photo_keys` (a label CSV has no ``photo_key``
    column: it is derived from the file names, case-insensitively, as scan derives it). About ``fraction``
    of the photos go to validation, chosen by a seeded permutation.
    """
    if not 0.0 < fraction < 1.0:
        raise IcaaError(f"validation fraction must be in (0, 1), got {fraction}")
    keys = photo_keys(train)
    # Ordered by lower-cased file name, as before photo_key existed, so that a seed keeps its split.
    unique = np.array(sorted(keys.unique(), key=lambda key: (Path(key).name.lower(), key)))
    if len(unique) < 2:
        raise IcaaError(f"cannot carve a validation split from {len(unique)} distinct photo(s); add a val.csv")
    rng = np.random.default_rng(seed)
    n_val = min(len(unique) - 1, max(1, int(round(fraction * len(unique)))))
    val_keys = set(rng.permutation(unique)[:n_val])
    is_val = keys.isin(val_keys)
    return train[~is_val].reset_index(drop=True), train[is_val].reset_index(drop=True)


class ScoreDataset:
    """A map-style dataset of ``(image, target)``: ``image`` from ``transform(PIL RGB image)``, ``target`` a
    float32 tensor ``[overall, colour] / 10`` (overall NaN where absent).

    Images are decoded with Pillow; ``transform`` takes a PIL image and returns a ``(3, H, W)`` tensor.
    """

    def __init__(self, labels: pd.DataFrame, root: str | Path, transform: Callable) -> None:
        import torch

        self.root = Path(root)
        self.image_ids = labels["image_id"].astype(str).tolist()
        targets = labels[["overall_score", "colour_score"]].to_numpy(dtype=np.float32) / 10.0
        self.targets = torch.from_numpy(np.ascontiguousarray(targets))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int):
        from PIL import Image

        with Image.open(self.root / self.image_ids[index]) as image:
            rgb = image.convert("RGB")
        return self.transform(rgb), self.targets[index]
