"""Arrow arrays and tables from Python values and numpy arrays, built from their buffers.

Why not ``pa.array`` or ``pa.Table.from_pylist``: on their first call they import pandas (pyarrow asks whether
the values are a pandas object), which costs about 0.15 s of start-up. harmony-score builds its tables here and
so runs without pandas. The arrays are the ones pyarrow builds for the types the stages use, and a value pyarrow
refuses (out of range, a fraction for an integer) is refused here too. Stricter than pyarrow: a boolean in a
number column and bytes in a text column are refused, not converted, and so are other types.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

__all__ = ["array_from_values", "array_from_numpy", "table_from_rows", "floats_from_array"]


def _validity(values: Sequence) -> tuple[pa.Buffer | None, int]:
    """Arrow's validity bitmap of ``values`` (None is null) and the null count; no bitmap when none is null."""
    valid = np.fromiter((value is not None for value in values), dtype=bool, count=len(values))
    nulls = len(values) - int(valid.sum())
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _offsets(lengths: np.ndarray, data_type: pa.DataType) -> pa.Buffer:
    dtype = np.int64 if pa.types.is_large_string(data_type) or pa.types.is_large_list(data_type) else np.int32
    offsets = np.zeros(len(lengths) + 1, dtype=dtype)
    np.cumsum(lengths, out=offsets[1:])
    return pa.py_buffer(offsets)


def _numpy_dtype(data_type: pa.DataType) -> np.dtype:
    if pa.types.is_boolean(data_type):
        return np.dtype(bool)
    if pa.types.is_floating(data_type):
        return np.dtype(f"f{data_type.bit_width // 8}")
    if pa.types.is_signed_integer(data_type):
        return np.dtype(f"i{data_type.bit_width // 8}")
    if pa.types.is_unsigned_integer(data_type):
        return np.dtype(f"u{data_type.bit_width // 8}")
    raise TypeError(f"cannot build {data_type} from a numpy array")


def array_from_numpy(values: np.ndarray, data_type: pa.DataType | None = None) -> pa.Array:
    """A 1-D numeric or boolean numpy array as an Arrow array of ``data_type`` (its own dtype's by default)."""
    values = np.ascontiguousarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {values.shape}")
    data_type = data_type or pa.from_numpy_dtype(values.dtype)
    numpy_type = _numpy_dtype(data_type)
    if numpy_type.kind != "b":
        if numpy_type.kind in "iu" and values.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                not_whole = values[~np.isfinite(values) | (np.mod(values, 1) != 0)]
            if len(not_whole):
                raise TypeError(f"a {data_type} column cannot hold {float(not_whole[0])}")
        if numpy_type.kind in "iu" and values.dtype.kind in "iuf" and len(values):
            info = np.iinfo(numpy_type)
            if values.min() < info.min or values.max() > info.max:
                outside = values[(values < info.min) | (values > info.max)][0]
                raise TypeError(f"{outside} is outside the range of a {data_type} column")
    return pa.Array.from_buffers(data_type, len(values), [None, _values_buffer(values, numpy_type)])


def _values_buffer(values: np.ndarray, numpy_type: np.dtype) -> pa.Buffer:
    """The data buffer of an Arrow array of ``numpy_type`` values (booleans packed to bits)."""
    if numpy_type.kind == "b":
        return pa.py_buffer(np.packbits(values.astype(bool), bitorder="little"))
    return pa.py_buffer(np.ascontiguousarray(values, dtype=numpy_type))


def _checked_number(value: object, data_type: pa.DataType, numpy_type: np.dtype) -> object:
    """``value`` as it goes into a number or boolean column; TypeError where ``pa.array`` would refuse it (text, a
    boolean among numbers, a fraction or a value out of range for an integer, an integer a float cannot hold)."""
    is_bool = isinstance(value, (bool, np.bool_))
    if is_bool != (numpy_type.kind == "b") or not isinstance(value, (int, float, np.number, np.bool_)):
        raise TypeError(f"cannot put {value!r} into a {data_type} column")
    if numpy_type.kind in "iu":
        if isinstance(value, (float, np.floating)) and not (math.isfinite(value) and value == int(value)):
            raise TypeError(f"a {data_type} column cannot hold {value}")
        info = np.iinfo(numpy_type)
        if not info.min <= int(value) <= info.max:
            raise TypeError(f"{int(value)} is outside the range of a {data_type} column")
        return int(value)
    if numpy_type.kind == "f" and isinstance(value, (int, np.integer)) and not is_bool \
            and abs(int(value)) > 2 ** (np.finfo(numpy_type).nmant + 1):
        raise TypeError(f"{value} cannot be held exactly in a {data_type} column")
    return value


def array_from_values(values: Sequence, data_type: pa.DataType) -> pa.Array:
    """``values`` (Python or numpy scalars, None for null) as an Arrow array of ``data_type``: a number, boolean,
    (large) string, or a list of numbers. A NaN stays a NaN value, as ``pa.array`` keeps it."""
    count = len(values)
    validity, nulls = _validity(values)
    if pa.types.is_boolean(data_type) or pa.types.is_integer(data_type) or pa.types.is_floating(data_type):
        numpy_type = _numpy_dtype(data_type)
        filler = np.nan if numpy_type.kind == "f" else 0
        numbers = [filler if value is None else value if numpy_type.kind == "f" and isinstance(value, float)
                   else _checked_number(value, data_type, numpy_type) for value in values]
        # _checked_number has held every value to the column's type and range.
        data = _values_buffer(np.array(numbers, dtype=numpy_type), numpy_type)
        return pa.Array.from_buffers(data_type, count, [validity, data], null_count=nulls)
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        encoded = []
        for value in values:
            if value is not None and not isinstance(value, str):
                raise TypeError(f"cannot put {value!r} into a {data_type} column")
            encoded.append(b"" if value is None else value.encode("utf-8"))
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=count)
        return pa.Array.from_buffers(data_type, count, [validity, _offsets(lengths, data_type),
                                                        pa.py_buffer(b"".join(encoded))], null_count=nulls)
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        items = [() if value is None else value for value in values]
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=count)
        child = array_from_values([item for value in items for item in value], data_type.value_type)
        return pa.Array.from_buffers(data_type, count, [validity, _offsets(lengths, data_type)], null_count=nulls,
                                     children=[child])
    raise TypeError(f"cannot build a {data_type} column from Python values")


def floats_from_array(data: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric (integer or floating) Arrow array as float64 numpy values, null as NaN; read from its buffers,
    since ``to_numpy`` loads pandas."""
    chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
    parts = [np.empty(0, np.float64)]
    for chunk in chunks:
        if not (pa.types.is_integer(chunk.type) or pa.types.is_floating(chunk.type)):
            raise TypeError(f"expected a numeric array, got {chunk.type}")
        validity, values = chunk.buffers()[:2]
        start, stop = chunk.offset, chunk.offset + len(chunk)
        if not len(chunk):
            continue
        floats = np.frombuffer(values, _numpy_dtype(chunk.type))[start:stop].astype(np.float64)
        if validity is not None and chunk.null_count:
            valid = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[start:stop].astype(bool)
            floats[~valid] = np.nan
        parts.append(floats)
    return np.concatenate(parts)


def table_from_rows(rows: Sequence[Mapping], schema: pa.Schema) -> pa.Table:
    """Rows (mappings of column name to value; a missing name is null) as a table of ``schema``."""
    columns = [array_from_values([row.get(field.name) for row in rows], field.type) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)
