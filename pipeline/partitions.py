"""Run a per-row stage over a manifest in chunks that resume, locally or on a Dask cluster.

Each chunk writes its output tables to ``part-NNNNN.<table>.parquet`` (temporary file, then rename)
and then a ``part-NNNNN.done`` marker. A re-run skips every chunk whose marker exists, so a stage
killed halfway redoes none of its finished chunks. The chunk function does not know whether local
processes or Dask workers run it; outputs are gathered in chunk order, so the final table is the
same row for row whatever the worker count or scheduler.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import atomic_write_json, write_table

__all__ = ["ChunkFunction", "fingerprint", "run_partitioned"]

#: ``chunk_function(rows, **options) -> {table_name: DataFrame}``; must be a module-level function.
ChunkFunction = Callable[..., Mapping[str, pd.DataFrame]]

_FINGERPRINT_FILE = "_fingerprint.json"


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (input ids, options, code version)."""
    payload = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:16]


def _part_path(work_dir: Path, index: int, table: str) -> Path:
    return work_dir / f"part-{index:05d}.{table}.parquet"


def _done_path(work_dir: Path, index: int) -> Path:
    return work_dir / f"part-{index:05d}.done"


def _run_chunk(chunk_function: ChunkFunction, rows: pd.DataFrame, options: dict[str, Any], work_dir: str,
               index: int, schemas: Mapping[str, pa.Schema]) -> dict[str, int]:
    """Compute one chunk and write its tables, unless its done marker says it is already written."""
    work_path = Path(work_dir)
    done = _done_path(work_path, index)
    if done.exists():
        return json.loads(done.read_text())
    outputs = chunk_function(rows, **options)
    counts: dict[str, int] = {}
    for table_name, schema in schemas.items():
        frame = outputs.get(table_name)
        if frame is None:
            frame = pd.DataFrame({name: pd.Series(dtype=object) for name in schema.names})
        write_table(frame, _part_path(work_path, index, table_name), schema=schema)
        counts[table_name] = len(frame)
    atomic_write_json(done, counts)
    return counts


def _prepare_work_dir(work_dir: Path, run_fingerprint: str) -> None:
    """Keep finished chunks only if they were made from the same input and options."""
    marker = work_dir / _FINGERPRINT_FILE
    if work_dir.exists():
        previous = json.loads(marker.read_text()).get("fingerprint") if marker.exists() else None
        if previous != run_fingerprint:
            shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if not marker.exists():
        atomic_write_json(marker, {"fingerprint": run_fingerprint})


def _gather(work_dir: Path, n_chunks: int, schemas: Mapping[str, pa.Schema]) -> dict[str, pd.DataFrame]:
    gathered: dict[str, pd.DataFrame] = {}
    for table_name, schema in schemas.items():
        tables = [pa.parquet.read_table(_part_path(work_dir, i, table_name)) for i in range(n_chunks)]
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        gathered[table_name] = table.to_pandas()
    return gathered


def run_partitioned(
    rows: pd.DataFrame,
    chunk_function: ChunkFunction,
    *,
    schemas: Mapping[str, pa.Schema],
    work_dir: Path | str,
    chunk_size: int = 256,
    workers: int = 1,
    scheduler: str | None = None,
    options: dict[str, Any] | None = None,
    run_fingerprint: str | None = None,
    retries: int = 2,
    description: str = "chunks",
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """Run ``chunk_function`` over ``rows`` in chunks of ``chunk_size`` and gather its tables.

    Parameters
    ----------
    rows
        The manifest, one row per item; chunk ``i`` is ``rows.iloc[i*chunk_size:(i+1)*chunk_size]``.
    chunk_function
        Module-level function ``(rows, **options) -> {table_name: DataFrame}``.
    schemas
        Name -> schema of every table the function returns (missing ones are written empty).
    work_dir
        Where chunk outputs and done markers live; kept between runs to resume.
    workers
        Local worker processes (1 runs in this process). Ignored when ``scheduler`` is given.
    scheduler
        ``tcp://host:port`` of a Dask distributed scheduler whose workers see ``work_dir``.
    run_fingerprint
        Identity of this run's input and options; finished chunks of another fingerprint are discarded.
    retries
        Dask retries per chunk (a lost worker's chunks are recomputed).

    Returns
    -------
    dict
        Table name -> DataFrame of all chunks, in input order.
    """
    if chunk_size < 1:
        raise IcaaError(f"chunk size must be at least 1, got {chunk_size}")
    if workers < 1:
        raise IcaaError(f"workers must be at least 1, got {workers}")
    options = dict(options or {})
    work_path = Path(work_dir)
    ids = rows.iloc[:, 0].astype(str).tolist() if len(rows.columns) else []
    run_fingerprint = run_fingerprint or fingerprint(ids, options, chunk_size)
    _prepare_work_dir(work_path, fingerprint(run_fingerprint, chunk_size))
    n_chunks = (len(rows) + chunk_size - 1) // chunk_size
    chunks = [rows.iloc[i * chunk_size:(i + 1) * chunk_size].reset_index(drop=True) for i in range(n_chunks)]
    pending = [i for i in range(n_chunks) if not _done_path(work_path, i).exists()]
    bar = tqdm(total=n_chunks, initial=n_chunks - len(pending), desc=description, unit="chunk",
               disable=not progress, file=sys.stderr)
    args = lambda i: (chunk_function, chunks[i], options, str(work_path), i, dict(schemas))  # noqa: E731
    try:
        if scheduler:
            _run_on_dask(scheduler, pending, args, retries, run_fingerprint, bar)
        elif workers == 1 or len(pending) <= 1:
            for i in pending:
                _run_chunk(*args(i))
                bar.update(1)
        else:
            context = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = [pool.submit(_run_chunk, *args(i)) for i in pending]
                for future in as_completed(futures):
                    future.result()
                    bar.update(1)
    finally:
        bar.close()
    return _gather(work_path, n_chunks, schemas)


def _run_on_dask(scheduler: str, pending: list[int], args, retries: int, run_fingerprint: str, bar) -> None:
    try:
        from distributed import Client, as_completed as dask_as_completed
    except ImportError as error:  # pragma: no cover - dask is a core dependency
        raise IcaaError("running on a Dask cluster needs `pip install 'dask[distributed]'`") from error
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as error:
        raise IcaaError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    try:
        futures = [client.submit(_run_chunk, *args(i), key=f"icaa-{run_fingerprint}-{i}", retries=retries, pure=False)
                   for i in pending]
        for future in dask_as_completed(futures):
            future.result()
            bar.update(1)
    finally:
        client.close()
