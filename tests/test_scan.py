"""icaa-data scan: ids, hashes, sizes, duplicates, and every bad file rejected with its reason."""

from __future__ import annotations

import csv
import shutil

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from icaa.pipeline.cli import app
from icaa.pipeline.scan import group_duplicates, list_images, run_scan
from image_fixtures import DEMO_DIR, EXPECTED_GOOD, EXPECTED_REJECTS, make_robustness_folder


@pytest.fixture(scope="module")
def robustness_scan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    good = make_robustness_folder(folder)
    out = tmp_path_factory.mktemp("out")
    summary = run_scan(folder, out / "images.parquet", progress=False)
    return folder, good, summary, pd.read_parquet(out / "images.parquet"), pd.read_parquet(out / "scan_rejects.parquet")


def test_every_bad_file_goes_to_rejects_with_its_reason(robustness_scan):
    _, _, summary, images, rejects = robustness_scan
    assert dict(zip(rejects["image_id"], rejects["reason"])) == EXPECTED_REJECTS
    assert set(rejects["stage"]) == {"scan"}
    assert summary["rejects_by_reason"] == {reason: 1 for reason in EXPECTED_REJECTS.values()}
    assert summary["files_in"] == len(images) + len(rejects)


def test_good_photos_and_unusual_formats_are_described(robustness_scan):
    _, good, _, images, _ = robustness_scan
    assert set(images["image_id"]) == set(good) | set(EXPECTED_GOOD)
    by_id = images.set_index("image_id")
    for name, (mode, width, height) in EXPECTED_GOOD.items():
        assert (by_id.loc[name, "mode"], by_id.loc[name, "width"], by_id.loc[name, "height"]) == (mode, width, height)
    assert by_id.loc["animated.gif", "frames"] == 2
    for name in good:
        with Image.open(DEMO_DIR / name) as image:
            assert (by_id.loc[name, "width"], by_id.loc[name, "height"]) == image.size
        assert by_id.loc[name, "format"] == "JPEG"
    assert images["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert images["phash"].str.fullmatch(r"[0-9a-f]{16}").all()


def test_exact_and_near_duplicates_are_grouped(tmp_path):
    photos = sorted(DEMO_DIR.glob("*.jpg"))[:3]
    for photo in photos:
        shutil.copy(photo, tmp_path / photo.name)
    shutil.copy(photos[0], tmp_path / "zz_same_bytes.jpg")
    with Image.open(photos[1]) as image:
        image.resize((image.width // 2, image.height // 2)).save(tmp_path / "zz_smaller_copy.jpg", quality=70)
    run_scan(tmp_path, tmp_path / "out/images.parquet", progress=False)
    images = pd.read_parquet(tmp_path / "out/images.parquet").set_index("image_id")
    assert images.loc["zz_same_bytes.jpg", "duplicate_of"] == photos[0].name
    assert images.loc["zz_same_bytes.jpg", "duplicate_kind"] == "exact"
    assert images.loc["zz_smaller_copy.jpg", "duplicate_of"] == photos[1].name
    assert images.loc["zz_smaller_copy.jpg", "duplicate_kind"] == "near"
    assert images["duplicate_of"].notna().sum() == 2


def test_duplicate_groups_are_transitive_and_point_at_the_first_id():
    table = pd.DataFrame({"image_id": ["c", "a", "b", "d"], "sha256": ["x", "y", "x", "z"],
                          "phash": ["fffffffffffffff0", "0000000000000003", "ffffffffffffffff", "0000000000000001"]})
    grouped = group_duplicates(table, near_duplicate_distance=1).set_index("image_id")
    # a~d by phash (1 bit), b==c by bytes; a is first of {a, d}, b first of {b, c}
    assert grouped["duplicate_of"].fillna("-").to_dict() == {"a": "-", "b": "-", "c": "b", "d": "a"}
    assert grouped.loc["c", "duplicate_kind"] == "exact" and grouped.loc["d", "duplicate_kind"] == "near"


def test_image_ids_are_relative_posix_paths_and_stable_when_the_folder_moves(tmp_path):
    (tmp_path / "one/sub").mkdir(parents=True)
    shutil.copy(sorted(DEMO_DIR.glob("*.jpg"))[0], tmp_path / "one/sub/photo.jpg")
    (tmp_path / "one/.hidden.jpg").write_bytes(b"x")
    run_scan(tmp_path / "one", tmp_path / "a.parquet", progress=False)
    shutil.move(tmp_path / "one", tmp_path / "two")
    run_scan(tmp_path / "two", tmp_path / "b.parquet", progress=False)
    first, second = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    assert first["image_id"].tolist() == second["image_id"].tolist() == ["sub/photo.jpg"]
    assert first["sha256"].tolist() == second["sha256"].tolist()


def test_manifest_input_refuses_paths_outside_the_root_and_reports_missing_files(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    photo = sorted(DEMO_DIR.glob("*.jpg"))[0]
    shutil.copy(photo, root / "a.jpg")
    (tmp_path / "secret.jpg").write_bytes(photo.read_bytes())
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        csv.writer(handle).writerows([["path"], ["a.jpg"], ["../secret.jpg"], ["gone.jpg"]])
    summary = run_scan(root, tmp_path / "out/images.parquet", manifest=manifest, progress=False)
    images = pd.read_parquet(tmp_path / "out/images.parquet")
    rejects = pd.read_parquet(tmp_path / "out/scan_rejects.parquet")
    assert images["image_id"].tolist() == ["a.jpg"]
    assert dict(zip(rejects["image_id"], rejects["reason"])) == {"../secret.jpg": "outside_root", "gone.jpg": "missing"}
    assert summary["files_in"] == 3


def test_symlink_leaving_the_root_is_rejected(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    photo = sorted(DEMO_DIR.glob("*.jpg"))[0]
    (root / "link.jpg").symlink_to(photo)
    listing = list_images(root)
    assert listing["reject"].tolist() == ["outside_root"]


def test_a_killed_scan_resumes_without_redoing_finished_chunks(tmp_path, monkeypatch):
    import icaa.pipeline.scan as scan_module

    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in sorted(DEMO_DIR.glob("*.jpg"))[:6]:
        shutil.copy(photo, folder / photo.name)
    calls: list[str] = []
    original = scan_module._describe_one

    def failing(path, **options):
        calls.append(path.name)
        if len(calls) == 5:
            raise KeyboardInterrupt  # a kill in the third chunk
        return original(path, **options)

    monkeypatch.setattr(scan_module, "_describe_one", failing)
    with pytest.raises(KeyboardInterrupt):
        run_scan(folder, tmp_path / "out/images.parquet", chunk_size=2, progress=False)
    assert not (tmp_path / "out/images.parquet").exists()
    calls.clear()
    monkeypatch.setattr(scan_module, "_describe_one", original)
    counted: list[str] = []
    monkeypatch.setattr(scan_module, "_describe_one", lambda path, **o: counted.append(path.name) or original(path, **o))
    run_scan(folder, tmp_path / "out/images.parquet", chunk_size=2, progress=False)
    assert len(counted) == 2  # only the third chunk
    assert len(pd.read_parquet(tmp_path / "out/images.parquet")) == 6


def test_cli_scans_and_prints_a_summary(tmp_path):
    folder = tmp_path / "mixed"
    make_robustness_folder(folder, good_photos=2)
    result = CliRunner().invoke(app, ["scan", str(folder), "-o", str(tmp_path / "images.parquet"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "  files_in: 12\n  images_out: 7\n" in result.output and "truncated 1" in result.output
    assert "Example: icaa-data scan" in CliRunner().invoke(app, ["scan", "--help"]).output


def test_the_demo_set_is_what_the_pipeline_promises():
    photos = sorted(p.name for p in DEMO_DIR.glob("*.jpg"))
    assert 40 <= len(photos) <= 80
    with open(DEMO_DIR / "ATTRIBUTION.csv", newline="") as handle:
        attribution = list(csv.DictReader(handle))
    with open(DEMO_DIR / "labels.csv", newline="") as handle:
        labels = list(csv.DictReader(handle))
    assert sorted(row["file"] for row in attribution) == photos == sorted(row["file"] for row in labels)
    assert all(row["licence"] and row["source_package"] for row in attribution)
    families = {"red", "orange", "yellow", "green", "blue", "violet", "achromatic"}
    for row in labels:
        assert row["dominant"] in families and row["auxiliary"] in families | {""} and row["sure"] in {"yes", "no"}
        assert row["dominant"] != row["auxiliary"]
    for name in photos:
        with Image.open(DEMO_DIR / name) as image:
            assert max(image.size) <= 768
    assert sum((DEMO_DIR / name).stat().st_size for name in photos) < 6_000_000  # small enough to commit


def test_extensions_choose_which_files_are_scanned(tmp_path):
    folder = tmp_path / "mixed"
    make_robustness_folder(folder, good_photos=2)
    result = CliRunner().invoke(app, ["scan", str(folder), "-o", str(tmp_path / "images.parquet"), "--no-progress",
                                      "--extensions", ".png,GIF"])
    assert result.exit_code == 0, result.output
    scanned = pd.concat([pd.read_parquet(tmp_path / "images.parquet")["image_id"],
                         pd.read_parquet(tmp_path / "scan_rejects.parquet")["image_id"]])
    assert scanned.tolist() and all(name.lower().endswith((".png", ".gif")) for name in scanned)


def test_exif_camera_make_and_model_are_read(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = sorted(DEMO_DIR.glob("*.jpg"))[0]
    exif = Image.Exif()
    exif[271], exif[272] = "PENTAX", "PENTAX K-7"
    with Image.open(photo) as image:
        image.save(folder / "with_exif.jpg", quality=90, exif=exif.tobytes())
        image.save(folder / "without_exif.jpg", quality=90)
    run_scan(folder, tmp_path / "images.parquet", progress=False)
    images = pd.read_parquet(tmp_path / "images.parquet").set_index("image_id")
    assert (images.loc["with_exif.jpg", "camera_make"], images.loc["with_exif.jpg", "camera_model"]) == ("PENTAX", "PENTAX K-7")
    assert images.loc["without_exif.jpg", ["camera_make", "camera_model"]].isna().all()
