"""icaa-train learns colour on CPU, and a run killed mid-way resumes onto the uninterrupted curve.

A micro DeT (the fixture architecture, dims 16-128, 64 px inputs) trains on generated images whose colour
score is 1 + 8 x their share of warm-hued cells; dat_tiny at 224 px takes about 6 s per 16-image
forward+backward on 2 cores, too slow for a few-minute test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from train_fixtures import MICRO_CONFIG_64PX, make_colour_dataset

pytestmark = pytest.mark.slow

EPOCHS = 6
FIT_OPTIONS = dict(image_size=64, epochs=EPOCHS, batch_size=16, lr=1e-4, head_lr_scale=20.0, warmup_epochs=0.5, weight_decay=0.01,
                   seed=3)


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learning") / "data"
    make_colour_dataset(folder, {"train": 256, "val": 48, "test": 96}, seed=11, size=64)
    return folder


@pytest.fixture(scope="module")
def uninterrupted(colour_data, tmp_path_factory):
    import torch

    from icaa.model.engine import TrainSettings, fit

    torch.set_num_threads(2)
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    settings = TrainSettings(config=MICRO_CONFIG_64PX, **FIT_OPTIONS)
    summary = fit(colour_data, run_dir, settings, workers=0, progress=False, echo=lambda m: None)
    return run_dir, summary


def test_micro_det_learns_the_warm_share_and_ranks_held_out_images_above_srcc_0_8(colour_data, uninterrupted):
    from icaa.model.evaluation import evaluate

    run_dir, summary = uninterrupted
    losses = [row["train_loss"] for row in summary["history"]]
    assert losses[-1] < 0.95 * losses[0], losses
    result = evaluate(run_dir / "best.pt", colour_data, "test", workers=0, progress=False)
    assert result["n"] == 96
    assert result["srcc"] > 0.8, result
    assert result["plcc"] > 0.8, result


def test_a_killed_run_resumes_onto_the_uninterrupted_curve(colour_data, uninterrupted, tmp_path):
    import json

    run_dir, summary = uninterrupted
    config_path = tmp_path / "micro.json"
    config_path.write_text(json.dumps(MICRO_CONFIG_64PX))
    killed_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "icaa.model.cli", "fit", "--data", str(colour_data), "--out", str(killed_dir),
               "--config", str(config_path), "--workers", "0", "--no-progress"]
    for key, value in FIT_OPTIONS.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    # the in-process run read its config as a dict; the CLI reads the same dict from JSON
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    plots = killed_dir / "plots" / "train.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if plots.is_file() and len(pd.read_csv(plots)) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done = len(pd.read_csv(plots))
    assert 3 <= done < EPOCHS

    resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming after epoch {done}" in resumed.stderr or "resuming after epoch" in resumed.stderr
    curve = pd.read_csv(plots)
    expected = pd.DataFrame(summary["history"])
    assert list(curve["epoch"]) == list(range(1, EPOCHS + 1))
    for column in ("train_loss", "val_loss", "val_srcc", "lr"):
        assert curve[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-4, abs=1e-6), column
    final = json.loads((killed_dir / "metrics.json").read_text())
    assert final["best_epoch"] == summary["best_epoch"]
    assert final["val"]["srcc"] == pytest.approx(summary["val"]["srcc"], abs=1e-4)


def test_torchrun_with_two_cpu_processes_trains_through_ddp_and_only_rank_0_writes(tmp_path):
    import json

    make_colour_dataset(tmp_path / "data", {"train": 16, "val": 4}, seed=5, size=64)
    config_path = tmp_path / "micro.json"
    config_path.write_text(json.dumps(MICRO_CONFIG_64PX))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
               "-m", "icaa.model.cli", "fit", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
               "--config", str(config_path), "--image-size", "64", "--epochs", "2", "--batch-size", "4",
               "--workers", "0", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained 16 images x 2 epochs") == 1   # rank 0 alone reports
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert json.loads((tmp_path / "run/summary.json").read_text())["train_images"] == 16 and metrics["val"]["n"] == 4
    assert len(pd.read_csv(tmp_path / "run/plots/train.csv")) == 2
