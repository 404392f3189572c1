"""One photo identity: scan computes photo_key, every stage carries it, no photo lies in two splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from conftest import DEMO_DIR
from icaa.model.data import carve_validation
from icaa.pipeline.balance import balance_pool
from icaa.pipeline.build import assemble_dataset, dataset_summary, write_dataset
from icaa.pipeline.photos import assign_photo_keys, group_rows, name_key, photo_keys
from icaa.pipeline.resplit import run_resplit
from icaa.pipeline.scan import run_scan

RED, BLUE, GREEN = "monochromatic/red", "monochromatic/blue", "monochromatic/green"


def test_rows_sharing_a_name_a_hash_or_a_pair_are_one_photo_transitively():
    ids = pd.Series(["red/a.jpg", "blue/A.JPG", "red/b.jpg", "red/c.jpg", "red/d.jpg"])
    sha = pd.Series(["1", "2", "3", "2", None])
    groups = group_rows(5, [name_key(ids), sha], (np.array([2]), np.array([4])))
    assert groups.tolist() == [0, 0, 1, 0, 1]
    assert assign_photo_keys(ids, keys=[sha], pairs=(np.array([2]), np.array([4]))).tolist() == [
        "blue/A.JPG", "blue/A.JPG", "red/b.jpg", "blue/A.JPG", "red/b.jpg"]


def test_a_table_without_photo_key_gets_it_from_the_file_names_as_scan_would():
    csv = pd.DataFrame({"ID": ["complementary/red_blue/x1.jpg", "monochromatic/red/X1.jpg", "monochromatic/red/y.jpg"]})
    assert photo_keys(csv, id_column="ID").tolist() == ["complementary/red_blue/x1.jpg"] * 2 + [
        "monochromatic/red/y.jpg"]
    scanned = pd.DataFrame({"image_id": ["a.jpg"], "photo_key": ["z.jpg"]})
    assert photo_keys(pd.DataFrame({"image_id": ["a.jpg"]}), scanned).tolist() == ["z.jpg"]


def _classified_folder(tmp_path, n_photos=24):
    """Demo photos filed ICAA17K-style: each photo under one to three class folders with the same file name,
    and one photo also saved under another name (same bytes)."""
    root = tmp_path / "photos"
    photos = sorted(DEMO_DIR.glob("*.jpg"))[:n_photos]
    classes = [RED, BLUE, GREEN]
    for index, photo in enumerate(photos):
        for category in classes[: 1 + index % 3]:
            (root / category).mkdir(parents=True, exist_ok=True)
            shutil.copy(photo, root / category / photo.name)
    shutil.copy(photos[0], root / RED / "renamed_copy.jpg")
    return root, photos


def test_scan_gives_every_copy_of_a_photo_one_photo_key(tmp_path):
    root, photos = _classified_folder(tmp_path, 6)
    (root / BLUE / "odd").mkdir()
    Image.new("RGB", (80, 80), (10, 200, 30)).save(root / BLUE / "odd" / photos[1].name.upper())
    run_scan(root, tmp_path / "images.parquet", progress=False)
    images = pd.read_parquet(tmp_path / "images.parquet").set_index("image_id")
    assert images.loc[f"{RED}/renamed_copy.jpg", "photo_key"] == f"{RED}/{photos[0].name}"  # same bytes
    assert images.loc[f"{RED}/{photos[1].name}", "photo_key"] == f"{BLUE}/{photos[1].name}"  # same name
    odd = f"{BLUE}/odd/{photos[1].name.upper()}"
    assert images.loc[odd, "photo_key"] == images.loc[f"{RED}/{photos[1].name}", "photo_key"]  # name, any case
    assert pd.isna(images.loc[odd, "duplicate_of"])  # other pixels: not a duplicate, yet the same photo by name
    assert images["photo_key"].nunique() == 6


def test_balance_and_build_of_the_demo_put_no_photo_in_two_splits(tmp_path):
    root, photos = _classified_folder(tmp_path)
    run_scan(root, tmp_path / "images.parquet", progress=False)
    images = pd.read_parquet(tmp_path / "images.parquet")
    rng = np.random.default_rng(0)
    pool = images[["image_id", "photo_key"]].assign(category=images["image_id"].str.rsplit("/", n=1).str[0],
                                                    coarse_score=rng.uniform(1, 10, len(images)))
    selection, metrics = balance_pool(pool, per_class=20)
    assert selection["photo_key"].is_unique and metrics["skipped"]["duplicate"] > 0
    mos = pd.DataFrame({"image_id": images["image_id"], "color": rng.uniform(2, 9, len(images)), "MOS": 5.0,
                        "probability": 0.8})
    # Every copy of every photo, each in its own class: the split must keep the copies together.
    every_copy = pool[["image_id", "category", "coarse_score"]]
    dataset = assemble_dataset(every_copy, mos, images, licences="any", seed=3)
    write_dataset(dataset, tmp_path / "dataset")
    summary = dataset_summary(dataset)
    manifest = pd.read_parquet(tmp_path / "dataset" / "manifest.parquet")
    assert summary["photos"] == len(photos) and len(manifest) == len(images)
    assert manifest.groupby("photo_key")["split"].nunique().max() == 1
    assert manifest.groupby(name_key(manifest["image_id"]))["split"].nunique().max() == 1
    assert manifest.groupby("sha256")["split"].nunique().max() == 1
    assert set(manifest["split"]) == {"train", "val", "test"}
    assert (manifest["image_id"].isin(images["image_id"])).all()  # image_id unchanged from scan to the manifest
    assert (manifest["ID"] == manifest["category"] + "/" + manifest["image_id"].str.rsplit("/", n=1).str[-1]).all()


def test_resplit_and_the_model_loader_group_by_the_same_rule(tmp_path):
    (tmp_path / "in").mkdir()
    ids = ["monochromatic/red/Ab1.jpg", "monochromatic/blue/ab1.jpg", "monochromatic/red/c.jpg",
           "monochromatic/blue/d.jpg"]
    pd.DataFrame({"ID": ids, "color": [6.0, 5.0, 4.0, 7.0], "MOS": 5.0, "probability": 0.7}).to_csv(
        tmp_path / "in" / "1all.csv", index=False)
    assert run_resplit(tmp_path / "in", tmp_path / "out")["photos"] == 3
    labels = pd.DataFrame({"image_id": ids * 5, "colour_score": 5.0, "overall_score": 5.0})
    for seed in range(5):
        train, val = carve_validation(labels, 0.3, seed=seed)
        assert not set(name_key(train["image_id"])) & set(name_key(val["image_id"]))


def test_a_row_without_a_key_joins_the_scan_key_of_its_photo_not_a_second_one():
    images = pd.DataFrame({"image_id": ["red/x.jpg"], "photo_key": ["blue/x.jpg"]})
    pool = pd.DataFrame({"image_id": ["red/x.jpg", "green/x.jpg", "red/y.jpg"]})
    assert photo_keys(pool, images).tolist() == ["blue/x.jpg", "blue/x.jpg", "red/y.jpg"]


def test_fuse_on_a_colour_table_without_photo_key_leaves_balance_to_scan_s_duplicate_groups(tmp_path):
    from icaa.pipeline.fuse import fuse_scores

    # A colour.parquet from before photo_key: a.jpg and b.jpg are exact duplicates by scan.
    colour = pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "category": [RED] * 3,
                           "harmony_score": [0.2, 0.5, 0.8]})
    images = pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "duplicate_of": [None, "a.jpg", None]})
    coarse, _, _ = fuse_scores(colour, None, on_missing_popularity="harmony")
    assert coarse["photo_key"].isna().all()  # not made up from the file names
    selection, metrics = balance_pool(coarse, per_class=3, images=images)
    assert sorted(selection["image_id"]) == ["a.jpg", "c.jpg"] and metrics["skipped"]["duplicate"] == 1


def test_build_keeps_scan_s_near_duplicates_in_one_split_whatever_key_the_selection_carries(tmp_path):
    ids = [f"{RED}/p{i:02d}.jpg" for i in range(40)] + [f"{BLUE}/q{i:02d}.jpg" for i in range(40)]
    images = pd.DataFrame({"image_id": ids, "path": [str(tmp_path / "img" / i) for i in ids],
                           "duplicate_of": [None] * 40 + ids[:40]})  # each q is a near duplicate of its p
    for path in images["path"]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(path)
    selection = pd.DataFrame({"image_id": ids, "category": [RED] * 40 + [BLUE] * 40,
                              "photo_key": ids})  # keyed by name alone: it does not know the duplicates
    mos = pd.DataFrame({"image_id": ids, "color": np.linspace(2, 9, 80), "MOS": 5.0, "probability": 0.8})
    rows = assemble_dataset(selection, mos, images, licences="any", seed=1).rows.set_index("image_id")
    assert all(rows.loc[ids[i], "split"] == rows.loc[ids[40 + i], "split"] for i in range(40))


def test_a_seed_carves_the_validation_photos_it_carved_before_photo_key():
    # The order before the seeded permutation is the lower-cased file name's, whatever the class folders.
    names = [f"{chr(ord('z') - i)}{i}.jpg" for i in range(30)]
    ids = [f"{[RED, BLUE, GREEN][i % 3]}/{name}" for i, name in enumerate(names)]
    labels = pd.DataFrame({"image_id": ids, "colour_score": 5.0, "overall_score": 5.0})
    for seed in range(3):
        _, val = carve_validation(labels, 0.2, seed=seed)
        by_name = np.array(sorted(name.lower() for name in names))
        expected = set(np.random.default_rng(seed).permutation(by_name)[:6])
        assert set(name_key(val["image_id"])) == expected
