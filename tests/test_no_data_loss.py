"""No stage overwrites or deletes what it did not write."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from cli_helpers import one_sentence_error, run_main
from icaa.pipeline.cli import main as icaa_data
from icaa.pipeline.io import write_table
from image_fixtures import DEMO_DIR

PHOTOS = ["lomiri_bridge_sky.jpg", "mate_red_marigold.jpg", "plasma_blue_lake.jpg"]


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(DEMO_DIR / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_scan_and_harmony_score_into_one_folder_keep_both_rejects_tables(photos, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    assert run_main(icaa_data, ["icaa-data", "scan", str(photos), "-o", str(work / "images.parquet"),
                                "--no-progress"], capsys, monkeypatch)[0] == 0
    images = pd.read_parquet(work / "images.parquet")  # a photo deleted after the scan: harmony-score rejects it
    gone = images.iloc[:1].assign(image_id="gone.jpg", path=str(photos / "gone.jpg"))
    write_table(pd.concat([images, gone], ignore_index=True), work / "images.parquet")
    code, out, err = run_main(icaa_data, ["icaa-data", "harmony-score", str(work / "images.parquet"), "-o",
                                          str(work / "colour.parquet"), "--no-progress"], capsys, monkeypatch)
    assert code == 0, err
    scan_rejects = pd.read_parquet(work / "scan_rejects.parquet")
    harmony_rejects = pd.read_parquet(work / "harmony_rejects.parquet")
    assert scan_rejects[["image_id", "reason"]].values.tolist() == [["broken.jpg", "not_an_image"]]
    assert harmony_rejects[["image_id", "reason"]].values.tolist() == [["gone.jpg", "missing"]]


@pytest.mark.parametrize("stage", ["scan-manifest", "harmony-score", "fuse", "fuse-rejects", "balance", "report",
                                   "build"])
def test_an_output_equal_to_an_input_is_refused_and_the_input_kept(stage, photos, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    assert run_main(icaa_data, ["icaa-data", "scan", str(photos), "-o", str(work / "images.parquet"),
                                "--no-progress"], capsys, monkeypatch)[0] == 0
    assert run_main(icaa_data, ["icaa-data", "harmony-score", str(work / "images.parquet"), "-o",
                                str(work / "colour.parquet"), "--no-progress"], capsys, monkeypatch)[0] == 0
    assert run_main(icaa_data, ["icaa-data", "fuse", str(work / "colour.parquet"), "-o",
                                str(work / "coarse.parquet")], capsys, monkeypatch)[0] == 0
    images, colour, coarse = (work / f"{name}.parquet" for name in ("images", "colour", "coarse"))
    commands = {
        "scan-manifest": (["scan", str(photos), "--manifest", str(images), "-o", str(images)], images),
        "harmony-score": (["harmony-score", str(images), "-o", str(images), "--no-progress"], images),
        "fuse": (["fuse", str(colour), "-o", str(colour)], colour),
        "fuse-rejects": (["fuse", str(colour), "-o", str(work / "new.parquet"), "--rejects", str(colour)], colour),
        "balance": (["balance", str(coarse), "-o", str(coarse)], coarse),
        "report": (["report", str(coarse), "-o", str(coarse)], coarse),
        "build": (["build", "--selection", str(coarse), "--mos", str(coarse), "--images", str(images), "-o",
                   str(work)], images),
    }
    args, kept = commands[stage]
    before = kept.read_bytes()
    code, _, err = run_main(icaa_data, ["icaa-data", *args], capsys, monkeypatch)
    assert code == 1
    message = one_sentence_error(err)
    assert "input" in message and "choose another output" in message
    assert kept.read_bytes() == before


def _build_inputs(photos, tmp_path):
    ids = PHOTOS
    write_table(pd.DataFrame({"image_id": ids, "path": [str(photos / i) for i in ids]}), tmp_path / "images.parquet")
    write_table(pd.DataFrame({"image_id": ids, "category": "monochromatic/blue", "coarse_score": 5.0}),
                tmp_path / "selection.parquet")
    pd.DataFrame({"image_id": ids, "color": [4.0, 6.0, 8.0], "MOS": [5.0, 5.0, 5.0],
                  "probability": 0.9}).to_csv(tmp_path / "mos.csv", index=False)
    return ["icaa-data", "build", "--selection", str(tmp_path / "selection.parquet"), "--mos",
            str(tmp_path / "mos.csv"), "--images", str(tmp_path / "images.parquet"), "-o", str(tmp_path / "dataset"),
            "--licences", "any"]


def test_build_into_an_existing_dataset_needs_overwrite_and_never_deletes_a_users_file(photos, tmp_path, capsys,
                                                                                       monkeypatch):
    build = _build_inputs(photos, tmp_path)
    assert run_main(icaa_data, build, capsys, monkeypatch)[0] == 0
    dataset = tmp_path / "dataset"
    code, _, err = run_main(icaa_data, build, capsys, monkeypatch)
    assert code == 1 and "--overwrite" in one_sentence_error(err)
    assert run_main(icaa_data, build + ["--overwrite"], capsys, monkeypatch)[0] == 0  # its own files: replaced
    (dataset / "my_notes.txt").write_text("mine")
    code, _, err = run_main(icaa_data, build + ["--overwrite"], capsys, monkeypatch)
    assert code == 1 and "my_notes.txt" in one_sentence_error(err)
    assert (dataset / "my_notes.txt").read_text() == "mine" and (dataset / "all.csv").is_file()


def test_dataset_images_are_copies_unless_link_is_asked_for(photos, tmp_path, capsys, monkeypatch):
    build = _build_inputs(photos, tmp_path)
    previous = os.umask(0o002)
    try:
        assert run_main(icaa_data, build, capsys, monkeypatch)[0] == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "dataset").stat().st_mode & 0o777 == 0o775  # the user's umask, not mkdtemp's 0700
    assert (tmp_path / "dataset" / "all.csv").stat().st_mode & 0o777 == 0o664
    manifest = pd.read_parquet(tmp_path / "dataset" / "manifest.parquet")
    assert set(manifest["placed_by"]) == {"copy"}
    copy = tmp_path / "dataset" / manifest["ID"][0]
    original = photos / manifest["image_id"][0]
    assert copy.stat().st_ino != original.stat().st_ino
    before = original.read_bytes()
    copy.write_bytes(b"edited")
    assert original.read_bytes() == before  # editing the dataset leaves the photo alone
    linked = [*build, "--link"]
    linked[linked.index("-o") + 1] = str(tmp_path / "linked")
    assert run_main(icaa_data, linked, capsys, monkeypatch)[0] == 0
    manifest = pd.read_parquet(tmp_path / "linked" / "manifest.parquet")
    assert set(manifest["placed_by"]) == {"hardlink"}
    assert (tmp_path / "linked" / manifest["ID"][0]).stat().st_ino == (photos / manifest["image_id"][0]).stat().st_ino


def test_fit_into_an_existing_run_needs_resume_and_changes_nothing(tmp_path, capsys, monkeypatch):
    from icaa.model.cli import main as icaa_train

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text('{"val": {"srcc": 0.9}}')
    (tmp_path / "data").mkdir()
    code, _, err = run_main(icaa_train, ["icaa-train", "fit", "--data", str(tmp_path / "data"), "--out", str(run)],
                            capsys, monkeypatch)
    message = one_sentence_error(err)
    assert code == 1 and "already holds a training run (metrics.json)" in message and "--resume" in message
    assert (run / "metrics.json").read_text() == '{"val": {"srcc": 0.9}}' and sorted(p.name for p in run.iterdir()) == [
        "metrics.json"]


def _release(folder):
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"monochromatic/red/p{i}.jpg" for i in range(6)]
    frame = pd.DataFrame({"ID": ids, "color": [3.0, 4.0, 5.0, 6.0, 7.0, 8.0], "MOS": 5.0, "probability": 0.8})
    frame.to_csv(folder / "1all.csv", index=False)
    frame.iloc[:4].to_csv(folder / "train.csv", index=False)
    frame.iloc[4:].to_csv(folder / "test.csv", index=False)
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@pytest.mark.parametrize("target, says", [("the release itself", "is the release folder it reads"),
                                          ("a file", "exists and is not a folder"),
                                          ("a folder of other ICAA17K files", "which resplit did not write")])
def test_resplit_never_replaces_a_release_it_did_not_write(target, says, tmp_path, capsys, monkeypatch):
    before = _release(tmp_path / "release")
    other = _release(tmp_path / "other")
    (tmp_path / "a_file").write_text("keep me")
    output = {"the release itself": tmp_path / "release", "a file": tmp_path / "a_file",
              "a folder of other ICAA17K files": tmp_path / "other"}[target]
    code, _, err = run_main(icaa_data, ["icaa-data", "resplit", str(tmp_path / "release"), "-o", str(output)],
                            capsys, monkeypatch)
    assert code == 1, err
    assert says in one_sentence_error(err)
    assert {p.name: p.read_bytes() for p in (tmp_path / "release").iterdir()} == before
    assert {p.name: p.read_bytes() for p in (tmp_path / "other").iterdir()} == other
    assert (tmp_path / "a_file").read_text() == "keep me"


def test_resplit_may_replace_its_own_earlier_output(tmp_path, capsys, monkeypatch):
    _release(tmp_path / "release")
    command = ["icaa-data", "resplit", str(tmp_path / "release"), "-o", str(tmp_path / "out")]
    assert run_main(icaa_data, command, capsys, monkeypatch)[0] == 0
    assert run_main(icaa_data, command + ["--seed", "1"], capsys, monkeypatch)[0] == 0


def test_crawl_popularity_refuses_to_write_over_its_images_table(photos, tmp_path, capsys, monkeypatch):
    images = tmp_path / "images.parquet"
    write_table(pd.DataFrame({"image_id": PHOTOS}), images)
    before = images.read_bytes()
    code, _, err = run_main(icaa_data, ["icaa-data", "crawl", "popularity", str(images), "-o", str(images),
                                        "--source", "file", str(DEMO_DIR / "popularity.csv")], capsys, monkeypatch)
    assert code == 1 and "choose another output" in one_sentence_error(err)
    assert images.read_bytes() == before
