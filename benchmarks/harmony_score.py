"""harmony-score speed and memory on real photos, as ratios measured in one run on the same files.

The photos: ``benchmarks/real_photos.py`` builds (and caches) 1,000 distinct crops of about 1.5 MP from the
full-resolution photographs of the Debian packages behind ``data/demo/`` and ``data/labelled/``, each
downscaled by at most 2x and saved as JPEG quality 90: real camera detail, never upscaled.

Timed, in alternating rounds (a shared 2-core VM drifts between passes; the best of each counts, ten
rounds by default, so that each contender's best is more often an undisturbed round: twenty-one runs of five
rounds there gave two-worker ratios of 1.72-1.88, eleven runs of ten 1.79-1.86, both 1.84 in the middle;
the ratios of each round's own pair are printed too, lowest, highest and middle):
  floor     OpenCV's fastest decode of the same files, ``cv2.imdecode(..., IMREAD_REDUCED_COLOR_4)``, file
            reading included, in this process;
  stage     the whole command a user runs, ``icaa-data harmony-score images.parquet -o colour.parquet
            --workers 1``, as a subprocess: start-up, decoding, analysis and writing the tables;
  workers   the same command with ``--workers 2`` against ``--workers 1`` (end to end);
and the stage's peak memory (the largest VmHWM of its processes) for a quarter of the photos and for all of them.
Targets: stage >= 0.5x the floor, --workers 2 >= 1.8x one worker on 2 idle cores, flat memory.

The command's input is written as ``scan`` writes it (string columns). It runs with Python's default
bytecode cache, as a user's Python has it (pip compiles an installed package's bytecode; an editable
install writes it on first use), after a warm-up run; the cache lives in the benchmark's temporary
folder. A shell that sets ``PYTHONDONTWRITEBYTECODE`` (as some sandboxes and containers do) would
otherwise recompile icaa's modules at every start, about 0.04 s: ``--no-bytecode-cache`` measures that.

    python benchmarks/harmony_score.py [--photos DIR] [--count 1000] [--rounds 10] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "icaa" / "real_photos"


def icaa_data() -> str:
    found = shutil.which("icaa-data", path=str(Path(sys.executable).parent)) or shutil.which("icaa-data")
    if found is None:
        raise SystemExit("icaa-data is not installed in this environment (pip install -e .)")
    return found


def floor_seconds(paths: list[Path]) -> float:
    import cv2

    cv2.setNumThreads(1)  # as harmony-score's workers: one thread per process
    started = time.perf_counter()
    for path in paths:
        cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
    return time.perf_counter() - started


def command_environment(folder: Path, bytecode_cache: bool) -> dict[str, str]:
    """The command's environment: Python's default bytecode cache (kept under ``folder``, so that nothing is
    written beside the sources), as a user's Python has it, unless ``bytecode_cache`` is off."""
    environment = dict(os.environ)
    if bytecode_cache:
        environment.pop("PYTHONDONTWRITEBYTECODE", None)
        environment["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    else:
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        environment.pop("PYTHONPYCACHEPREFIX", None)
    return environment


def stage_seconds(images: Path, out: Path, workers: int, environment: dict[str, str]) -> tuple[float, float]:
    """Wall time of the whole command, from its start to its exit, and its peak memory in MB (the largest
    VmHWM of the command's processes), both measured by a small parent process around it."""
    shutil.rmtree(out, ignore_errors=True)
    command = [icaa_data(), "harmony-score", str(images), "-o", str(out / "colour.parquet"), "--workers",
               str(workers), "--no-progress"]
    wrapper = ("import resource, subprocess, sys, time; started = time.perf_counter(); "
               "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
               "print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    result = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True,
                            env=environment)
    if result.returncode != 0:
        raise SystemExit(f"harmony-score failed:\n{result.stderr}")
    elapsed, megabytes = result.stdout.strip().splitlines()[-1].split()
    return float(elapsed), float(megabytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="cache folder of the real photos")
    parser.add_argument("--debs", type=Path, help="the .deb files, if already downloaded")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-bytecode-cache", dest="bytecode_cache", action="store_false",
                        help="run the command with PYTHONDONTWRITEBYTECODE=1, compiling icaa's modules at every start "
                             "(as an editable install does where that variable is set)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from real_photos import build

    paths = build(args.photos, args.count, args.debs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, chosen in (("all", paths), ("quarter", paths[: len(paths) // 4]), ("few", paths[:20])):
            # As scan writes it for distinct photos (string columns): each its own photo_key.
            pq.write_table(pa.table({"image_id": [p.name for p in chosen], "path": [str(p) for p in chosen],
                                     "photo_key": [p.name for p in chosen]}), folder / f"{name}.parquet")
        environment = command_environment(folder, args.bytecode_cache)
        # Warm-up: the OS page cache holds the files for every contender alike, the bytecode cache is written.
        floor_seconds(paths[:20])
        stage_seconds(folder / "few.parquet", folder / "warm", 2, environment)
        floors, stages, twos = [], [], []
        memory = {}
        for _ in range(args.rounds):
            floors.append(floor_seconds(paths))
            elapsed, memory["all"] = stage_seconds(folder / "all.parquet", folder / "one", 1, environment)
            stages.append(elapsed)
            twos.append(stage_seconds(folder / "all.parquet", folder / "two", 2, environment)[0])
        memory["quarter"] = stage_seconds(folder / "quarter.parquet", folder / "q", 1, environment)[1]
    floor, stage, two = min(floors), min(stages), min(twos)
    megapixels = np.mean([_megapixels(p) for p in paths[:: max(1, len(paths) // 50)]])
    print(f"photos: {len(paths)} real JPEGs of {megapixels:.1f} MP ({args.photos}); best of {args.rounds} rounds; "
          f"bytecode cache {'on, as Python has it by default' if args.bytecode_cache else 'off'}")
    print(f"floor, cv2 IMREAD_REDUCED_COLOR_4 : {floor:6.2f} s  ({len(paths) / floor:6.1f} photos/s)")
    print(f"icaa-data harmony-score --workers 1 : {stage:6.2f} s  ({len(paths) / stage:6.1f} photos/s)  "
          f"ratio to the floor {floor / stage:.2f} (target >= 0.5; per round {_spread(floors, stages)})")
    print(f"icaa-data harmony-score --workers 2 : {two:6.2f} s  {stage / two:.2f}x one worker (target >= 1.8 on 2 idle "
          f"cores; per round {_spread(stages, twos)})")
    print(f"peak memory, {len(paths) // 4} vs {len(paths)} photos: {memory['quarter']:.0f} MB vs "
          f"{memory['all']:.0f} MB (ratio {memory['all'] / memory['quarter']:.2f}; flat is ~1)")


def _spread(numerators: list[float], denominators: list[float]) -> str:
    """The ratios of each round's own pair: lowest, middle and highest."""
    ratios = sorted(n / d for n, d in zip(numerators, denominators))
    return f"{ratios[0]:.2f}-{ratios[-1]:.2f}, {statistics.median(ratios):.2f} in the middle"


def _megapixels(path: Path) -> float:
    from PIL import Image

    with Image.open(path) as image:
        return image.width * image.height / 1e6


if __name__ == "__main__":
    main()
