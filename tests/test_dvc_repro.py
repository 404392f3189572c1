"""``dvc repro`` end to end on a fresh clone of this repository, with no network.

Skipped (with the list of what is missing) until every stage of the pipeline is in ``dvc.yaml``.
The clone is of the committed HEAD, with an empty DVC cache, so everything is computed from the
committed demo set; the stages call the ``icaa-data``/``icaa-train`` commands of this venv.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REQUIRED_STAGES = ("scan", "harmony-score", "crawl", "fuse", "balance", "annotate-import", "mos", "build", "report",
                   "train", "evaluate")
BIN = Path(sys.executable).parent


def _missing_stages(repo_root: Path) -> list[str]:
    spec = yaml.safe_load((repo_root / "dvc.yaml").read_text()) or {}
    stages = spec.get("stages") or {}
    return [name for name in REQUIRED_STAGES if name not in stages]


def _dvc(clone: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1",
               DVC_NO_UPDATER="1", ICAA_OFFLINE="1",
               # Anything that tries the network gets a refused connection instead.
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", no_proxy="", NO_PROXY="")
    result = subprocess.run([str(BIN / "dvc"), *args], cwd=clone, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{output[-4000:]}"
    return output


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def _git(clone: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=clone, check=True, capture_output=True)


@pytest.mark.slow
def test_dvc_repro_on_a_fresh_clone_builds_everything_then_reruns_only_what_a_parameter_touches(repo_root, tmp_path,
                                                                                             monkeypatch):
    missing = _missing_stages(repo_root)
    if missing:
        pytest.skip(f"dvc.yaml lacks the stages {', '.join(missing)}; the end-to-end repro test runs once all "
                    f"of {', '.join(REQUIRED_STAGES)} exist")
    if not (BIN / "dvc").exists():
        pytest.skip(f"dvc is not installed in {BIN}")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(repo_root), str(clone)], check=True,
                   capture_output=True)
    _git(clone, "config", "user.email", "ci@example.invalid")
    _git(clone, "config", "user.name", "icaa ci")
    assert not (clone / ".dvc" / "cache").exists(), "the clone must start with an empty DVC cache"

    first = _dvc(clone, "repro")
    assert _stages_run(first) >= set(REQUIRED_STAGES), first[-3000:]
    dataset = clone / "dataset"
    assert dataset.is_dir() and any(dataset.rglob("*.jpg")), "dvc repro left no built dataset"
    report = clone / "reports" / "report.html"
    assert report.is_file() and report.stat().st_size > 1000
    models = [p for p in (clone / "work" / "train").rglob("*") if p.suffix in {".pt", ".pth", ".safetensors", ".ckpt"}]
    assert models, "dvc repro left no trained model under work/train/"
    assert (clone / "metrics" / "evaluate.json").is_file()
    # Metrics files hold headline numbers only: the table of every stage's metrics fits a terminal.
    table = _dvc(clone, "metrics", "show").splitlines()
    assert len(table) == 5 and max(len(line) for line in table) <= 140, "\n".join(table)
    # The declared plots have data after the run and render offline (vl-convert is in the dev extra).
    if importlib.util.find_spec("vl_convert") is not None:
        from icaa.pipeline.plots import render_dvc_plots
        monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        plots = render_dvc_plots(clone, tmp_path / "plots")
        assert set(plots["plots"]) == {"MOS histogram", "Training curves"}, plots

    second = _dvc(clone, "repro")
    assert not _stages_run(second), f"a second dvc repro re-ran {_stages_run(second)}"
    assert "up to date" in second.lower() or "didn't change" in second.lower() or "skipping" in second.lower()

    # One parameter that only the report reads: only the report re-runs.
    params = clone / "params.yaml"
    text = params.read_text()
    spec = yaml.safe_load(text)
    bins = int(spec["report"]["bins"])
    section = text.index("\nreport:")
    match = re.compile(r"(\n\s+bins:\s*)(\d+)").search(text, section)
    assert match is not None and int(match.group(2)) == bins
    params.write_text(text[:match.start(2)] + str(bins + 1) + text[match.end(2):])
    third = _dvc(clone, "repro")
    assert _stages_run(third) == {"report"}, third[-3000:]

    # An experiment on the balance quota: the per-image stages upstream of balance do not re-run.
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", "after repro")
    per_class = int(spec["balance"]["per_class"])
    experiment = _dvc(clone, "exp", "run", "-S", f"balance.per_class={max(1, per_class - 1)}")
    ran = _stages_run(experiment)
    assert "balance" in ran, experiment[-3000:]
    assert not ran & {"scan", "harmony-score", "crawl", "fuse", "annotate-import", "mos"}, ran

    # Editing a module that every stage imports marks every stage that runs the package as changed.
    with open(clone / "pipeline" / "schemas.py", "a") as handle:
        handle.write("\n# an edit\n")
    status = _dvc(clone, "status")
    changed = {stage for stage in REQUIRED_STAGES if f"\n{stage}:" in "\n" + status}
    assert changed >= {"scan", "harmony-score", "fuse", "balance", "build", "report", "train"}, status
