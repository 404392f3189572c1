"""File handling shared by the stages: atomic writes, reading tables, paths kept inside a root."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from icaa.pipeline.contracts import check_values, table_name
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.schemas import TABLES

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "write_table",
    "read_table",
    "require_columns",
    "is_inside",
    "resolve_inside",
    "relative_id",
    "apply_umask",
]


def apply_umask(path: Path | str) -> None:
    """Give a file made by ``tempfile.mkstemp`` (mode 0600) the mode a plain ``open`` would, 0666 less the umask
    (a folder from ``tempfile.mkdtemp``: 0777 less the umask, as ``mkdir`` gives).

    Outputs on shared storage must be readable by whoever the user's umask allows, as any other file they
    write is.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~mask)


def _atomic_replace(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        apply_umask(tmp_name)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    _atomic_replace(Path(path), lambda handle: handle.write(data))


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _cast_error(frame: pd.DataFrame, schema: pa.Schema, where: Path) -> IcaaError:
    """The one-sentence error for a frame whose values cannot take their declared types."""
    name = (schema.metadata or {}).get(b"table", b"a").decode()
    for field in schema:
        if field.name not in frame.columns:
            return IcaaError(f"{name} table ({where}): column {field.name} is missing")
        nulls = int(frame[field.name].isna().sum())
        if not field.nullable and nulls:
            return IcaaError(f"{name} table ({where}): column {field.name} may not be empty, but {nulls} row(s) "
                             f"hold null")
        try:
            pa.array(frame[field.name], type=field.type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
            for value in frame[field.name]:
                try:
                    pa.array([value], type=field.type, from_pandas=True)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
                    return IcaaError(f"{name} table ({where}): column {field.name} holds {value!r}, which is not "
                                     f"{field.type}")
    return IcaaError(f"{name} table ({where}): its columns do not fit the declared types")


def write_table(table: pa.Table | pd.DataFrame, path: Path | str, schema: pa.Schema | None = None) -> None:
    """Write a table as Parquet atomically; with ``schema`` (a declaration of :mod:`icaa.pipeline.schemas`), cast to
    it and check every value against it first (:func:`icaa.pipeline.contracts.check_values`), so that no table
    leaves a stage breaking its contract. An open table (the dataset manifest) keeps its other columns as they
    are and must have every declared one."""
    is_open = schema is not None and table_name(schema) in TABLES and TABLES[table_name(schema)].open
    cast_to = None if is_open else schema
    if isinstance(table, pd.DataFrame):
        if cast_to is not None and table.empty:
            table = cast_to.empty_table()  # an empty frame may not even have the columns
        else:
            try:
                table = pa.Table.from_pandas(table, schema=cast_to, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError, ValueError) as error:
                if cast_to is None:
                    raise
                raise _cast_error(table, cast_to, Path(path)) from error
    elif cast_to is not None:
        table = table.select(cast_to.names).cast(cast_to)
    if schema is not None:
        missing = [name for name in schema.names if name not in table.column_names]
        if missing:
            raise IcaaError(f"{table_name(schema)} table ({path}): column(s) {', '.join(missing)} missing")
        check_values(table, schema, path)
    _atomic_replace(Path(path), lambda handle: pq.write_table(table, handle))


def read_table(path: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet or CSV table into pandas; a missing or unreadable file raises IcaaError."""
    path = Path(path)
    if not path.is_file():
        raise IcaaError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path, columns=columns)
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", usecols=columns)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise IcaaError(f"{path}: cannot read table ({error})") from None
    raise IcaaError(f"{path}: expected a .parquet or .csv table, got '{suffix}'")


def require_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...], where: str) -> None:
    """Raise IcaaError naming every required column that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise IcaaError(f"{where}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}")


def is_inside(root: Path, path: Path) -> bool:
    """Whether resolved ``path`` is ``root`` or lies below it (both already resolved)."""
    return path == root or root in path.parents


def resolve_inside(root: Path | str, relative: str) -> Path:
    """The absolute path of ``relative`` under ``root``; IcaaError if it escapes the root.

    ``../../x.jpg``, absolute paths and symlinks pointing outside are refused.
    """
    root_path = Path(root).resolve()
    candidate = (root_path / relative).resolve()
    if not is_inside(root_path, candidate):
        raise IcaaError(f"{relative!r} escapes the image root {root_path}")
    return candidate


def relative_id(path: Path | str, root: Path | str) -> str:
    """A stable image id: the path relative to ``root`` with POSIX separators."""
    relative = Path(path).resolve().relative_to(Path(root).resolve())
    return str(PurePosixPath(*relative.parts))
