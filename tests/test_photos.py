"""One photo identity: scan computes photo_key, every stage carries it, no photo lies in two splits."""

from __future__ import annotations

import shutil

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
