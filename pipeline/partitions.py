"""Run a per-row stage over a manifest in chunks that resume, locally or on a Dask cluster.

Each chunk writes its output tables to ``part-NNNNN.<table>.parquet`` (temporary file, then rename)
and then a ``part-NNNNN.done`` marker with each table's row count (a table without rows gets no file).
A re-run skips every chunk whose marker exists, so a stage killed halfway redoes none of its finished
chunks. The chunk function does not know whether local processes or Dask workers run it; outputs are
gathered in chunk order, so the final table is the same row for row whatever the worker count or
scheduler. Rows and tables are pandas frames or Arrow tables, as the stage works.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_any
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import pyarrow as pa

from icaa.common.errors import IcaaError
from icaa.pipeline.worker_start import worker_context
from icaa.common.files import atomic_write_json
from icaa.pipeline.io import read_arrow_table, write_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ChunkFunction", "fingerprint", "code_fingerprint", "run_partitioned"]

#: A table of rows: a pandas frame or an Arrow table (pandas is not imported for a stage that uses Arrow only).
Rows = Union["pd.DataFrame", pa.Table]

#: ``chunk_function(rows, **options) -> {table_name: table}``, rows and tables as :data:`Rows`; must be a
#: module-level function.
ChunkFunction = Callable[..., Mapping[str, Rows]]

_FINGERPRINT_FILE = "_fingerprint.json"
#: The work directory's layout, part of its fingerprint so that code of another layout never resumes from it.
#: 2: a table without rows has no part file (its count in the done marker says so).
_PARTS_LAYOUT = 2


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (input ids, options, code version)."""
    payload = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:16]


def code_fingerprint(*module_names: str) -> str:
    """A short hash of the source of the named modules (a package counts with every ``.py`` file under it),
    so that cached chunks are not reused once the code that computed them changes."""
    import importlib.util

    digest = hashlib.sha256()
    for name in module_names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"no module named {name!r}")
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _part_path(work_dir: Path, index: int, table: str) -> Path:
    return work_dir / f"part-{index:05d}.{table}.parquet"


def _done_path(work_dir: Path, index: int) -> Path:
    return work_dir / f"part-{index:05d}.done"


def _run_chunk(chunk_function: ChunkFunction, rows: Rows, options: dict[str, Any], work_dir: str,
               index: int, schemas: Mapping[str, pa.Schema]) -> dict[str, int]:
    """Compute one chunk and write its tables, unless its done marker says it is already written."""
    work_path = Path(work_dir)
    done = _done_path(work_path, index)
    if done.exists():
        return json.loads(done.read_text())
    outputs = chunk_function(rows, **options)
    counts: dict[str, int] = {}
    for table_name, schema in schemas.items():
        table = outputs.get(table_name)
        counts[table_name] = 0 if table is None else len(table)
        if counts[table_name]:  # an empty table (often the rejects) is its count in the done marker, not a file
            # Values are checked once, when the stage writes the gathered table.
            write_table(table, _part_path(work_path, index, table_name), schema=schema, check=False)
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


def _gather(work_dir: Path, n_chunks: int, schemas: Mapping[str, pa.Schema], as_arrow: bool) -> dict[str, Rows]:
    gathered: dict[str, Rows] = {}
    counts = [json.loads(_done_path(work_dir, i).read_text()) for i in range(n_chunks)]
    for table_name, schema in schemas.items():
        tables = [read_arrow_table(_part_path(work_dir, i, table_name)) for i in range(n_chunks)
                  if counts[i].get(table_name)]
        # Not schema.empty_table(), which imports pandas (0.15 s of harmony-score's start-up).
        table = pa.concat_tables(tables) if tables else pa.Table.from_batches([], schema=schema)
        gathered[table_name] = table if as_arrow else table.to_pandas()
    return gathered


def _first_column(rows: Rows) -> list[str]:
    if isinstance(rows, pa.Table):
        return [str(value) for value in rows.column(0).to_pylist()] if rows.num_columns else []
    return rows.iloc[:, 0].astype(str).tolist() if len(rows.columns) else []


def _slice(rows: Rows, start: int, stop: int) -> Rows:
    if isinstance(rows, pa.Table):
        return rows.slice(start, stop - start)
    return rows.iloc[start:stop].reset_index(drop=True)


def run_partitioned(
    rows: Rows,
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
    connect_timeout_s: float = 20.0,
    worker_wait_s: float = 60.0,
    preload: Sequence[str] = (),
) -> dict[str, Rows]:
    """Run ``chunk_function`` over ``rows`` in chunks of ``chunk_size`` and gather its tables.

    Parameters
    ----------
    rows
        The manifest, one row per item (a pandas frame or an Arrow table); chunk ``i`` holds its rows
        ``i*chunk_size`` to ``(i+1)*chunk_size``, of the same type.
    chunk_function
        Module-level function ``(rows, **options) -> {table_name: table}`` (pandas frames or Arrow tables).
    schemas
        Name -> schema of every table the function returns (a missing or empty one writes no part file and
        gathers as an empty table of its schema).
    work_dir
        Where chunk outputs and done markers live; kept between runs to resume.
    workers
        Local workers: this process and ``workers - 1`` child processes (1 runs everything here). Ignored
        when ``scheduler`` is given.
    scheduler
        ``tcp://host:port`` of a Dask distributed scheduler whose workers see ``work_dir``.
    run_fingerprint
        Identity of this run's input and options; finished chunks of another fingerprint are discarded.
    retries
        Dask retries per chunk when the chunk function raises. A chunk whose worker is lost is
        recomputed on another worker by the scheduler regardless (up to Dask's
        ``distributed.scheduler.allowed-failures``, default 3).
    connect_timeout_s
        How long to try reaching ``scheduler`` before raising :class:`IcaaError`.
    worker_wait_s
        How long to wait for the cluster to have at least one worker before raising.
    preload
        Modules the local workers need loaded besides the chunk function's, such as one that builds lookup
        tables on import: imported here before the children are forked, or by their fork server
        (:mod:`icaa.pipeline.worker_start`).

    Returns
    -------
    dict
        Table name -> all chunks' rows in input order: an Arrow table when ``rows`` is one, else a DataFrame.
    """
    if chunk_size < 1:
        raise IcaaError(f"chunk size must be at least 1, got {chunk_size}")
    if workers < 1:
        raise IcaaError(f"workers must be at least 1, got {workers}")
    options = dict(options or {})
    work_path = Path(work_dir)
    run_fingerprint = run_fingerprint or fingerprint(_first_column(rows), options, chunk_size)
    _prepare_work_dir(work_path, fingerprint(run_fingerprint, chunk_size, _PARTS_LAYOUT))
    n_chunks = (len(rows) + chunk_size - 1) // chunk_size
    chunks = [_slice(rows, i * chunk_size, (i + 1) * chunk_size) for i in range(n_chunks)]
    pending = [i for i in range(n_chunks) if not _done_path(work_path, i).exists()]
    bar = _progress_bar(progress, total=n_chunks, initial=n_chunks - len(pending), desc=description, unit="chunk")
    # Absolute, so that Dask workers started in another directory (or on another machine that
    # mounts the same shared storage at the same path) write where the driver gathers.
    work_dir_for_workers = str(work_path.resolve())
    args = lambda i: (chunk_function, chunks[i], options, work_dir_for_workers, i, dict(schemas))  # noqa: E731
    try:
        _dispatch(pending, args, bar, scheduler=scheduler, workers=workers, retries=retries,
                  run_fingerprint=run_fingerprint, connect_timeout_s=connect_timeout_s, worker_wait_s=worker_wait_s,
                  preload=preload, chunk_function=chunk_function)
    finally:
        bar.close()
    return _gather(work_path, n_chunks, schemas, as_arrow=isinstance(rows, pa.Table))


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(shown: bool, **options):
    """A tqdm bar on stderr, or a stand-in that shows nothing (without importing tqdm: 20 ms of start-up).

    The bar starts no monitor thread (which only tunes a stalled bar's refresh): local workers are forked
    only from a process whose sole Python thread is the forking one (:mod:`icaa.pipeline.worker_start`).
    """
    if not shown:
        return _NoProgress()
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0

    return Bar(file=sys.stderr, **options)


def _dispatch(pending: list[int], args, bar, *, scheduler: str | None, workers: int, retries: int,
              run_fingerprint: str, connect_timeout_s: float, worker_wait_s: float, preload: Sequence[str],
              chunk_function: ChunkFunction) -> None:
    """Run the pending chunks on the Dask scheduler when one is given, else in this process (one worker or
    one chunk), else on local child processes."""
    if scheduler:
        _run_on_dask(scheduler, pending, args, retries, run_fingerprint, bar,
                     connect_timeout_s=connect_timeout_s, worker_wait_s=worker_wait_s)
    elif workers == 1 or len(pending) <= 1:
        for i in pending:
            _run_chunk(*args(i))
            bar.update(1)
    else:
        _run_on_local_processes(pending, args, workers, [chunk_function.__module__, *preload], bar)


def _exit_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Child-process initializer: end this child when the process that started the run is gone.

    A run killed with SIGKILL (or by the OOM killer) cannot stop its children, and they would not notice:
    each child (and a fork server, where there is one) holds the pipes whose closing would tell them, so
    they would linger, one still computing its chunk. A daemon thread checks the parent's pid instead.
    """
    def watch() -> None:
        while True:
            time.sleep(poll_s)
            try:
                os.kill(parent_pid, 0)
            except (ProcessLookupError, PermissionError):  # gone, or its pid reused under another user
                os._exit(1)

    threading.Thread(target=watch, name="icaa-exit-with-parent", daemon=True).start()
    # Ctrl-C is the parent's to handle: it stops handing out chunks and says what was kept, while a child
    # finishes (and marks done) the chunk it holds instead of printing a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_on_local_processes(pending: list[int], args, workers: int, preload: Sequence[str], bar) -> None:
    """Run chunks on ``workers - 1`` child processes (no more than there are chunks for) and in this process,
    each taking the next chunk when free.

    This process is one of the workers (in a thread; the main thread only hands out chunks). Forked children
    (:mod:`worker_start`) are handed their first chunks before that thread starts: they are forked then,
    while this process has no thread of its own that could hold a lock. Children from a fork server are
    handed theirs after it, since handing one out waits for the server to finish its imports, during which
    this process computes. Each worker holds one chunk at a time, so none idles while others have a backlog.
    """
    context = worker_context(preload)
    children_count = max(1, min(workers - 1, len(pending) - 1))
    queue = deque(pending)
    running: dict[Future, Executor] = {}
    with _ctrl_c_deferred() as stop_requested, ThreadPoolExecutor(max_workers=1) as here, \
            ProcessPoolExecutor(max_workers=children_count, mp_context=context, initializer=_exit_with_parent,
                                initargs=(os.getpid(),)) as children:

        def hand_out(executor: Executor) -> None:
            if queue and not stop_requested.is_set():
                running[executor.submit(_run_chunk, *args(queue.popleft()))] = executor

        forked = context.get_start_method() == "fork"
        if not forked:
            hand_out(here)
        for _ in range(children_count):
            hand_out(children)
        if forked:
            hand_out(here)
        while running:
            finished, _ = wait_for_any(running, timeout=0.25, return_when=FIRST_COMPLETED)
            for future in finished:
                executor = running.pop(future)
                try:
                    future.result()
                except BrokenProcessPool as error:
                    raise IcaaError(
                        "a worker process died without a Python error; the finished chunks are kept and a re-run "
                        "resumes. Usual causes: memory ran out, an image decoder crashed, or a script started the "
                        "workers without an `if __name__ == \"__main__\":` guard (its child processes import it)"
                    ) from error
                bar.update(1)
                hand_out(executor)
    if stop_requested.is_set():
        raise KeyboardInterrupt


class _ctrl_c_deferred:
    """While local workers run, a first Ctrl-C only stops handing out chunks: the running ones finish and mark
    themselves done, the pool shuts down cleanly (no child is left half-started), and KeyboardInterrupt is
    raised afterwards. A second Ctrl-C interrupts at once."""

    def __enter__(self) -> threading.Event:
        self.stop = threading.Event()
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self.stop

    def _on_sigint(self, signum, frame) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _run_on_dask(scheduler: str, pending: list[int], args, retries: int, run_fingerprint: str, bar, *,
                 connect_timeout_s: float, worker_wait_s: float) -> None:
    """Submit one task per pending chunk to the Dask scheduler and wait for all of them.

    A worker lost mid-chunk costs that chunk only: the scheduler reruns it elsewhere and the
    chunk's writes are atomic, so a half-written part never counts. Chunks finished before the
    loss keep their done markers. Every chunk's done marker is checked afterwards, which catches
    workers that do not share ``work_dir`` with this process.
    """
    try:
        from distributed import Client, KilledWorker, as_completed as dask_as_completed
    except ImportError as error:  # pragma: no cover - dask is a core dependency
        raise IcaaError("running on a Dask cluster needs `pip install 'dask[distributed]'`") from error
    if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")):
        raise IcaaError(f"the Dask scheduler address must look like tcp://HOST:PORT, got {scheduler!r}")
    try:
        client = Client(scheduler, timeout=f"{connect_timeout_s}s")
    except (OSError, TimeoutError, ValueError) as error:
        raise IcaaError(f"cannot reach the Dask scheduler at {scheduler} within {connect_timeout_s:g} s ({error}); "
                        "start it with `dask scheduler` and check the address and firewall") from None
    futures = []
    try:
        if pending:
            try:
                client.wait_for_workers(1, timeout=worker_wait_s)
            except (TimeoutError, OSError) as error:
                raise IcaaError(f"the Dask scheduler at {scheduler} has no workers after {worker_wait_s:g} s; "
                                f"start some with `dask worker {scheduler}`") from error
        futures = [client.submit(_run_chunk, *args(i), key=f"icaa-{run_fingerprint}-{i}", retries=retries,
                                 pure=False)
                   for i in pending]
        for future in dask_as_completed(futures):
            try:
                future.result()
            except KilledWorker as error:
                raise IcaaError(f"a chunk ({future.key}) was running on every worker that died while computing it "
                                f"({error}); check the workers' memory and logs, then rerun: finished chunks "
                                "are kept") from None
            bar.update(1)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    finally:
        client.close()
    work_dir = Path(args(pending[0])[3]) if pending else None
    if work_dir is not None:
        missing = [i for i in pending if not _done_path(work_dir, i).exists()]
        if missing:
            raise IcaaError(f"{len(missing)} chunks finished on the Dask workers but their outputs are not in "
                            f"{work_dir} (e.g. chunk {missing[0]}); workers must see the same work directory "
                            "and image paths as this machine (shared storage mounted at the same path)")
