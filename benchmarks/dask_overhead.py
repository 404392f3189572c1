"""Overhead of the Dask cluster path of ``run_partitioned`` against its local-process path.

Same machine, same files, same chunking: the demo photos (``data/demo/*.jpg``, repeated to make
the job a few seconds long) are decoded at full size with Pillow, converted to CIELAB with OpenCV
and summarised per image. Baseline: ``workers=2`` (local forkserver processes). Cluster: a
``dask scheduler`` and two ``dask worker --nworkers 1 --nthreads 1`` processes on 127.0.0.1,
started before timing (a cluster is long-lived); the timed part includes connecting the client,
shipping the chunks and writing/gathering the part files, exactly as a stage run does.
Each path runs ``--repeats`` times, alternating, and the best time of each is kept (shared box).

Target: cluster throughput >= 0.8 x local-process throughput. Prints the ratio.
Run: ``python benchmarks/dask_overhead.py`` (about 30-60 s on 2 cores).
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

import numpy as np
import pandas as pd
import pyarrow as pa

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent


def summarise_images_chunk(rows: pd.DataFrame) -> dict:
    """Decode each image, convert to CIELAB and return mean L*, a*, b* (a realistic per-image CPU load)."""
    import cv2
    from PIL import Image

    means = []
    for path in rows["path"]:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
        means.append(lab.reshape(-1, 3).mean(axis=0))
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    return {"summary": pd.DataFrame({"item_id": rows["item_id"].astype(str), "l_mean": means[:, 0],
                                     "a_mean": means[:, 1], "b_mean": means[:, 2]})}


SCHEMAS = {"summary": pa.schema([("item_id", pa.string()), ("l_mean", pa.float64()), ("a_mean", pa.float64()),
                                 ("b_mean", pa.float64())])}


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
                                           "--nthreads", "1", "--no-dashboard", "--local-directory",
                                           str(tmp / f"w{k}")], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, env=env, start_new_session=True))
    from distributed import Client
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    return address, processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="times each demo photo is listed")
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()

    # Imported by module name on the Dask workers (PYTHONPATH=benchmarks) and in the local pool.
    sys.path.insert(0, str(BENCH_DIR))
    from dask_overhead import summarise_images_chunk as chunk_function

    from icaa.pipeline.partitions import run_partitioned

    photos = sorted((REPO_ROOT / "data" / "demo").glob("*.jpg"))
    if not photos:
        sys.exit("no photos in data/demo")
    rows = pd.DataFrame({"item_id": [f"{k}/{p.name}" for k in range(args.copies) for p in photos],
                         "path": [str(p) for _ in range(args.copies) for p in photos]})
    print(f"{len(rows)} images ({len(photos)} demo photos x {args.copies}), chunks of {args.chunk_size}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        address, processes = _start_cluster(tmp)
        try:
            best = {"local": float("inf"), "dask": float("inf")}
            tables = {}
            for repeat in range(args.repeats):
                for mode in ("local", "dask"):
                    work = tmp / f"{mode}-{repeat}"
                    start = time.perf_counter()
                    result = run_partitioned(rows, chunk_function, schemas=SCHEMAS, work_dir=work,
                                             chunk_size=args.chunk_size, workers=2,
                                             scheduler=address if mode == "dask" else None,
                                             run_fingerprint=f"bench-{mode}-{repeat}", progress=False)
                    elapsed = time.perf_counter() - start
                    best[mode] = min(best[mode], elapsed)
                    tables[mode] = result["summary"]
                    print(f"  {mode:5s} run {repeat + 1}: {elapsed:6.2f} s  {len(rows) / elapsed:7.1f} images/s")
        finally:
            for process in reversed(processes):
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                process.wait(timeout=20)
    pd.testing.assert_frame_equal(tables["dask"], tables["local"])
    local_rate, dask_rate = len(rows) / best["local"], len(rows) / best["dask"]
    print(f"local processes (2): {local_rate:.1f} images/s; dask cluster (2 workers): {dask_rate:.1f} images/s")
    print(f"ratio dask / local = {dask_rate / local_rate:.2f} (target >= 0.8); outputs identical row for row")


if __name__ == "__main__":
    main()
