"""Overhead of harmony-score on a Dask cluster against its local-process path, on real photos.

Same machine, same files, same chunking: ``icaa.pipeline.harmony.run_harmony_score`` on the real 1.5 MP photos of
``benchmarks/real_photos.py`` (1,000 by default). Baseline: ``workers=2`` (the calling process and one local
child). Cluster: a ``dask scheduler`` and two ``dask worker --nworkers 1 --nthreads 1`` processes on
127.0.0.1, started before timing (a cluster is long-lived); the timed part includes connecting the client,
shipping the chunks and writing/gathering the part files, exactly as a stage run does. Each path runs
``--repeats`` times, alternating, and the best time of each is kept (shared box); the two outputs must be
equal row for row.

Target: cluster throughput >= 0.85 x local-process throughput. Prints the ratio.
Run: ``python benchmarks/dask_overhead.py [--photos DIR] [--count 1000]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_cluster(tmp: Path) -> tuple[str, list[subprocess.Popen]]:
    dask = Path(sys.executable).parent / "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")])))
    processes = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=env, start_new_session=True)]
    for k in (1, 2):
        processes.append(subprocess.Popen([str(dask), "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                                           "--nthreads", "1", "--no-dashboard", "--preload",
                                           "icaa.pipeline.colour.preload", "--local-directory",
                                           str(tmp / f"w{k}")], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, env=env, start_new_session=True))
    from distributed import Client
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    return address, processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, help="cache folder of the real photos (default: real_photos.py's)")
    parser.add_argument("--debs", type=Path, help="the .deb files, if already downloaded")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH_DIR))
    from harmony_score import DEFAULT_PHOTOS
    from real_photos import build

    from icaa.pipeline.harmony import run_harmony_score

    paths = build(args.photos or DEFAULT_PHOTOS, args.count, args.debs)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        images = tmp / "images.parquet"
        pd.DataFrame({"image_id": [p.name for p in paths], "path": [str(p) for p in paths],
                      "photo_key": [p.name for p in paths]}).to_parquet(images)  # as scan writes it
        print(f"{len(paths)} real photos of about 1.5 MP, harmony-score's default chunks")
        address, processes = _start_cluster(tmp)
        try:
            best = {"local": float("inf"), "dask": float("inf")}
            tables = {}
            for repeat in range(args.repeats):
                for mode in ("local", "dask"):
                    out = tmp / f"{mode}-{repeat}" / "colour.parquet"
                    start = time.perf_counter()
                    run_harmony_score(images, out, workers=2, scheduler=address if mode == "dask" else None,
                                  progress=False)
                    elapsed = time.perf_counter() - start
                    best[mode] = min(best[mode], elapsed)
                    tables[mode] = pd.read_parquet(out)
                    print(f"  {mode:5s} run {repeat + 1}: {elapsed:6.2f} s  {len(paths) / elapsed:7.1f} images/s")
        finally:
            for process in reversed(processes):
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                process.wait(timeout=20)
    pd.testing.assert_frame_equal(tables["dask"], tables["local"])
    local_rate, dask_rate = len(paths) / best["local"], len(paths) / best["dask"]
    print(f"local processes (2): {local_rate:.1f} images/s; dask cluster (2 workers): {dask_rate:.1f} images/s")
    print(f"ratio dask / local = {dask_rate / local_rate:.2f} (target >= 0.85); outputs identical row for row")


if __name__ == "__main__":
    main()
