"""Per-image stages on a real Dask cluster on 127.0.0.1: a lost worker costs only its chunks.

Starts ``dask scheduler`` and two ``dask worker`` processes (each a nanny plus one worker
process, in its own process group) from this venv, so the test exercises the same path as
``--scheduler tcp://HOST:8786`` on several machines.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from icaa.common.errors import IcaaError
from icaa.pipeline.partitions import run_partitioned
from icaa.pipeline.schemas import column

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
from dask_chunk_jobs import slow_square_chunk  # noqa: E402

BIN = Path(sys.executable).parent
SQUARES = {"squares": pa.schema([column("item_id", pa.string(), "id"), column("square", pa.int64(), "value squared")])}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"dask scheduler did not open port {port} in {timeout_s} s")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two single-thread workers on 127.0.0.1; yields (address, worker processes)."""
    if not (BIN / "dask").exists():
        pytest.skip(f"the dask command is not in {BIN}")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        log = open(logs / f"{name}.log", "wb")
        process = subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                                   cwd=tmp_path, start_new_session=True)
        processes.append(process)
        return process

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        _wait_for_port(port)
        workers = [start(f"worker{k}", "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
                         "--no-dashboard", "--name", f"w{k}", "--local-directory", str(tmp_path / f"w{k}"),
                         "--preload", "icaa.pipeline.colour.preload")  # as the README starts workers
                   for k in (1, 2)]
        from distributed import Client
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in reversed(processes):
            _kill_group(process)


def test_scheduler_unreachable_raises_a_clear_error(tmp_path):
    rows = pd.DataFrame({"item_id": ["a"], "value": [1]})
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(IcaaError, match="cannot reach the Dask scheduler at tcp://127.0.0.1"):
        run_partitioned(rows, slow_square_chunk, schemas=SQUARES, work_dir=tmp_path / "w", scheduler=address,
                        connect_timeout_s=1, progress=False)


def test_scheduler_address_without_protocol_is_refused(tmp_path):
    rows = pd.DataFrame({"item_id": ["a"], "value": [1]})
    with pytest.raises(IcaaError, match="tcp://HOST:PORT"):
        run_partitioned(rows, slow_square_chunk, schemas=SQUARES, work_dir=tmp_path / "w",
                        scheduler="127.0.0.1:8786", progress=False)


@pytest.mark.server
@pytest.mark.slow
def test_worker_killed_midway_costs_only_its_chunks_and_output_equals_local_run(dask_cluster, tmp_path):
    address, workers = dask_cluster
    n_rows, chunk_size = 24, 2
    rows = pd.DataFrame({"item_id": [f"item{k:03d}" for k in range(n_rows)], "value": list(range(n_rows))})
    started = tmp_path / "started"
    started.mkdir()
    options = {"seconds_per_row": 0.25, "started_dir": str(started)}
    work = tmp_path / "cluster-work"
    fingerprint = "dask-kill-test"

    # The driver runs in a thread so that this test can kill a worker while the job runs.
    import threading
    outcome: dict = {}

    def drive():
        try:
            outcome["tables"] = run_partitioned(rows, slow_square_chunk, schemas=SQUARES, work_dir=work,
                                                chunk_size=chunk_size, scheduler=address, options=options,
                                                run_fingerprint=fingerprint, progress=False)
        except BaseException as error:  # noqa: BLE001 - reported below
            outcome["error"] = error

    driver = threading.Thread(target=drive)
    driver.start()
    worker_pgids = {w.pid for w in workers}
    victim_chunk = victim_pid = None
    deadline = time.monotonic() + 60
    # Wait until at least 2 chunks are done, then kill a worker that is inside an unfinished chunk.
    while victim_pid is None and time.monotonic() < deadline:
        done = {p.name.split(".")[0] for p in work.glob("part-*.done")} if work.exists() else set()
        if len(done) >= 2:
            for record in started.iterdir():
                first_id, pid = record.name.rsplit(".", 1)
                chunk = f"part-{int(first_id[4:]) // chunk_size:05d}"
                try:
                    pgid = os.getpgid(int(pid))
                except ProcessLookupError:
                    continue
                if chunk not in done and pgid in worker_pgids:
                    victim_chunk, victim_pid = chunk, int(pid)
                    os.killpg(pgid, signal.SIGKILL)
                    break
        time.sleep(0.05)
    assert victim_pid is not None, "never found a worker in the middle of a chunk"
    driver.join(timeout=120)
    assert not driver.is_alive(), "the cluster run did not finish after a worker was lost"
    assert "error" not in outcome, f"cluster run failed: {outcome.get('error')!r}"
    # The chunk the lost worker was computing was redone by another process, and finished.
    assert (work / f"{victim_chunk}.done").exists()
    first_id = f"item{int(victim_chunk[5:]) * chunk_size:03d}"
    redo_pids = {int(p.name.rsplit('.', 1)[1]) for p in started.glob(f"{first_id}.*")} - {victim_pid}
    assert redo_pids, "the lost worker's chunk was not recomputed on another worker"
    # Chunks finished before the kill were not recomputed: each chunk started at most twice (the victim's twice).
    starts_per_chunk = pd.Series([p.name.rsplit(".", 1)[0] for p in started.iterdir()]).value_counts()
    assert starts_per_chunk.max() <= 2 and (starts_per_chunk == 2).sum() <= 2

    local = run_partitioned(rows, slow_square_chunk, schemas=SQUARES, work_dir=tmp_path / "local-work",
                            chunk_size=chunk_size, workers=1, progress=False)
    pd.testing.assert_frame_equal(outcome["tables"]["squares"], local["squares"])
    assert outcome["tables"]["squares"]["square"].tolist() == [k * k for k in range(n_rows)]


def _harmony_help() -> str:
    icaa_data = shutil.which("icaa-data", path=str(BIN))
    if icaa_data is None:
        return ""
    result = subprocess.run([icaa_data, "harmony-score", "--help"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


@pytest.mark.server
@pytest.mark.slow
def test_harmony_score_on_demo_through_cluster_with_a_worker_killed_equals_local_run(dask_cluster, tmp_path,
                                                                                     repo_root):
    help_text = _harmony_help()
    if "--scheduler" not in help_text:
        pytest.skip("icaa-data harmony-score with --scheduler does not exist yet in this checkout")
    demo = repo_root / "data" / "demo"
    if not demo.is_dir():
        pytest.skip(f"demo set not found at {demo}")
    address, workers = dask_cluster
    icaa_data = str(BIN / "icaa-data")
    images = tmp_path / "images.parquet"
    subprocess.run([icaa_data, "scan", str(demo), "-o", str(images), "--no-progress"], check=True,
                   capture_output=True)
    common = ["--images-root", str(demo), "--chunk-size", "2", "--no-progress"]
    local_out, cluster_out = tmp_path / "local" / "colour.parquet", tmp_path / "cluster" / "colour.parquet"
    for out in (local_out, cluster_out):
        out.parent.mkdir()
    subprocess.run([icaa_data, "harmony-score", str(images), "-o", str(local_out), *common, "--workers", "1"],
                   check=True, capture_output=True, cwd=tmp_path / "local")
    cluster = subprocess.Popen([icaa_data, "harmony-score", str(images), "-o", str(cluster_out), *common,
                                "--scheduler", address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               cwd=tmp_path / "cluster")
    # Once some chunks are done, kill one worker (nanny and worker process); with one thread each and
    # chunks still pending, it is in the middle of a chunk.
    parts = cluster_out.parent / f".{cluster_out.stem}.parts"
    deadline = time.monotonic() + 120
    while cluster.poll() is None and time.monotonic() < deadline and len(list(parts.glob("part-*.done"))) < 2:
        time.sleep(0.05)
    killed_while_running = cluster.poll() is None
    done_at_kill = len(list(parts.glob("part-*.done")))
    _kill_group(workers[0])
    output, _ = cluster.communicate(timeout=300)
    assert cluster.returncode == 0, output.decode(errors="replace")[-2000:]
    local, remote = pd.read_parquet(local_out), pd.read_parquet(cluster_out)
    assert len(local) == len(list(demo.glob("*.jpg")))
    pd.testing.assert_frame_equal(remote, local)
    n_chunks = (len(local) + 1) // 2
    assert killed_while_running and done_at_kill < n_chunks, "the cluster run ended before a worker was killed"


@pytest.mark.server
@pytest.mark.slow
def test_crawl_search_downloads_through_the_cluster_like_a_local_run(dask_cluster, tmp_path, monkeypatch):
    from fake_flickr import FakePhoto, start_fake_flickr
    from icaa.pipeline.crawl.stage import run_search

    key = "k3y-for-the-cluster-test"
    server = start_fake_flickr(key)
    try:
        for n in range(9):
            server.add(FakePhoto(str(50_000_000_000 + n), owner=f"{n}@N0{n}", title=f"blue boat {n}", licence=4,
                                 size_bytes=3000 + n, faves=n))
        monkeypatch.setenv("FLICKR_API_KEY", key)
        monkeypatch.setenv("ICAA_FLICKR_API_URL", server.url())
        address, _ = dask_cluster
        tables = {}
        for name, scheduler in (("local", None), ("cluster", address)):
            summary = run_search(tmp_path / name / "images", tmp_path / name / "candidates.parquet", text="blue boat",
                                 limit=9, cache_dir=tmp_path / name / "cache", scheduler=scheduler)
            assert summary["downloaded"] == 9
            tables[name] = pd.read_parquet(tmp_path / name / "candidates.parquet")
    finally:
        server.server.clear()
        server.server.stop()
    from distributed import Client

    with Client(address, timeout="30s") as client:  # the downloads really ran as cluster tasks
        prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert "icaa" in prefixes
    columns = ["image_id", "photo_id", "status", "bytes", "sha256"]
    pd.testing.assert_frame_equal(tables["local"][columns], tables["cluster"][columns])
    files = sorted(p.name for p in (tmp_path / "cluster" / "images").iterdir())
    assert files == sorted(tables["cluster"]["image_id"]) and len(files) == 9
