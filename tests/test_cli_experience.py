"""The command-line tools as a user meets them: help that keeps every default and bracket, start-up that
imports no stage until it runs (structure, not timing: benchmarks/startup.py measures the time), a readable
listing of any table, outputs that follow the umask."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from icaa.pipeline.cli import COMMANDS, app
from icaa.common.files import atomic_write_text
from icaa.pipeline.io import write_table

HEAVY_MODULES = ("torch", "scipy", "pandas", "numpy", "pyarrow", "dask", "distributed", "label_studio_sdk", "cv2",
                 "skimage", "colour", "rich", "icaa.pipeline.scan", "icaa.pipeline.harmony", "icaa.pipeline.fuse",
                 "icaa.model.engine", "icaa.model.evaluation", "icaa.model.runtime",
                 "icaa.model.weights", "icaa.model.splits", "icaa.model.det")

IMPORTED_BY_HELP = """
import sys
sys.argv = [{tool!r}, *{arguments!r}, "--help"]
from {module} import main
try:
    main()
except SystemExit:
    pass
print("MODULES", " ".join(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("tool, module, arguments", [
    ("icaa-data", "icaa.pipeline.cli", []), ("icaa-train", "icaa.model.cli", []),
    ("icaa-data", "icaa.pipeline.cli", ["harmony-score"]),
])
def test_help_imports_no_stage_and_no_heavy_library(tool, module, arguments):
    code = IMPORTED_BY_HELP.format(tool=tool, module=module, arguments=arguments)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stderr.split("MODULES", 1)[1].split())
    assert ("Options:" if arguments else "Commands:") in done.stdout
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY_MODULES or m in HEAVY_MODULES) == []


def test_harmony_score_loads_only_what_it_runs(tmp_path):
    """The whole command on one photo: no pandas, scipy, Dask, torch, matplotlib or other stage behind it, and
    neither pyarrow.compute nor tqdm (20-30 ms each) for a table as scan writes it without a progress bar."""
    photo = tmp_path / "photos" / "red.jpg"
    photo.parent.mkdir()
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    cv2.imwrite(str(photo), np.full((120, 160, 3), (0, 0, 255), np.uint8))
    # As scan writes it: string columns, with the photo_key that harmony-score carries (deriving a missing one
    # needs scipy).
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"image_id": ["red.jpg"], "path": [str(photo)], "photo_key": ["red.jpg"]}),
                   tmp_path / "images.parquet")
    code = IMPORTED_BY_HELP.replace(', "--help"]', "]").format(
        tool="icaa-data", module="icaa.pipeline.cli",
        arguments=["harmony-score", str(tmp_path / "images.parquet"), "-o", str(tmp_path / "c.parquet"), "--no-progress"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stderr.split("MODULES", 1)[1].split())
    assert "scored: 1" in done.stdout
    unneeded = ("pandas", "scipy", "dask", "distributed", "torch", "matplotlib", "skimage", "label_studio_sdk", "yaml",
                "pyarrow.compute", "tqdm", "icaa.pipeline.scan", "icaa.pipeline.balance", "icaa.pipeline.fuse",
                "icaa.model")
    assert sorted(m for m in loaded if any(m == name or m.startswith(name + ".") for name in unneeded)) == []


def _all_commands():
    for name, (module, _) in COMMANDS.items():
        __import__(module)
    root = typer.main.get_command(app)
    from icaa.model.cli import app as train_app

    found = []

    def walk(command, path, owner):
        if hasattr(command, "commands"):
            for sub_name, sub in command.commands.items():
                walk(sub, path + [sub_name], owner)
        else:
            found.append((owner, path, command))

    for name in COMMANDS:
        walk(root.get_command(None, name), [name], app)
    walk(typer.main.get_command(train_app), [], train_app)
    return found


def test_the_listing_of_icaa_data_help_is_each_command_s_own_first_line():
    root = typer.main.get_command(app)
    for name, (_, short_help) in COMMANDS.items():
        command = root.get_command(None, name)
        first_paragraph = " ".join((command.help or "").split("\n\n")[0].split())
        assert first_paragraph == short_help, name


def test_every_help_keeps_its_defaults_brackets_and_option_names_at_80_columns():
    runner = CliRunner()
    for owner, path, command in _all_commands():
        result = runner.invoke(owner, path + ["--help"], terminal_width=80)
        assert result.exit_code == 0, (path, result.output)
        words = result.output.split()
        for parameter in command.params:
            for option in parameter.opts + parameter.secondary_opts:
                if option.startswith("-"):
                    assert option in words or f"{option}," in words, (path, option)
        flat = " ".join(words)
        for parameter in command.params:
            help_text = " ".join((getattr(parameter, "help", None) or "").split())
            for fragment in [part for part in help_text.split("[")[1:]]:
                assert "[" + fragment.split("]")[0] + "]" in flat, (path, parameter.name)
        assert "Example" in flat or path == [], path
    harmony = runner.invoke(app, ["harmony-score", "--help"], terminal_width=80)
    assert "[default 30; overrides the file]" in " ".join(harmony.output.split())


def test_show_lists_each_photo_with_its_class_colours_and_scores(tmp_path):
    write_table(pd.DataFrame({"image_id": ["red.jpg", "grey.jpg"], "category": ["monochromatic/red", None],
                              "dominant": ["red", "achromatic"], "auxiliary": [None, None],
                              "harmony_template_score": [0.91234, float("nan")], "colourfulness_m3": [60.0, 2.5],
                              "class_score_monochromatic_red": [0.9, 0.0]}), tmp_path / "colour.parquet")
    result = CliRunner().invoke(app, ["show", str(tmp_path / "colour.parquet")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["image", "class", "dominant", "auxiliary", "harmony", "colourfulness"]
    assert lines[1].split() == ["red.jpg", "monochromatic/red", "red", "-", "0.912", "60.000"]
    assert lines[2].split() == ["grey.jpg", "-", "achromatic", "-", "-", "2.500"]
    as_csv = CliRunner().invoke(app, ["show", str(tmp_path / "colour.parquet"), "--csv", "--limit", "1"])
    assert as_csv.output.splitlines() == ["image,class,dominant,auxiliary,harmony,colourfulness",
                                          "red.jpg,monochromatic/red,red,,0.91234,60.0"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_table(pd.DataFrame({"image_id": ["a.jpg"]}), tmp_path / "t.parquet")
        atomic_write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == mode
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == mode


def test_every_document_a_repository_file_names_exists(repo_root):
    """A file that names a Markdown document (a guide, notes/...) points at one that is there: in the
    repository, written by build (DATASHEET.md), or in the ../shared reference material it says it is in."""
    tracked = subprocess.run(["git", "ls-files"], cwd=repo_root, capture_output=True, text=True, check=True)
    known = {path.rsplit("/", 1)[-1] for path in tracked.stdout.split()} | {"DATASHEET.md"}
    shared = repo_root.parent / "shared"
    if shared.is_dir():
        known |= {path.name for path in shared.rglob("*.md")}
    missing = []
    for name in tracked.stdout.split():
        path = repo_root / name
        if path.suffix in (".jpg", ".png", ".parquet", ".json", ".tsv") or not path.is_file():
            continue
        for mention in re.findall(r"[\w./-]*\b[\w-]+\.md\b", path.read_text(errors="ignore")):
            if mention.rsplit("/", 1)[-1] not in known:
                missing.append(f"{name}: {mention}")
    assert missing == []


EXIT_WITHOUT_TEARDOWN = """
import atexit, sys, threading, time
from pathlib import Path
from icaa.common.cli import exit_without_teardown

out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))

def main():
    if sys.argv[2] == "thread":  # a worker that is not a daemon: the process must wait for it
        threading.Thread(target=lambda: (time.sleep(0.3), (out / "thread").write_text("done"))).start()
    sys.stdout.write("no newline, still printed")
    raise SystemExit(int(sys.argv[3]))

exit_without_teardown(main)
"""


@pytest.mark.parametrize("mode, status", [("plain", 0), ("plain", 3), ("thread", 0)])
def test_the_console_scripts_quick_exit_keeps_status_output_exit_handlers_and_threads(tmp_path, mode, status):
    done = subprocess.run([sys.executable, "-c", EXIT_WITHOUT_TEARDOWN, str(tmp_path), mode, str(status)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (status, "no newline, still printed")
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").exists() == (mode == "thread")


def test_the_console_scripts_are_the_quick_exit_entry_points():
    from importlib.metadata import entry_points

    scripts = {entry.name: entry.value for entry in entry_points(group="console_scripts")
               if entry.name in ("icaa-data", "icaa-train")}
    assert scripts == {"icaa-data": "icaa.pipeline.cli:console_main", "icaa-train": "icaa.model.cli:console_main"}
