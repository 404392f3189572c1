"""Arrow arrays built from their buffers equal pyarrow's own, and building them loads no pandas."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from icaa.pipeline.arrow_arrays import array_from_numpy, array_from_values, floats_from_array, table_from_rows
from icaa.pipeline.schemas import COLOUR_PARTS, REJECTS

CASES = [
    ([1.0, None, 2, np.float32(3.5), -0.0], pa.float64()),
    ([1, None, np.int64(3), 4.0], pa.int64()),
    ([7, 255], pa.uint8()),
    ([True, None, np.bool_(False)], pa.bool_()),
    (["red", None, "", "vert clair é ✓"], pa.string()),
    (["a", None], pa.large_string()),
    ([[1.0, 2.0], None, [], [3.0, None]], pa.list_(pa.float64())),
    ([], pa.float64()),
    ([], pa.string()),
    ([None, None], pa.string()),
    ([None], pa.list_(pa.float64())),
]


@pytest.mark.parametrize("values, data_type", CASES, ids=lambda case: str(case)[:30])
def test_an_array_from_values_equals_pyarrows(values, data_type):
    built = array_from_values(values, data_type)
    built.validate(full=True)
    assert built.equals(pa.array(values, data_type))
    assert built.null_count == sum(value is None for value in values)


def test_a_nan_stays_a_value_and_none_is_null():
    built = array_from_values([float("nan"), None], pa.float64())
    first, second = built.to_pylist()
    assert math.isnan(first) and second is None
    assert built.null_count == 1


@pytest.mark.parametrize("values, data_type, message", [
    (["x"], pa.float64(), "cannot put 'x' into a double column"),
    ([True], pa.float64(), "cannot put True into a double column"),
    ([1], pa.string(), "cannot put 1 into a string column"),
    ([1.5], pa.int64(), "cannot hold 1.5"),
    ([float("nan")], pa.int64(), "cannot hold nan"),
    ([{"a": 1}], pa.struct([("a", pa.int64())]), "cannot build a struct"),
    ([300], pa.uint8(), "300 is outside the range of a uint8 column"),
    ([-1], pa.uint8(), "-1 is outside the range"),
    ([2**63], pa.int64(), "outside the range of a int64 column"),
    ([2**40], pa.int32(), "outside the range of a int32 column"),
    ([2**53 + 1, 0.5], pa.float64(), "cannot be held exactly in a double column"),
])
def test_a_value_of_the_wrong_kind_is_refused(values, data_type, message):
    with pytest.raises(TypeError, match=message):
        array_from_values(values, data_type)


@pytest.mark.parametrize("values, data_type", [
    ([2**63 - 1, 1.0], pa.int64()), ([2**53 + 1, 1.0], pa.int64()), ([2**53, 0.5], pa.float64()),
])
def test_large_integers_keep_every_digit_as_in_pyarrow(values, data_type):
    assert array_from_values(values, data_type).equals(pa.array(values, data_type))


def test_an_array_from_numpy_keeps_values_and_type():
    assert array_from_numpy(np.array([3, 1, 2])).equals(pa.array([3, 1, 2], pa.int64()))
    assert array_from_numpy(np.array([0.5, 2.0], np.float32), pa.float64()).to_pylist() == [0.5, 2.0]
    assert array_from_numpy(np.array([True, False, True])).to_pylist() == [True, False, True]
    with pytest.raises(ValueError, match="1-D"):
        array_from_numpy(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="300 is outside the range of a uint8 column"):
        array_from_numpy(np.array([1, 300]), pa.uint8())


def test_floats_from_an_array_follow_offsets_chunks_and_nulls():
    sliced = pa.array([1, None, 3, 4], pa.int64()).slice(1)
    chunked = pa.chunked_array([pa.array([1.5, float("nan"), None]), pa.array([], pa.float64()),
                                pa.array([2.0]).slice(0)])
    np.testing.assert_array_equal(floats_from_array(sliced), [np.nan, 3.0, 4.0])
    np.testing.assert_array_equal(floats_from_array(chunked), [1.5, np.nan, np.nan, 2.0])
    np.testing.assert_array_equal(floats_from_array(pa.array([7, 200], pa.uint8())), [7.0, 200.0])
    assert floats_from_array(pa.array([], pa.int32())).shape == (0,)
    with pytest.raises(TypeError, match="numeric"):
        floats_from_array(pa.array(["a"]))


def test_a_table_from_rows_equals_from_pylist_for_the_stage_schemas():
    rows = [{"image_id": "a.jpg", "category": "monochromatic/red", "category_confidence": 0.5,
             "dominant_lab": [50.0, 10.0, -3.0], "ryb12_dominant": 0, "harmony_score": None},
            {"image_id": "b.jpg"}]
    assert table_from_rows(rows, COLOUR_PARTS).equals(pa.Table.from_pylist(rows, schema=COLOUR_PARTS))
    assert table_from_rows([], REJECTS).equals(REJECTS.empty_table())


def test_building_tables_and_checking_them_loads_no_pandas(tmp_path):
    """pa.array, pa.Table.from_pylist, to_numpy and pq.read_table all import pandas; these helpers do not."""
    code = f"""
import sys
import pyarrow as pa
from icaa.pipeline.arrow_arrays import array_from_values, floats_from_array, table_from_rows
from icaa.pipeline.io import read_arrow_table, write_table
from icaa.pipeline.schemas import REJECTS
table = table_from_rows([{{"image_id": "a", "path": "/a", "stage": "harmony-score", "reason": "missing",
                          "detail": "no such file"}}], REJECTS)
write_table(table, {str(tmp_path / "r.parquet")!r}, REJECTS)
assert read_arrow_table({str(tmp_path / "r.parquet")!r}).equals(table)
floats_from_array(array_from_values([1.0, None], pa.float64()))
print("pandas" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
