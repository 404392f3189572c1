"""Checks of a table against its declaration in :mod:`icaa.pipeline.schemas`: on read and on write.

On read, a stage checks the columns it uses, so a wrong file (the colour table where the coarse one
belongs) gets "work/harmony/colour.parquet is not coarse.parquet from fuse: it lacks coarse_score; it
looks like colour.parquet from harmony-score" instead of ``KeyError: 'coarse_score'``. On write,
:func:`check_values` (called by :func:`icaa.pipeline.io.write_table`) holds every value to its column's
contract: no null in a non-nullable column, numbers within ``min``/``max``, text within ``allowed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa

from icaa.common.errors import IcaaError
from icaa.pipeline.arrow_arrays import floats_from_array
from icaa.pipeline.schemas import TABLES, allowed_values, bounds

__all__ = ["identify_table", "check_table", "check_values", "table_name"]

# Most specific first: a selection also has coarse_score, a dataset manifest has every column.
_IDENTIFY_ORDER = ("manifest", "selection", "coarse", "mos", "ratings", "colour", "popularity", "images", "rejects")


def identify_table(columns: Iterable[str]) -> str | None:
    """The kind of stage table whose distinctive columns ``columns`` has, or None."""
    present = set(columns)
    for kind in _IDENTIFY_ORDER:
        if set(TABLES[kind].distinctive) <= present:
            return kind
    return None


def check_table(frame, kind: str, source: Path | str, needed: Iterable[str] | None = None) -> None:
    """Raise IcaaError, in one sentence, when ``frame`` (a pandas frame or an Arrow table, read from ``source``)
    lacks a column of the ``kind`` contract (or of ``needed``, when given)."""
    what = TABLES[kind].what
    columns = [str(c) for c in (frame.column_names if isinstance(frame, pa.Table) else frame.columns)]
    missing = [c for c in (needed if needed is not None else TABLES[kind].needed) if c not in columns]
    if not missing:
        return
    looks = identify_table(columns)
    hint = (f"; it looks like {TABLES[looks].what}" if looks and looks != kind
            else f"; it has {', '.join(columns[:8])}{', ...' if len(columns) > 8 else ''}")
    raise IcaaError(f"{source} is not {what}: it lacks {', '.join(missing)}{hint}")


def table_name(schema: pa.Schema) -> str | None:
    """The declared table a schema belongs to (its ``table`` metadata), or None."""
    metadata = schema.metadata or {}
    return metadata[b"table"].decode() if b"table" in metadata else None


def _null_count(data: pa.ChunkedArray) -> int:
    """Rows holding null (NaN counts as null in a floating column). Read from the buffers for plain columns:
    pyarrow's ``is_null`` loads pyarrow.compute, 20-30 ms of a command's start-up."""
    if pa.types.is_floating(data.type):
        return int(np.isnan(floats_from_array(data)).sum())
    if pa.types.is_dictionary(data.type) or pa.types.is_run_end_encoded(data.type):
        import pyarrow.compute as pc  # their nulls may sit in the dictionary or the run values

        return int(pc.sum(data.is_null()).as_py() or 0)
    return data.null_count


#: Up to this many rows, a string column's distinct values are read without pyarrow.compute (whose import
#: costs more than reading a few thousand values); beyond, its hash kernel is faster.
_DISTINCT_WITHOUT_COMPUTE_MAX_ROWS = 100_000


def _distinct_texts(data: pa.ChunkedArray) -> list[str]:
    """The distinct non-null values of a text column, in order of first appearance."""
    if pa.types.is_string(data.type) and len(data) <= _DISTINCT_WITHOUT_COMPUTE_MAX_ROWS:
        return [value for value in dict.fromkeys(data.to_pylist()) if value is not None]
    import pyarrow.compute as pc

    data = data.cast(pa.string())  # dictionary-encoded (categorical), large or view strings
    return pc.unique(data.drop_null() if data.null_count else data).to_pylist()


def _first_bad(values: np.ndarray, bad: np.ndarray) -> object:
    value = values[np.flatnonzero(bad)[0]]
    return value.item() if hasattr(value, "item") else value


def _is_text(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        return _is_text(data_type.value_type)
    return (pa.types.is_string(data_type) or pa.types.is_large_string(data_type)
            or getattr(pa.types, "is_string_view", lambda _: False)(data_type))


def check_values(table: pa.Table, schema: pa.Schema, where: Path | str | None = None) -> None:
    """Raise IcaaError naming the table, the column and the first offending value when ``table`` breaks the
    contract of ``schema``'s columns (those present: null in a non-nullable column, a number outside
    ``min``/``max``, text outside ``allowed``); NaN counts as null.

    >>> from icaa.pipeline.schemas import SELECTION
    >>> check_values(pa.table({"coarse_score": [3.0, 11.5]}), SELECTION)
    Traceback (most recent call last):
    icaa.common.errors.IcaaError: selection table: column coarse_score holds 11.5, outside 1..10 (1 row)
    """
    name = table_name(schema) or "a"
    place = f" ({where})" if where else ""
    for field in schema:
        if field.name not in table.column_names:
            continue
        data = table.column(field.name)
        if not field.nullable:
            nulls = _null_count(data)
            if nulls:
                raise IcaaError(f"{name} table{place}: column {field.name} may not be empty, but {nulls} row(s) "
                                f"hold null")
        low, high = bounds(field)
        if (low is not None or high is not None) and (pa.types.is_integer(data.type) or
                                                       pa.types.is_floating(data.type)):
            values = floats_from_array(data)
            with np.errstate(invalid="ignore"):  # an infinite value is outside any declared range
                bad = ~np.isnan(values) & (np.isinf(values) | ((values < low) if low is not None else False)
                                           | ((values > high) if high is not None else False))
            if np.any(bad):
                span = f"{low:g}..{high:g}" if low is not None and high is not None else (
                    f">= {low:g}" if low is not None else f"<= {high:g}")
                value = _first_bad(values, bad)
                value = int(value) if float(value).is_integer() and pa.types.is_integer(data.type) else value
                raise IcaaError(f"{name} table{place}: column {field.name} holds {value:g}, outside {span} "
                                f"({int(bad.sum())} row{'s' if bad.sum() > 1 else ''})")
        allowed = allowed_values(field)
        if allowed is not None and _is_text(data.type):
            separator = (field.metadata or {}).get(b"separator", b"").decode() or None
            known = set(allowed)
            for value in _distinct_texts(data):
                parts = value.split(separator) if separator else [value]
                unknown = [part for part in parts if part not in known]
                if unknown:
                    raise IcaaError(f"{name} table{place}: column {field.name} holds {value!r}, which is not one of "
                                    f"its {len(allowed)} declared values ({', '.join(map(str, allowed[:6]))}"
                                    f"{', ...' if len(allowed) > 6 else ''})")
