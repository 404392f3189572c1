"""Chunk functions for tests whose chunks run in other processes (Dask workers, local workers of a script run
as a subprocess); imported by name there (``PYTHONPATH=tests``).

They live in their own small module because Dask workers import a submitted function by its
module name, and pytest's test modules are not importable under a stable name from a worker.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

__all__ = ["slow_square_chunk", "report_process_chunk"]


def slow_square_chunk(rows: pd.DataFrame, *, seconds_per_row: float = 0.0, started_dir: str | None = None) -> dict:
    """Square ``value`` after a pause; records ``<first id>.<pid>`` in ``started_dir`` on start.

    The start record lets the test find a worker that is in the middle of a chunk and kill it.
    """
    if started_dir:
        Path(started_dir, f"{rows['item_id'].iloc[0]}.{os.getpid()}").touch()
    time.sleep(seconds_per_row * len(rows))
    return {"squares": pd.DataFrame({"item_id": rows["item_id"].astype(str),
                                     "square": rows["value"].astype("int64") ** 2})}


def report_process_chunk(rows: pd.DataFrame, *, report_dir: str) -> dict:
    """Square ``value``; records ``<first id>`` holding the pid that computed the chunk and the pid that imported
    ``preload_marker`` in that process (``None`` when it is not imported there)."""
    import sys

    marker = sys.modules.get("preload_marker")
    Path(report_dir, str(rows["item_id"].iloc[0])).write_text(f"{os.getpid()} {getattr(marker, 'IMPORTED_IN', None)}")
    return slow_square_chunk(rows)
