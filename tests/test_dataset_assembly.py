"""balance, build, resplit and report: exact numbers on synthetic pools, the real ICAA17K label files."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
import pytest
from PIL import Image
from typer.testing import CliRunner

from icaa.pipeline.balance import balance_pool, even_targets, kl_from_uniform, spread_deficits
from icaa.pipeline.build import assemble_dataset, dataset_summary, file_names, write_dataset
from icaa.pipeline.categories import class_score_column
from icaa.pipeline.cli import app
from icaa.pipeline.balance import run_balance
from icaa.pipeline.build import run_build
from icaa.pipeline.resplit import run_resplit
from icaa.pipeline.report import run_report
from icaa.common.errors import IcaaError
from icaa.pipeline.icaa17k import ICAA17K_COLUMNS, read_icaa17k_csv
from icaa.pipeline.io import write_table
from icaa.pipeline.schemas import SELECTION
from icaa.pipeline.split import assert_no_leak, grouped_split, leaked_rows, photo_groups, score_bins

RED = "monochromatic/red"
BLUE = "monochromatic/blue"
RED_BLUE = "complementary/red_blue"


def skewed_pool(n_per_class: int, classes=(RED, BLUE, RED_BLUE), seed: int = 0) -> pd.DataFrame:
    """Long-tailed coarse scores like ICAA17K's (most above 5), with a thin uniform floor in every bin."""
    rng = np.random.default_rng(seed)
    frames = []
    for category in classes:
        n_tail = n_per_class // 10
        scores = np.concatenate([np.clip(rng.normal(7.0, 0.8, n_per_class - n_tail), 1, 10),
                                 rng.uniform(1, 10, n_tail)])
        frames.append(pd.DataFrame({"image_id": [f"{category}/{i}.jpg" for i in range(n_per_class)],
                                    "category": category, "coarse_score": scores}))
    return pd.concat(frames, ignore_index=True)


# --- balance ----------------------------------------------------------------------------------------

def test_even_targets_and_deficit_spreading_are_exact():
    assert even_targets(500, 10).tolist() == [50] * 10
    assert even_targets(23, 10).sum() == 23
    placed, unmet = spread_deficits(np.array([5, 5, 5, 5]), np.array([1, 9, 0, 100]))
    # bin 0 gives 4 to bin 1; bin 2 gives 5: 1 to bin 1 (distance 1, lower first; bin 1 has room for 0 more
    # after bin 0's 4) then to bin 3.
    assert placed.tolist() == [1, 9, 0, 10] and unmet == 0
    placed, unmet = spread_deficits(np.array([5, 5]), np.array([1, 2]))
    assert placed.tolist() == [1, 2] and unmet == 7
    assert kl_from_uniform(np.array([50] * 10)) == 0.0


def test_skewed_pool_balances_to_uniform_bins_with_kl_below_001():
    pool = skewed_pool(20000)
    selection, metrics = balance_pool(pool, per_class=500, bins=10, seed=3)
    for category in (RED, BLUE, RED_BLUE):
        per_class = metrics["per_class"][category]
        assert per_class["selected_per_bin"] == [50] * 10
        assert per_class["kl_from_uniform"] < 0.01
        assert per_class["fraction_met"] == 1.0
    assert len(selection) == 1500 and selection["image_id"].is_unique
    # The pool itself is far from uniform: the test would fail on a plain random sample.
    pool_bins = np.bincount(score_bins(pool.loc[pool.category == RED, "coarse_score"]), minlength=10)
    assert kl_from_uniform(pool_bins) > 0.5


def test_bins_lacking_candidates_move_their_deficit_to_the_nearest_bins_and_report_it():
    # Known counts per bin: bin 0 has 10 candidates, bin 9 none, the others 100 each.
    counts = [10] + [100] * 8 + [0]
    scores = np.concatenate([np.full(n, 1.45 + 0.9 * b) for b, n in enumerate(counts)])
    pool = pd.DataFrame({"image_id": [f"p{i}.jpg" for i in range(len(scores))], "category": RED,
                         "coarse_score": scores})
    _, metrics = balance_pool(pool, per_class=500)
    red = metrics["per_class"][RED]
    assert red["candidates_per_bin"] == counts
    assert red["selected_per_bin"] == [10, 90, 50, 50, 50, 50, 50, 50, 100, 0]
    assert red["deficit_per_bin"] == [40, 0, 0, 0, 0, 0, 0, 0, 0, 50]
    assert red["moved_to_other_bins"] == 90 and red["unmet"] == 0 and red["fraction_met"] == 1.0


def test_too_few_candidates_report_the_exact_unmet_count():
    pool = pd.DataFrame({"image_id": [f"p{i}.jpg" for i in range(120)], "category": BLUE,
                         "coarse_score": np.linspace(1, 10, 120)})
    selection, metrics = balance_pool(pool, per_class=500, quota_overrides={RED: 0})
    assert len(selection) == 120
    assert metrics["per_class"][BLUE]["unmet"] == 380
    assert metrics["per_class"][BLUE]["fraction_met"] == pytest.approx(0.24)
    assert metrics["unmet"] == 380


def test_duplicate_group_is_selected_once_through_scan_duplicate_of():
    pool = pd.DataFrame({"image_id": ["a.jpg", "a_copy.jpg", "a_small.jpg", "b.jpg"], "category": RED,
                         "coarse_score": [5.0, 5.0, 5.1, 7.0]})
    images = pd.DataFrame({"image_id": ["a.jpg", "a_copy.jpg", "a_small.jpg", "b.jpg"],
                           "duplicate_of": [None, "a.jpg", "a.jpg", None]})
    selection, metrics = balance_pool(pool, images=images, per_class=10)
    assert sorted(selection["image_id"]) == ["a.jpg", "b.jpg"]
    assert metrics["skipped"]["duplicate"] == 2


def test_multi_class_photo_goes_to_the_class_where_it_is_scarce_and_the_class_is_recorded():
    rng = np.random.default_rng(0)
    # RED has plenty everywhere; BLUE has nothing in bin 0. One photo of bin 0 is red but scores high for blue.
    red = pd.DataFrame({"image_id": [f"r{i}.jpg" for i in range(400)], "category": RED,
                        "coarse_score": rng.uniform(1, 10, 400)})
    blue = pd.DataFrame({"image_id": [f"b{i}.jpg" for i in range(100)], "category": BLUE,
                         "coarse_score": rng.uniform(2, 10, 100)})
    both = pd.DataFrame({"image_id": ["both.jpg"], "category": [RED], "coarse_score": [1.2]})
    pool = pd.concat([red, blue, both], ignore_index=True)
    pool[class_score_column(BLUE)] = 0.0
    pool.loc[pool.image_id == "both.jpg", class_score_column(BLUE)] = 0.9
    selection, _ = balance_pool(pool, per_class=20, class_score_threshold=0.5)
    row = selection.set_index("image_id").loc["both.jpg"]
    assert row["category"] == BLUE and row["primary_category"] == RED and row["n_classes"] == 2


def test_balance_is_deterministic_for_a_seed_and_independent_of_row_order():
    pool = skewed_pool(3000, classes=(RED,))
    first, _ = balance_pool(pool, per_class=200, seed=7)
    again, _ = balance_pool(pool.sample(frac=1.0, random_state=1), per_class=200, seed=7)
    other, _ = balance_pool(pool, per_class=200, seed=8)
    assert first["image_id"].tolist() == again["image_id"].tolist()
    assert set(first["image_id"]) != set(other["image_id"])


@pytest.mark.parametrize("pool, message", [
    (pd.DataFrame({"image_id": ["a"], "category": [RED]}), "coarse_score"),
    (pd.DataFrame({"image_id": ["a"], "category": ["monochromatic/teal"], "coarse_score": [5.0]}), "teal"),
])
def test_balance_bad_input_names_the_problem(pool, message):
    with pytest.raises(IcaaError, match=message):
        balance_pool(pool)


def test_balance_cli_writes_selection_and_metrics(tmp_path):
    write_table(skewed_pool(2000, classes=(RED,)), tmp_path / "coarse.parquet")
    result = CliRunner().invoke(app, ["balance", str(tmp_path / "coarse.parquet"), "-o", str(tmp_path / "sel.parquet"),
                                      "--per-class", "100", "--quota", f"{BLUE}=0",
                                      "--metrics", str(tmp_path / "m" / "balance.json")])
    assert result.exit_code == 0, result.output
    selection = pd.read_parquet(tmp_path / "sel.parquet")
    assert len(selection) == 100 and list(selection.columns) == SELECTION.names
    metrics = json.loads((tmp_path / "m" / "balance.json").read_text())
    assert metrics["selected"] == 100 and "per_class" not in metrics  # headline numbers only
    details = json.loads((tmp_path / "balance_per_class.json").read_text())
    assert details["per_class"][RED]["selected_per_bin"] == [10] * 10
    assert "every class quota met (100 photos)" in result.output
    bad = CliRunner().invoke(app, ["balance", str(tmp_path / "coarse.parquet"), "-o", str(tmp_path / "x.parquet"),
                                   "--quota", "red:3"])
    # The root app (run_app) prints IcaaError and exits 1; CliRunner hands the exception back.
    assert isinstance(bad.exception, IcaaError) and "CLASS=COUNT" in str(bad.exception)
    assert run_balance(tmp_path / "coarse.parquet", tmp_path / "s2.parquet", per_class=50)["selected"] == 50


# --- split ------------------------------------------------------------------------------------------

def test_photo_groups_join_rows_sharing_any_key_transitively():
    keys = pd.DataFrame({"name": ["a", "b", "c", "d", "e"], "sha": ["1", "2", "2", None, "3"],
                         "dup": ["a", "b", "e", "d", "e"]})
    assert photo_groups(keys).tolist() == [0, 1, 1, 2, 1]


def test_grouped_split_keeps_groups_whole_and_meets_fractions():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3000, 9000)
    strata = rng.integers(0, 20, 9000)[groups % 20]
    split = grouped_split(groups, strata, seed=1)
    assert_no_leak(groups, split)
    shares = pd.Series(split).value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.1, abs=0.02) and shares["val"] == pytest.approx(0.1, abs=0.02)
    mask = leaked_rows(np.array([0, 0, 1, 2, 2]), np.array(["train", "test", "test", "val", "test"]))
    assert mask.tolist() == [False, True, False, False, False]
    with pytest.raises(IcaaError, match="more than one split"):
        assert_no_leak(np.array([1, 1]), np.array(["train", "test"]), ["x/a.jpg", "y/a.jpg"])


# --- build ------------------------------------------------------------------------------------------

def make_images(root: Path, n: int) -> pd.DataFrame:
    """n small JPEGs of distinct solid colours; two exact copies and one near duplicate group."""
    rows = []
    for i in range(n):
        path = root / "src" / f"dir{i % 2}" / f"photo{i // 2}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(path, quality=90)
        rows.append(path)
    # photo 0's file copied byte for byte under another name (same sha256).
    shutil.copy(rows[0], root / "src" / "copy_of_0.jpg")
    rows.append(root / "src" / "copy_of_0.jpg")
    frame = pd.DataFrame({"image_id": [str(p.relative_to(root / "src")) for p in rows], "path": [str(p) for p in rows]})
    frame["sha256"] = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in frame["path"]]
    frame["duplicate_of"] = None
    frame.loc[frame.image_id == "dir1/photo1.jpg", "duplicate_of"] = "dir0/photo1.jpg"  # near duplicate
    return frame


def _build(selection, mos, images, output_dir, **options) -> dict:
    """The build core and its writer on in-memory tables; the figures of the dataset written."""
    dataset = assemble_dataset(selection, mos, images, **options)
    write_dataset(dataset, output_dir)
    return dataset_summary(dataset)


def test_build_writes_icaa17k_layout_with_zero_photo_overlap(tmp_path):
    images = make_images(tmp_path, 60)
    rng = np.random.default_rng(0)
    categories = np.array([RED, BLUE, RED_BLUE])
    selection = pd.DataFrame({"image_id": images["image_id"], "category": categories[np.arange(len(images)) % 3],
                              "coarse_score": rng.uniform(1, 10, len(images))})
    # dir0/photo0.jpg and dir1/photo0.jpg share a base name: put them in one class to force a clash.
    selection.loc[selection.image_id.isin(["dir0/photo0.jpg", "dir1/photo0.jpg"]), "category"] = RED
    mos = pd.DataFrame({"image_id": images["image_id"], "color": rng.uniform(2, 9, len(images)),
                        "MOS": rng.uniform(1, 9, len(images)), "probability": rng.uniform(0.55, 0.9, len(images))})
    mos.loc[mos.image_id == "dir1/photo5.jpg", "probability"] = 0.3
    mos = mos[mos.image_id != "dir0/photo7.jpg"]
    popularity = pd.DataFrame({"image_id": images["image_id"], "licence": 4, "owner": "1@N01", "owner_name": "Ann"})
    summary = _build(selection, mos, images, tmp_path / "dataset", extra_tables=[popularity], seed=0)
    out = tmp_path / "dataset"
    assert summary["rejected"] == {"low_confidence": 1, "no_mos": 1}
    assert summary["rows"] == 59 and summary["photos_on_both_sides"] == 0
    frames = {}
    for name in ("all", "train", "val", "test"):
        assert (out / f"{name}.csv").read_text().splitlines()[0] == ",".join(ICAA17K_COLUMNS)
        frames[name] = read_icaa17k_csv(out / f"{name}.csv")
    assert len(frames["all"]) == 59 == sum(len(frames[n]) for n in ("train", "val", "test"))
    assert all((out / i).is_file() for i in frames["all"]["ID"])
    assert all(i.split("/")[0] in ("monochromatic", "complementary") and len(i.split("/")) == 3
               for i in frames["all"]["ID"])
    manifest = pd.read_parquet(out / "manifest.parquet")
    for column in ("sha256", "duplicate_of", "coarse_score", "licence", "photo_group", "split", "path"):
        assert column in manifest.columns
    by_id = manifest.set_index("image_id")
    # The clash got a hash suffix, deterministically on the larger image id.
    assert by_id.loc["dir0/photo0.jpg", "ID"] == f"{RED}/photo0.jpg"
    assert by_id.loc["dir1/photo0.jpg", "ID"].startswith(f"{RED}/photo0_")
    # Exact copy (sha256) and near duplicate (duplicate_of) sit with their photo.
    assert by_id.loc["copy_of_0.jpg", "split"] == by_id.loc["dir0/photo0.jpg", "split"]
    assert by_id.loc["dir1/photo1.jpg", "split"] == by_id.loc["dir0/photo1.jpg", "split"]
    groups_by_split = manifest.groupby("split")["photo_group"].apply(set)
    assert not (groups_by_split["train"] & groups_by_split["test"]) and not (groups_by_split["train"] & groups_by_split["val"])
    datasheet = (out / "DATASHEET.md").read_text()
    for heading in ("## Motivation", "## Composition", "## Collection process", "## Uses", "## Distribution and licences"):
        assert heading in datasheet
    assert "| CC BY 2.0 (Flickr 4) | 59 |" in datasheet
    assert f"| {RED}/photo0.jpg | CC BY 2.0 (Flickr 4) | Ann (1@N01) |" in datasheet
    assert "Licence filter: 4 (CC BY 2.0), 5 (CC BY-SA 2.0), 7 (" in datasheet
    rejects = pd.read_parquet(out / "rejects.parquet")
    assert sorted(zip(rejects["image_id"], rejects["reason"])) == [("dir0/photo7.jpg", "no_mos"),
                                                                   ("dir1/photo5.jpg", "low_confidence")]


def test_build_cli_and_bad_inputs(tmp_path):
    images = make_images(tmp_path, 6)
    write_table(images, tmp_path / "images.parquet")
    write_table(pd.DataFrame({"image_id": images["image_id"], "category": RED, "coarse_score": 5.0}),
                tmp_path / "selection.parquet")
    write_table(pd.DataFrame({"image_id": images["image_id"], "color": 6.0, "MOS": 5.0, "probability": 0.8}),
                tmp_path / "mos.parquet")
    arguments = ["build", "--selection", str(tmp_path / "selection.parquet"), "--mos", str(tmp_path / "mos.parquet"),
                 "--images", str(tmp_path / "images.parquet"), "-o", str(tmp_path / "ds")]
    # No table gives a licence: the default filter ships nothing and says why.
    refused = CliRunner().invoke(app, arguments)
    assert isinstance(refused.exception, IcaaError)
    assert "licence_not_allowed" in str(refused.exception) and "--licences" in str(refused.exception)
    assert not (tmp_path / "ds").exists()
    result = CliRunner().invoke(app, arguments + ["--licences", "any"])
    assert result.exit_code == 0, result.output
    assert len(read_icaa17k_csv(tmp_path / "ds" / "all.csv")) == 7
    assert "licence" not in pd.read_parquet(tmp_path / "ds" / "manifest.parquet").columns
    sheet = (tmp_path / "ds" / "DATASHEET.md").read_text()
    assert "| unknown | 7 |" in sheet and "Licence filter: any (filter off)" in sheet
    write_table(pd.DataFrame({"image_id": images["image_id"], "color": 6.0}), tmp_path / "bad_mos.parquet")
    with pytest.raises(IcaaError, match="bad_mos.parquet is not a MOS table.*lacks MOS, probability"):
        run_build(tmp_path / "selection.parquet", tmp_path / "bad_mos.parquet", tmp_path / "images.parquet",
                  tmp_path / "ds2")
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "keep.txt").write_text("mine")
    with pytest.raises(IcaaError, match="already holds files.*--overwrite"):
        run_build(tmp_path / "selection.parquet", tmp_path / "mos.parquet", tmp_path / "images.parquet",
                  tmp_path / "occupied")
    with pytest.raises(IcaaError, match="not an icaa dataset"):
        run_build(tmp_path / "selection.parquet", tmp_path / "mos.parquet", tmp_path / "images.parquet",
                  tmp_path / "occupied", overwrite=True)
    assert (tmp_path / "occupied" / "keep.txt").read_text() == "mine"


def test_file_names_resolve_clashes_deterministically():
    ids = pd.Series(["b/x.jpg", "a/x.jpg", "c/y.jpg"])
    names = file_names(ids, pd.Series([RED, RED, RED]))
    assert names.tolist()[1:] == ["x.jpg", "y.jpg"] and names[0].startswith("x_") and names[0].endswith(".jpg")


# --- resplit ----------------------------------------------------------------------------------------

def test_resplit_on_the_icaa17k_release_reports_12010_photos_and_749_leaked_rows(shared_dir, tmp_path):
    summary = run_resplit(shared_dir / "reference" / "icaa17k", tmp_path / "out")
    assert summary["rows"] == 17351 and summary["photos"] == 12010
    assert summary["input_leaked_test_rows"] == 749 and summary["output_leaked_test_rows"] == 0
    parts = {n: read_icaa17k_csv(tmp_path / "out" / f"{n}.csv") for n in ("train", "val", "test")}
    names = {n: set(p["ID"].str.rsplit("/", n=1).str[-1]) for n, p in parts.items()}
    assert not names["train"] & names["test"] and not names["train"] & names["val"] and not names["val"] & names["test"]
    assert sum(len(p) for p in parts.values()) == 17351
    assert len(parts["test"]) == pytest.approx(1735, rel=0.1)


def test_resplit_cli_prints_the_figures_of_the_input(tmp_path):
    (tmp_path / "in").mkdir()
    pd.DataFrame({"ID": ["monochromatic/red/a.jpg", "monochromatic/red/b.jpg"], "color": [6.0, 5.0],
                  "MOS": [5.0, 4.0], "probability": [0.7, 0.8]}).to_csv(tmp_path / "in" / "train.csv", index=False)
    pd.DataFrame({"ID": ["monochromatic/orange/a.jpg", "monochromatic/red/c.jpg"], "color": [6.0, 7.0],
                  "MOS": [5.0, 4.0], "probability": [0.7, 0.8]}).to_csv(tmp_path / "in" / "test.csv", index=False)
    result = CliRunner().invoke(app, ["resplit", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "photos: 3" in result.output and "input_leaked_test_rows: 1" in result.output
    assert "output_leaked_test_rows: 0" in result.output
    summary = run_resplit(tmp_path / "in", tmp_path / "out2", seed=1)
    assert summary["rows"] == 4


@pytest.mark.parametrize("rows, message", [
    ("ID,color,MOS\nmonochromatic/red/a.jpg,6,5\n", "missing column.*probability"),
    ("ID,color,MOS,probability\nmonochromatic/red/a.jpg,6,5,0.7\n../../x.jpg,6,5,0.7\n",
     r"escape the image root, e.g. '../../x.jpg' \(lines 3\)"),
    ("ID,color,MOS,probability\nmonochromatic/red/a.jpg,6,5,0.7\nmonochromatic/red/a.jpg,7,5,0.7\n",
     r"different labels, e.g. 'monochromatic/red/a.jpg' \(rows 2, 3\)"),
    ("ID,color,MOS,probability\nmonochromatic/red/a.jpg,six,5,0.7\n", "column color .* 'six' \\(lines 2\\)"),
    ("ID,color,MOS,probability\nmonochromatic/red/a.jpg,6,5,1.7\n", "probability must lie in 0..1"),
])
def test_resplit_bad_input_names_the_rows(tmp_path, rows, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1all.csv").write_text(rows)
    with pytest.raises(IcaaError, match=message):
        run_resplit(tmp_path / "in", tmp_path / "out")
    result = CliRunner().invoke(app, ["resplit", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert isinstance(result.exception, IcaaError) and result.exit_code == 1


def test_resplit_groups_by_sha256_when_images_are_present(tmp_path):
    root = tmp_path / "images"
    for relative, colour in (("monochromatic/red/a.jpg", (200, 0, 0)), ("monochromatic/red/b.jpg", (0, 0, 200))):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), colour).save(root / relative)
    # Same bytes as a.jpg under another name and category.
    (root / "monochromatic/orange").mkdir(parents=True)
    shutil.copy(root / "monochromatic/red/a.jpg", root / "monochromatic/orange/renamed.jpg")
    (tmp_path / "in").mkdir()
    pd.DataFrame({"ID": ["monochromatic/red/a.jpg", "monochromatic/red/b.jpg", "monochromatic/orange/renamed.jpg"],
                  "color": [6.0, 5.0, 6.0], "MOS": 5.0, "probability": 0.7}).to_csv(tmp_path / "in" / "1all.csv",
                                                                                    index=False)
    assert run_resplit(tmp_path / "in", tmp_path / "out")["photos"] == 3
    summary = run_resplit(tmp_path / "in", tmp_path / "out", images_root=root)
    assert summary["photos"] == 2 and summary["images_hashed"] == 3


# --- report -----------------------------------------------------------------------------------------

def test_report_is_one_self_contained_file_that_renders_in_headless_chromium(tmp_path):
    images = make_images(tmp_path, 12)
    rng = np.random.default_rng(0)
    coarse = pd.DataFrame({"image_id": images["image_id"], "category": [RED, BLUE][0:1] * 7 + [BLUE] * 6,
                           "coarse_score": rng.uniform(1, 10, 13), "f_obj": rng.uniform(0, 1, 13),
                           "f_subj": rng.uniform(0, 2, 13)})
    write_table(coarse, tmp_path / "coarse.parquet")
    write_table(images, tmp_path / "images.parquet")
    selection, _ = balance_pool(coarse, per_class=5)
    write_table(selection, tmp_path / "selection.parquet", schema=SELECTION)
    write_table(pd.DataFrame({"image_id": images["image_id"], "color": rng.uniform(3, 9, 13), "MOS": 5.0,
                              "probability": 0.8}), tmp_path / "mos.parquet")
    run_build(tmp_path / "selection.parquet", tmp_path / "mos.parquet", tmp_path / "images.parquet",
              tmp_path / "dataset", licences="any")
    report = tmp_path / "reports" / "report.html"
    summary = run_report(tmp_path / "coarse.parquet", report, selection=tmp_path / "selection.parquet",
                         dataset=tmp_path / "dataset", images=tmp_path / "images.parquet")
    text = report.read_text()
    assert summary["bytes"] == len(text.encode())
    assert "http://" not in text and "https://" not in text and "src=\"/" not in text
    for heading in ("Photos per class", "before (grey) and after (blue)", "Final colour-score distribution",
                    "Harmony vs popularity", "with palettes"):
        assert heading in text
    assert text.count("data:image/png;base64,") == 4 and text.count("data:image/jpeg;base64,") >= 4
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the render check needs it")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}"]
    dom = subprocess.run([chromium, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Page errors (script exceptions, console errors) are logged as CONSOLE lines; there must be none.
    assert ":CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr, dom.stderr[-2000:]
    assert "<h1>icaa dataset report</h1>" in dom.stdout and dom.stdout.count("<img") >= 8
    shot = subprocess.run([chromium, *flags, f"--screenshot={tmp_path / 'report.png'}", "--window-size=1200,2400",
                           report.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and (tmp_path / "report.png").stat().st_size > 10000
    with Image.open(tmp_path / "report.png") as screenshot:
        # Something was painted: the page is not one flat colour.
        assert len(screenshot.convert("RGB").resize((64, 128)).getcolors(64 * 128)) > 20


def test_build_refuses_a_category_that_is_not_an_icaa17k_folder(tmp_path):
    images = make_images(tmp_path, 2)
    selection = pd.DataFrame({"image_id": images["image_id"], "category": ["../../etc", RED, RED]})
    mos = pd.DataFrame({"image_id": images["image_id"], "color": 6.0, "MOS": 5.0, "probability": 0.8})
    with pytest.raises(IcaaError, match=r"outside the 30 ICAA17K classes, e.g. '../../etc'"):
        assemble_dataset(selection, mos, images)


def test_build_on_the_demo_photos_is_read_by_the_training_loader(tmp_path):
    from conftest import DEMO_DIR

    files = sorted(DEMO_DIR.glob("*.jpg"))
    if not files:
        pytest.skip(f"no demo photos in {DEMO_DIR}")
    images = pd.DataFrame({"image_id": [f.name for f in files], "path": [str(f) for f in files]})
    images["sha256"] = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    rng = np.random.default_rng(0)
    categories = np.array([RED, BLUE, RED_BLUE, "monochromatic/green", "complementary/orange_blue"])
    selection = pd.DataFrame({"image_id": images["image_id"], "category": categories[np.arange(len(files)) % 5],
                              "coarse_score": rng.uniform(1, 10, len(files))})
    mos = pd.DataFrame({"image_id": images["image_id"], "color": rng.uniform(3, 8, len(files)),
                        "MOS": rng.uniform(2, 8, len(files)), "probability": 0.75})
    attribution = pd.read_csv(DEMO_DIR / "ATTRIBUTION.csv").rename(columns={"file": "image_id"})
    # The default filter admits Flickr licences only (CC0-1.0 is Flickr's 9); the demo's params name the others.
    default = _build(selection, mos, images, tmp_path / "default", extra_tables=[attribution])
    assert default["rows"] == 1 and default["rejected"] == {"licence_not_allowed": len(files) - 1}
    demo_licences = yaml.safe_load((DEMO_DIR.parents[1] / "params.yaml").read_text())["build"]["licences"]
    summary = _build(selection, mos, images, tmp_path / "dataset", extra_tables=[attribution],
                            licences=demo_licences)
    assert summary["rows"] == len(files) and summary["rejected"] == {}
    out = tmp_path / "dataset"
    sheet = (out / "DATASHEET.md").read_text()
    assert f"| {RED}/{files[0].name} | CC-BY-4.0 | Aitzol Berasategi, 2018 |" in sheet
    assert "| GPL-2+ | " in sheet
    ids = {n: set(read_icaa17k_csv(out / f"{n}.csv")["ID"]) for n in ("train", "val", "test")}
    assert all(len(v) > 0 for v in ids.values()) and not (ids["train"] & ids["test"])
    data = pytest.importorskip("icaa.model.data", reason="the training loader (icaa.model.data) is not there yet")
    if not hasattr(data, "read_labels") or not hasattr(data, "find_split_file"):
        pytest.skip("icaa.model.data has no read_labels/find_split_file")
    for split in ("train", "test"):
        labels = data.read_labels(data.find_split_file(out, split))
        assert set(labels["image_id"]) == ids[split]
        root = data.image_root_of(out)
        assert all((root / i).is_file() for i in labels["image_id"])


def test_report_cli_with_only_the_coarse_table_notes_the_missing_sections(tmp_path):
    write_table(pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "category": [RED, BLUE], "coarse_score": [3.0, 8.0]}),
                tmp_path / "coarse.parquet")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "coarse.parquet"), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.html").read_text()
    assert "No dataset manifest given." in text and "has no f_obj/f_subj values" in text
    assert text.count("data:image/png;base64,") == 2
