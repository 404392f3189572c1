"""Read, validate and write ICAA17K label files (``ID,color,MOS,probability``).

Anything written for the ICAA17K release reads our datasets unchanged, and our tools read the release:
``ID`` is the image path under the image root (``<kind>/<category>/<file>``), ``color`` the
colour-aesthetics MOS (1..10, the target), ``MOS`` the overall aesthetics MOS and ``probability`` the
mean annotator confidence (0..1); the columns are declared once, ``icaa.pipeline.schemas.ICAA17K``. In
a dataset we build, ``ID`` is derived (``build.file_names``): the category, a slash and the file name of
the ``image_id``; ``manifest.parquet`` holds both.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa

from icaa.pipeline.contracts import check_values
from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_text
from icaa.pipeline.schemas import ICAA17K, bounds

__all__ = ["ICAA17K_COLUMNS", "LABEL_COLUMNS", "read_icaa17k_csv", "validate_icaa17k_frame", "write_icaa17k_csv"]

ICAA17K_COLUMNS: tuple[str, ...] = tuple(ICAA17K.names)
LABEL_COLUMNS: tuple[str, ...] = ICAA17K_COLUMNS[1:]
_PROBABILITY_MIN, _PROBABILITY_MAX = bounds(ICAA17K.field("probability"))


def _rows(index: np.ndarray, limit: int = 5) -> str:
    """Human row numbers (CSV line numbers: header is line 1)."""
    shown = ", ".join(str(int(i) + 2) for i in index[:limit])
    return shown + (f" and {len(index) - limit} more" if len(index) > limit else "")


def validate_icaa17k_frame(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check an ICAA17K table; return it with exactly the four columns and exact duplicate rows dropped.

    Raises IcaaError naming the CSV lines for: missing columns, empty or escaping IDs (absolute paths,
    ``..``), non-numeric or missing labels, probability outside 0..1, and one ID with different labels.
    """
    missing = [c for c in ICAA17K_COLUMNS if c not in frame.columns]
    if missing:
        raise IcaaError(f"{where}: missing column(s) {', '.join(missing)}; an ICAA17K label file has exactly "
                        f"{','.join(ICAA17K_COLUMNS)} (found {', '.join(map(str, frame.columns))})")
    frame = frame.loc[:, list(ICAA17K_COLUMNS)].reset_index(drop=True)
    ids = frame["ID"].astype("string")
    empty = np.flatnonzero(ids.isna().to_numpy() | (ids.fillna("").str.strip() == "").to_numpy())
    if len(empty):
        raise IcaaError(f"{where}: {len(empty)} row(s) have an empty ID (lines {_rows(empty)})")
    escaping = np.flatnonzero([PurePosixPath(i.replace("\\", "/")).is_absolute() or ".." in i.replace("\\", "/").split("/")
                               or i[1:3] == ":\\" for i in ids.astype(str)])
    if len(escaping):
        raise IcaaError(f"{where}: {len(escaping)} ID(s) escape the image root, e.g. {ids.iloc[escaping[0]]!r} "
                        f"(lines {_rows(escaping)}); IDs must be relative paths like complementary/red_blue/x.jpg")
    for name in LABEL_COLUMNS:
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=np.float64)))
        if len(bad):
            raise IcaaError(f"{where}: column {name} has {len(bad)} missing or non-numeric value(s), e.g. "
                            f"{frame[name].iloc[bad[0]]!r} (lines {_rows(bad)})")
        frame[name] = values.astype(np.float64)
    outside = np.flatnonzero(((frame["probability"] < _PROBABILITY_MIN)
                              | (frame["probability"] > _PROBABILITY_MAX)).to_numpy())
    if len(outside):
        raise IcaaError(f"{where}: probability must lie in {_PROBABILITY_MIN:g}..{_PROBABILITY_MAX:g}; lines {_rows(outside)} have e.g. "
                        f"{frame['probability'].iloc[outside[0]]}")
    frame["ID"] = ids.astype(str)
    exact = frame.duplicated(keep="first")
    frame = frame.loc[~exact].reset_index(drop=True) if exact.any() else frame
    conflict = frame["ID"].duplicated(keep=False).to_numpy()
    if conflict.any():
        rows = np.flatnonzero(conflict)
        first = frame["ID"].iloc[rows[0]]
        raise IcaaError(f"{where}: {frame['ID'][conflict].nunique()} ID(s) appear with different labels, e.g. "
                        f"{first!r} (rows {_rows(rows)}); keep one label per ID")
    return frame


def read_icaa17k_csv(path: Path | str) -> pd.DataFrame:
    """Read and validate one ICAA17K label file; IcaaError on any problem (see :func:`validate_icaa17k_frame`).

    Examples
    --------
    >>> frame = read_icaa17k_csv("dataset/train.csv")  # doctest: +SKIP
    >>> list(frame.columns)  # doctest: +SKIP
    ['ID', 'color', 'MOS', 'probability']
    """
    path = Path(path)
    if not path.is_file():
        raise IcaaError(f"{path}: no such ICAA17K label file")
    try:
        frame = pd.read_csv(path, dtype={"ID": str})
    except (OSError, ValueError) as error:
        raise IcaaError(f"{path}: cannot read as CSV ({error})") from None
    return validate_icaa17k_frame(frame, str(path))


def write_icaa17k_csv(frame: pd.DataFrame, path: Path | str) -> None:
    """Write exactly ``ID,color,MOS,probability`` atomically (float labels as given, no index), after checking
    the values against the declaration ``icaa.pipeline.schemas.ICAA17K``."""
    columns = frame.loc[:, list(ICAA17K_COLUMNS)]
    check_values(pa.Table.from_pandas(columns, preserve_index=False), ICAA17K, path)
    atomic_write_text(path, columns.to_csv(index=False))
