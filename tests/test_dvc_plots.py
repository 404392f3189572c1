"""Offline rendering of the dvc.yaml plots (``icaa-data plots``) in a small DVC repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from icaa.pipeline.cli import app
from icaa.pipeline.plots import render_dvc_plots

BIN = Path(sys.executable).parent
pytest.importorskip("vl_convert")


@pytest.fixture
def plots_repo(tmp_path, repo_root, monkeypatch):
    """A git+DVC repo with this project's plot declarations and histogram template, and some data."""
    monkeypatch.setenv("PATH", f"{BIN}:{subprocess.os.environ.get('PATH', '')}")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=repo, check=True)
    (repo / ".dvc" / "plots").mkdir(exist_ok=True)
    shutil.copy(repo_root / ".dvc" / "plots" / "histogram.json", repo / ".dvc" / "plots" / "histogram.json")
    plots = yaml.safe_load((repo_root / "dvc.yaml").read_text())["plots"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"plots": plots}))
    (repo / "dataset").mkdir()
    (repo / "dataset" / "all.csv").write_text("ID,color,MOS,probability\n" + "".join(
        f"monochromatic/red/{k}.jpg,6.0,{2 + 0.5 * k},0.1\n" for k in range(12)))
    return repo


def test_plots_render_to_svg_without_network_and_report_missing_data(plots_repo, tmp_path):
    summary = render_dvc_plots(plots_repo, tmp_path / "out")
    assert "MOS histogram" in summary["plots"]
    assert "Training curves" in summary["empty"]  # no training log in this repository
    svg = (tmp_path / "out" / "mos_histogram.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<path") > 5
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<script" not in page and "cdn" not in page.lower()


def test_plots_command_prints_a_summary(plots_repo, tmp_path):
    result = CliRunner().invoke(app, ["plots", "-o", str(tmp_path / "cli-out"), "--repo", str(plots_repo)])
    assert result.exit_code == 0, result.output
    assert "rendered 1 plots" in result.output and "Training curves" in result.output
