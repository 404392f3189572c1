"""Every failure a user can cause ends with one sentence and exit status 1 (2 for a usage error), never a
traceback: each command of icaa-data and icaa-train fed its typical wrong inputs (the wrong table, a missing
file, an empty folder, a wrong root)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from cli_helpers import one_sentence_error, run_main
from icaa.model.cli import main as icaa_train
from icaa.pipeline.cli import main as icaa_data
from icaa.pipeline.io import write_table
from image_fixtures import DEMO_DIR
from train_fixtures import MICRO_CONFIG_64PX, make_colour_dataset

PHOTOS = ["lomiri_bridge_sky.jpg", "mate_red_marigold.jpg", "plasma_blue_lake.jpg", "tuxpaint_rocks.jpg"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """A small real run of scan, harmony-score and fuse: each stage's own table, to hand to the wrong stage."""
    from icaa.pipeline.fuse import run_fuse
    from icaa.pipeline.harmony import run_harmony_score
    from icaa.pipeline.scan import run_scan

    root = tmp_path_factory.mktemp("tables")
    photos = root / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(DEMO_DIR / name, photos / name)
    run_scan(photos, root / "images.parquet", progress=False)
    run_harmony_score(root / "images.parquet", root / "colour.parquet", progress=False)
    run_fuse(root / "colour.parquet", None, root / "coarse.parquet")
    (root / "empty").mkdir()
    return root


def fails(main, argv, capsys, monkeypatch, *, code=1) -> str:
    status, _, err = run_main(main, argv, capsys, monkeypatch)
    assert status == code, err
    return one_sentence_error(err)


WRONG_TABLES = [
    # (command line with {t} for the tables folder, words the one sentence must hold)
    ("report {t}/images.parquet -o {t}/r.html", "images.parquet is not coarse.parquet from fuse: it lacks category, "
                                                "coarse_score; it looks like images.parquet from scan"),
    ("report {t}/colour.parquet -o {t}/r.html", "colour.parquet is not coarse.parquet from fuse: it lacks "
                                                "coarse_score; it looks like colour.parquet from harmony-score"),
    ("report {t}/coarse.parquet --selection {t}/colour.parquet -o {t}/r.html",
     "colour.parquet is not selection.parquet from balance"),
    ("balance {t}/colour.parquet -o {t}/s.parquet", "colour.parquet is not coarse.parquet from fuse"),
    ("fuse {t}/images.parquet -o {t}/c.parquet", "colour table (harmony-score's colour.parquet): missing column"),
    ("fuse {t}/colour.parquet {t}/coarse.parquet -o {t}/c.parquet", "popularity table (crawl's popularity.parquet): "
                                                                    "missing column(s) views, faves, status"),
    ("harmony-score {t}/coarse.parquet -o {t}/h.parquet", "coarse.parquet is not images.parquet from scan: it lacks "
                                                          "path"),
    ("build --selection {t}/coarse.parquet --mos {t}/colour.parquet --images {t}/images.parquet -o {t}/ds",
     "colour.parquet is not a MOS table"),
    ("build --selection {t}/images.parquet --mos {t}/colour.parquet --images {t}/images.parquet -o {t}/ds",
     "images.parquet is not selection.parquet from balance: it lacks category"),
    ("crawl popularity {t}/empty_columns.parquet -o {t}/p.parquet --source file {t}/coarse.parquet",
     "empty_columns.parquet is not images.parquet from scan: it lacks image_id"),
    ("mos {t}/coarse.parquet -o {t}/m.parquet", "missing column(s) rater, color, overall, confidence"),
    ("show {t}/coarse.parquet --columns nope", "coarse.parquet has no column nope"),
    ("show {t}/photos/tuxpaint_rocks.jpg", "expected a .parquet or .csv table"),
]


WRONG_FOLDERS_AND_FILES = [
    ("resplit {t}/empty -o {t}/out", "found neither 1all.csv/all.csv nor both 1train.csv and 1test.csv"),
    ("annotate import --from-export {t}/bad_export.json -o {t}/r.parquet",
     "bad_export.json: expected a JSON list of tasks"),
]


@pytest.mark.parametrize("command, expected", WRONG_FOLDERS_AND_FILES, ids=["resplit", "annotate-import"])
def test_an_empty_folder_or_a_wrong_export_gets_one_sentence(tables, command, expected, capsys, monkeypatch):
    (tables / "bad_export.json").write_text('{"not": "a list of tasks"}')
    argv = ["icaa-data", *command.format(t=tables).split()]
    assert expected in fails(icaa_data, argv, capsys, monkeypatch)


@pytest.mark.parametrize("command, expected", WRONG_TABLES, ids=[c.split()[0] + str(i) for i, (c, _) in
                                                                   enumerate(WRONG_TABLES)])
def test_a_wrong_table_gets_one_sentence_naming_what_was_expected(tables, command, expected, capsys, monkeypatch):
    write_table(pd.DataFrame({"ID": ["x.jpg"], "color": [5.0]}), tables / "empty_columns.parquet")
    argv = ["icaa-data", *command.format(t=tables).split()]
    assert expected in fails(icaa_data, argv, capsys, monkeypatch)


MISSING_FILES = [
    "scan {t}/nowhere -o {t}/i.parquet",
    "harmony-score {t}/nowhere.parquet -o {t}/h.parquet",
    "fuse {t}/colour.parquet {t}/nowhere.parquet -o {t}/c.parquet",
    "balance {t}/nowhere.parquet -o {t}/s.parquet",
    "build --selection {t}/nowhere.parquet --mos {t}/coarse.parquet --images {t}/images.parquet -o {t}/ds",
    "report {t}/coarse.parquet --dataset {t}/nowhere -o {t}/r.html",
    "show {t}/nowhere.parquet",
    "crawl popularity {t}/images.parquet -o {t}/p.parquet --source file {t}/nowhere.csv",
]


@pytest.mark.parametrize("command", MISSING_FILES, ids=[c.split()[0] + str(i) for i, c in enumerate(MISSING_FILES)])
def test_a_missing_file_is_a_usage_error_naming_it(tables, command, capsys, monkeypatch):
    message = fails(icaa_data, ["icaa-data", *command.format(t=tables).split()], capsys, monkeypatch, code=2)
    assert "nowhere" in message and "does not exist" in message


def test_an_empty_folder_and_a_wrong_images_root_fail_instead_of_scoring_nothing(tables, tmp_path, capsys,
                                                                                 monkeypatch):
    message = fails(icaa_data, ["icaa-data", "scan", str(tables / "empty"), "-o", str(tmp_path / "i.parquet")],
                    capsys, monkeypatch)
    assert "no image files to scan" in message
    message = fails(icaa_data, ["icaa-data", "harmony-score", str(tables / "images.parquet"), "-o",
                                str(tmp_path / "c.parquet"), "--images-root", str(tables / "empty"),
                                "--no-progress"], capsys, monkeypatch)
    assert f"none of the 4 images could be scored under --images-root {tables / 'empty'} (rejects: missing 4" in message
    write_table(pd.read_parquet(tables / "images.parquet").iloc[:0], tmp_path / "no_rows.parquet")
    message = fails(icaa_data, ["icaa-data", "harmony-score", str(tmp_path / "no_rows.parquet"), "-o",
                                str(tmp_path / "c2.parquet"), "--no-progress"], capsys, monkeypatch)
    assert "lists no images" in message and not (tmp_path / "c2.parquet").exists()


@pytest.fixture(scope="module")
def micro_weights(tmp_path_factory):
    from icaa.model.weights import build_model, save_weights

    folder = tmp_path_factory.mktemp("weights")
    save_weights(build_model(MICRO_CONFIG_64PX, 64), folder / "best.pt", 64, {"targets": "colour"})
    return folder / "best.pt"


def test_icaa_train_wrong_inputs(tmp_path, micro_weights, capsys, monkeypatch):
    make_colour_dataset(tmp_path / "data", {"train": 4, "test": 2}, size=64)
    for size in ("64", "100"):
        message = fails(icaa_train, ["icaa-train", "fit", "--data", str(tmp_path / "data"), "--out",
                                     str(tmp_path / "run"), "--image-size", size], capsys, monkeypatch)
        assert message.endswith(f"--image-size {size} does not fit dat_tiny: its windows (7, 7, 7, 7 tokens at 1/4 "
                                "to 1/32 scale) need one of 224, 448, 672, 896 pixels")
    assert not (tmp_path / "run").exists()
    (tmp_path / "empty").mkdir()
    message = fails(icaa_train, ["icaa-train", "fit", "--data", str(tmp_path / "empty"), "--out",
                                 str(tmp_path / "run")], capsys, monkeypatch)
    assert "no training labels" in message
    message = fails(icaa_train, ["icaa-train", "fit", "--data", str(tmp_path / "nowhere"), "--out",
                                 str(tmp_path / "run")], capsys, monkeypatch, code=2)
    assert "nowhere" in message and "does not exist" in message
    message = fails(icaa_train, ["icaa-train", "evaluate", "--weights", str(micro_weights), "--data",
                                 str(tmp_path / "data"), "--split", "val"], capsys, monkeypatch)
    assert "no labels for split 'val'" in message
    (tmp_path / "fake.pt").write_text("not a checkpoint")
    message = fails(icaa_train, ["icaa-train", "evaluate", "--weights", str(tmp_path / "fake.pt"), "--data",
                                 str(tmp_path / "data"), "--workers", "0", "--no-progress"], capsys, monkeypatch)
    assert "fake.pt: not a torch checkpoint" in message
    message = fails(icaa_train, ["icaa-train", "predict", str(tmp_path / "empty"), "--weights", str(micro_weights)],
                    capsys, monkeypatch)
    assert "no image files to score" in message


def test_predict_takes_files_and_folders_skips_bad_files_and_prints_only_trained_heads(tmp_path, micro_weights,
                                                                                      capsys, monkeypatch):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(DEMO_DIR / PHOTOS[0], folder / "a.jpg")
    shutil.copy(DEMO_DIR / PHOTOS[1], folder / "sub" / "b.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image ending: not listed")
    single = tmp_path / "single.png"
    shutil.copy(DEMO_DIR / PHOTOS[2], tmp_path / "single.jpg")
    code, out, err = run_main(icaa_train, ["icaa-train", "predict", str(folder), str(tmp_path / "single.jpg"),
                                           str(single), "--weights", str(micro_weights)], capsys, monkeypatch)
    assert code == 0, err
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert list(table.columns) == ["image", "colour_score", "status", "detail"]  # trained on colour only
    by_name = {os.path.basename(i): s for i, s in zip(table["image"], table["status"])}
    assert by_name == {"a.jpg": "ok", "broken.jpg": "unreadable", "b.jpg": "ok", "single.jpg": "ok",
                       "single.png": "missing"}
    assert table.loc[table["status"] == "ok", "colour_score"].between(0, 10).all()
    assert table.loc[table["status"] != "ok", "colour_score"].isna().all()
    assert "skipped" in err and "broken.jpg: unreadable" in err and "scored 3 images, skipped 2" in err


HARMONY_RUN = """
import sys
from icaa.pipeline.cli import main
sys.argv = ["icaa-data", "harmony-score", sys.argv[1], "-o", sys.argv[2], "--chunk-size", "1", "--workers", "2",
            "--no-progress"]
main()
"""


@pytest.mark.slow
def test_ctrl_c_in_harmony_score_says_what_was_kept_and_a_rerun_resumes(tmp_path):
    listing = pd.DataFrame({"image_id": [f"copy{i:03d}.jpg" for i in range(200)],
                            "path": [str(DEMO_DIR / PHOTOS[i % len(PHOTOS)]) for i in range(200)]})
    write_table(listing, tmp_path / "images.parquet")
    parts = tmp_path / ".colour.parts"
    command = [sys.executable, "-c", HARMONY_RUN, str(tmp_path / "images.parquet"), str(tmp_path / "colour.parquet")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.time() + 120  # a bound on a hung child only; no assertion depends on how long anything took
    while not list(parts.glob("part-*.done")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    message = err.strip().splitlines()[-1]
    kept = len(list(parts.glob("part-*.done")))
    assert message == (f"harmony-score: interrupted; {kept} finished chunk(s) of up to 1 images are kept in {parts}; "
                       "run the same command again to resume from them")
    assert 0 < kept < 200 and not (tmp_path / "colour.parquet").exists()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(tmp_path / "colour.parquet")) == 200


@pytest.mark.parametrize("side_px", [12000, 30000])  # over max_pixels, and over twice it (Pillow's own guard)
def test_a_decompression_bomb_is_reported_against_the_max_pixels_asked_for(tmp_path, side_px):
    from icaa.pipeline.decode import DecodeError, open_image
    from image_fixtures import write_huge_png

    write_huge_png(tmp_path / "huge.png", side_px=side_px)
    with pytest.raises(DecodeError) as raised:
        with open_image(tmp_path / "huge.png", max_pixels=100_000_000):
            pass
    assert raised.value.reason == "decompression_bomb"
    assert "max_pixels 100000000" in raised.value.detail and "200000000" not in raised.value.detail
