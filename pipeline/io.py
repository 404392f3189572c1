"""Tables on disk for the stages: Parquet written atomically (cast to a schema), Parquet or CSV read, required
columns checked. Atomic writes of other files and path checks are :mod:`icaa.common.files`. Tables are pandas
frames or Arrow tables (:func:`read_arrow_table`), as the stage works; pandas is imported only for a frame, so a
stage that works on Arrow tables alone starts without it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write
from icaa.pipeline.contracts import check_values, table_name
from icaa.pipeline.schemas import TABLES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_table", "write_tables", "read_table", "read_arrow_table", "require_columns"]


def _is_frame(table: object) -> bool:
    """Whether ``table`` is a pandas frame (there is none unless pandas is loaded)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(table, pandas.DataFrame)


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


def write_table(table: pa.Table | pd.DataFrame, path: Path | str, schema: pa.Schema | None = None, *,
                check: bool = True) -> None:
    """Write a table as Parquet atomically; with ``schema`` (a declaration of :mod:`icaa.pipeline.schemas`), cast to
    it and check every value against it first (:func:`icaa.pipeline.contracts.check_values`), so that no table
    leaves a stage breaking its contract. An open table (the dataset manifest) keeps its other columns as they
    are and must have every declared one. ``check=False`` only casts: for a stage's intermediate parts, whose
    gathered table is checked when it is written."""
    _write_parquet(_contract_table(table, path, schema, check=check), path)


def write_tables(*outputs: tuple[pa.Table | pd.DataFrame, Path | str, pa.Schema]) -> None:
    """Write the ``(table, path, schema)`` outputs of one stage as :func:`write_table` does, in the order given,
    after every one of them has been cast and checked: a table breaking its contract leaves every output as
    it was, not some replaced."""
    checked = [(_contract_table(table, path, schema, check=True), path) for table, path, schema in outputs]
    for table, path in checked:
        _write_parquet(table, path)


def _write_parquet(table: pa.Table, path: Path | str) -> None:
    atomic_write(Path(path), lambda handle: pq.write_table(table, handle))


def _contract_table(table: pa.Table | pd.DataFrame, path: Path | str, schema: pa.Schema | None, *,
                    check: bool) -> pa.Table:
    """``table`` as an Arrow table cast to ``schema`` (an open one: with its declared columns present), its values
    checked when ``check``; raises IcaaError naming the table, column and value otherwise."""
    is_open = schema is not None and table_name(schema) in TABLES and TABLES[table_name(schema)].open
    cast_to = None if is_open else schema
    if _is_frame(table):
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
        table = table.select(cast_to.names)
        # Same types and no null where the schema forbids one: relabelled, as the cast would (which loads
        # pyarrow.compute, 20-30 ms of a command's start-up); anything else is cast and refused as before.
        if [field.type for field in table.schema] == list(cast_to.types) and not any(
                column.null_count and not field.nullable for column, field in zip(table.columns, cast_to)):
            table = pa.Table.from_arrays([_with_type(column, field.type) for column, field in
                                          zip(table.columns, cast_to)], schema=cast_to)
        else:
            table = table.cast(cast_to)
    if schema is not None:
        present = set(table.column_names)
        missing = [name for name in schema.names if name not in present]
        if missing:
            raise IcaaError(f"{table_name(schema)} table ({path}): column(s) {', '.join(missing)} missing")
        if check:
            check_values(table, schema, path)
    return table


def _with_type(column: pa.ChunkedArray, data_type: pa.DataType) -> pa.ChunkedArray:
    """``column`` labelled with ``data_type``, an equal type that may name its parts otherwise (a list's child
    field: Parquet reads ``element`` where the schemas say ``item``); its buffers are reused as they are."""
    if str(column.type) == str(data_type):
        return column
    return pa.chunked_array([chunk.view(data_type) for chunk in column.chunks], data_type)


def _read(path: Path | str, read_parquet: Callable[[Path], Any], read_csv: Callable[[Path, str], Any]) -> Any:
    """``read_parquet(path)`` or ``read_csv(path, delimiter)`` by the file's suffix; every way that fails is an
    IcaaError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise IcaaError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".tsv", ".txt"):
        raise IcaaError(f"{path}: expected a .parquet or .csv table, got '{suffix}'")
    try:
        if suffix in (".parquet", ".pq"):
            return read_parquet(path)
        return read_csv(path, "\t" if suffix == ".tsv" else ",")
    except (OSError, ValueError, pa.ArrowException) as error:
        raise IcaaError(f"{path}: cannot read table ({error})") from None


def read_table(path: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet or CSV table into pandas; a missing or unreadable file raises IcaaError."""
    import pandas as pd

    return _read(path, lambda parquet: pd.read_parquet(parquet, columns=columns),
                 lambda csv, delimiter: pd.read_csv(csv, sep=delimiter, usecols=columns))


def read_arrow_table(path: Path | str, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet or CSV table as an Arrow table, with those of ``columns`` it has (all by default); a
    missing or unreadable file raises IcaaError, as :func:`read_table`."""
    def read_parquet(parquet: Path) -> pa.Table:
        # ParquetFile reads one file as pq.read_table does, without the dataset layer (which loads pandas).
        with pq.ParquetFile(parquet) as file:
            present = file.schema_arrow.names
            return file.read(columns=None if columns is None else [c for c in columns if c in present])

    def read_csv(csv: Path, delimiter: str) -> pa.Table:
        import pyarrow.csv as pacsv

        # An empty cell is null, as pandas reads it (not the empty string).
        table = pacsv.read_csv(csv, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                               convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        return table if columns is None else table.select([c for c in columns if c in table.column_names])

    return _read(path, read_parquet, read_csv)


def require_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...], where: str) -> None:
    """Raise IcaaError naming every required column that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise IcaaError(f"{where}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}")
