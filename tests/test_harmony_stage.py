"""icaa-data harmony-score on real and awkward files: agreement with people, invariances, robustness."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from icaa.pipeline.categories import CLASS_SCORE_COLUMNS
from icaa.pipeline.cli import app
from icaa.pipeline.colour import analyse_colours
from icaa.pipeline.decode import decode_for_colour
from icaa.pipeline.harmony import run_harmony_score
from icaa.pipeline.scan import run_scan
from image_fixtures import DEMO_DIR, EXPECTED_GOOD, EXPECTED_REJECTS, make_robustness_folder

GREYS = {"monochromatic/black", "monochromatic/gray", "monochromatic/white"}


@pytest.fixture(scope="module")
def demo_colour(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run_scan(DEMO_DIR, out / "images.parquet", progress=False)
    run_harmony_score(out / "images.parquet", out / "colour.parquet", images_root=DEMO_DIR, progress=False)
    return out, pd.read_parquet(out / "colour.parquet").set_index("image_id")


def _agreement(colour: pd.DataFrame, dominant: dict[str, str], auxiliary: dict[str, str]) -> tuple[float, float]:
    """Shares of the referenced photos whose computed dominant / auxiliary family equals the reference
    (auxiliary '' = none)."""
    computed_auxiliary = colour["auxiliary"].fillna("")
    return (float(np.mean([colour.loc[file, "dominant"] == family for file, family in dominant.items()])),
            float(np.mean([computed_auxiliary[file] == family for file, family in auxiliary.items()])))


def _own_agreement(colour: pd.DataFrame) -> tuple[float, float]:
    """Agreement with the first rater on the photos they are sure of (at least 40 of them)."""
    own = _own_labels()
    assert len(own) >= 40
    return _agreement(colour, {file: labels[0] for file, labels in own.items()},
                      {file: labels[1] for file, labels in own.items()})


def _own_labels() -> dict[str, tuple[str, str]]:
    with open(DEMO_DIR / "labels.csv", newline="") as handle:
        return {row["file"]: (row["dominant"], row["auxiliary"]) for row in csv.DictReader(handle) if row["sure"] == "yes"}


def _consensus_labels() -> tuple[dict[str, str], dict[str, str]]:
    """Three raters (labels.csv + the two blind raters of labels_independent.csv), a rule fixed before scoring:
    a photo counts when all three name the same dominant family and at least two are sure; its auxiliary
    reference is the answer at least two raters give (photos without one are left out of that metric)."""
    raters: dict[str, list[dict]] = {}
    for path in (DEMO_DIR / "labels.csv", DEMO_DIR / "labels_independent.csv"):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                raters.setdefault(row["file"], []).append(row)
    dominant, auxiliary = {}, {}
    for file, rows in raters.items():
        assert len(rows) == 3, file
        if len({row["dominant"] for row in rows}) == 1 and sum(row["sure"] == "yes" for row in rows) >= 2:
            dominant[file] = rows[0]["dominant"]
            answers = [row["auxiliary"] for row in rows]
            majority = max(set(answers), key=answers.count)
            if answers.count(majority) >= 2:
                auxiliary[file] = majority
    return dominant, auxiliary


def test_computed_dominant_colour_agrees_with_people_on_the_photos_they_are_sure_of(demo_colour):
    dominant, _ = _own_agreement(demo_colour[1])
    assert dominant >= 0.90, f"dominant family agrees on {dominant:.0%} of the sure photos"


def test_computed_auxiliary_colour_agrees_with_people_on_the_photos_they_are_sure_of(demo_colour):
    _, auxiliary = _own_agreement(demo_colour[1])
    assert auxiliary >= 0.80, f"auxiliary family agrees on {auxiliary:.0%} of the sure photos"


def test_agreement_with_people_does_not_regress(demo_colour):
    """Guards the measured agreement (80 photos: own sure labels 90.2 / 80.5 %, three-rater consensus
    91.9 / 75.7 %) against regressions."""
    _, colour = demo_colour
    consensus_dominant, consensus_auxiliary = _consensus_labels()
    assert len(consensus_dominant) >= 30 and len(consensus_auxiliary) >= 30
    dominant, auxiliary = _agreement(colour, consensus_dominant, consensus_auxiliary)
    assert dominant >= 0.91 and auxiliary >= 0.75, (dominant, auxiliary)


def test_every_demo_photo_gets_one_of_the_30_classes_and_valid_scores(demo_colour):
    _, colour = demo_colour
    assert len(colour) == len(list(DEMO_DIR.glob("*.jpg")))
    assert colour["category"].str.match(r"^(complementary|monochromatic)/[a-z_]+$").all()
    scores = colour[list(CLASS_SCORE_COLUMNS)].to_numpy()
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1 + 1e-9).all()
    assert colour["harmony_score"].between(0, 1).all()
    assert colour["colourfulness_m3"].between(0, 300).all()


def test_a_measure_with_nothing_to_measure_is_null_in_the_table_not_nan(tmp_path):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    cv2.imwrite(str(tmp_path / "grey.jpg"), np.full((60, 80, 3), 128, np.uint8))  # no hue: template "N", no pair
    pd.DataFrame({"image_id": ["grey.jpg"], "path": [str(tmp_path / "grey.jpg")]}).to_parquet(tmp_path / "i.parquet")
    run_harmony_score(tmp_path / "i.parquet", tmp_path / "c.parquet", progress=False)
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.column("harmony_template")[0].as_py() == "N"
    for name in ("harmony_template_rotation_deg", "harmony_ou_luo"):
        assert table.column(name).null_count == 1, name
    assert not any(pc.any(pc.is_nan(table.column(name))).as_py() for name in table.column_names
                   if pa.types.is_floating(table.schema.field(name).type))


def test_a_grayscale_copy_of_any_demo_photo_is_black_gray_or_white():
    for photo in sorted(DEMO_DIR.glob("*.jpg")):
        rgb = decode_for_colour(photo)
        grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        assert analyse_colours(grey).category in GREYS, photo.name


@pytest.mark.parametrize("photo, rotation_deg, expected", [
    ("scratch_brick_wall.jpg", 120, "green"), ("scratch_brick_wall.jpg", 230, "blue"),
    ("mate_green_leaf.jpg", 120, "blue"), ("mate_green_leaf.jpg", -60, "orange"),
    ("tuxpaint_jellyfish.jpg", 120, "red"), ("mate_orange_flower.jpg", 200, "blue"),
])
def test_rotating_the_hue_of_a_strongly_coloured_photo_moves_its_dominant_family(photo, rotation_deg, expected):
    rgb = decode_for_colour(DEMO_DIR / photo)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + rotation_deg, 360.0)
    rotated = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    assert analyse_colours(rotated).dominant == expected


def test_results_are_identical_across_runs_worker_counts_and_batch_order(demo_colour, tmp_path):
    out, _ = demo_colour
    first = pd.read_parquet(out / "colour.parquet")
    images = pd.read_parquet(out / "images.parquet")
    images.sample(frac=1.0, random_state=3).to_parquet(tmp_path / "shuffled.parquet")
    run_harmony_score(tmp_path / "shuffled.parquet", tmp_path / "two.parquet", images_root=DEMO_DIR, workers=2,
                  chunk_size=7, progress=False)
    pd.testing.assert_frame_equal(first, pd.read_parquet(tmp_path / "two.parquet"))


def test_awkward_files_are_scored_or_rejected_with_their_reason(tmp_path):
    folder = tmp_path / "mixed"
    good = make_robustness_folder(folder)
    images = pd.DataFrame({"image_id": sorted(p.name for p in folder.iterdir())})
    images["path"] = [str(folder / name) for name in images["image_id"]]
    images.to_parquet(tmp_path / "images.parquet")
    summary = run_harmony_score(tmp_path / "images.parquet", tmp_path / "colour.parquet", progress=False)
    colour = pd.read_parquet(tmp_path / "colour.parquet").set_index("image_id")
    rejects = pd.read_parquet(tmp_path / "harmony_rejects.parquet")
    expected_rejects = {name: reason for name, reason in EXPECTED_REJECTS.items() if reason != "too_small"}
    assert dict(zip(rejects["image_id"], rejects["reason"])) == expected_rejects
    assert set(colour.index) == set(good) | set(EXPECTED_GOOD) | {"tiny.png"}
    for name in ("cmyk.jpg", "animated.gif"):  # red|blue halves in every format
        assert colour.loc[name, "category"] == "complementary/red_blue", name
    # The palette's transparent colour is composited on white: one half becomes a white backdrop.
    assert colour.loc["palette_alpha.png", "category"] in {"monochromatic/red", "monochromatic/blue"}
    assert colour.loc["palette_alpha.png", "background_fraction"] > 0.4
    assert colour.loc["gray.jpg", "category"] in GREYS and colour.loc["deep16.png", "category"] in GREYS
    assert summary["rejects_by_reason"] == {"decompression_bomb": 1, "empty_file": 1, "not_an_image": 1, "truncated": 1}


def test_a_csv_listing_without_photo_keys_is_scored_once_per_id_with_keys_as_scan_gives_them(tmp_path):
    # ICAA17K files one photo under several classes: the same file name in two folders is one photo.
    for folder, bgr in (("complementary/red_blue", (255, 0, 0)), ("monochromatic/blue", (255, 0, 0)),
                        ("monochromatic/red", (0, 0, 255))):
        (tmp_path / folder).mkdir(parents=True)
        name = "b7.jpg" if folder.startswith("monochromatic/red") else "A1.jpg"
        cv2.imwrite(str(tmp_path / folder / name), np.full((60, 80, 3), bgr, np.uint8))
    ids = ["monochromatic/red/b7.jpg", "monochromatic/blue/A1.jpg", "complementary/red_blue/A1.jpg",
           "monochromatic/red/b7.jpg"]  # listed twice: scored once
    pd.DataFrame({"image_id": ids, "path": [str(tmp_path / i) for i in ids]}).to_csv(tmp_path / "images.csv",
                                                                                   index=False)
    summary = run_harmony_score(tmp_path / "images.csv", tmp_path / "colour.parquet", progress=False)
    colour = pd.read_parquet(tmp_path / "colour.parquet")
    assert colour["image_id"].tolist() == sorted(set(ids))
    assert colour["photo_key"].tolist() == ["complementary/red_blue/A1.jpg"] * 2 + ["monochromatic/red/b7.jpg"]
    assert colour.set_index("image_id").loc["monochromatic/red/b7.jpg", "dominant"] == "red"
    assert (summary["images_in"], summary["scored"], summary["rejects_by_reason"]) == (3, 3, {})
    # Empty photo_key cells are unknown keys, derived as scan would, not one shared key "".
    listing = pd.read_csv(tmp_path / "images.csv")
    listing["photo_key"] = ["monochromatic/red/b7.jpg", "", "", "monochromatic/red/b7.jpg"]
    listing.to_csv(tmp_path / "keyless.csv", index=False)
    run_harmony_score(tmp_path / "keyless.csv", tmp_path / "keyless.parquet", progress=False)
    assert pd.read_parquet(tmp_path / "keyless.parquet")["photo_key"].tolist() == colour["photo_key"].tolist()


def test_transparent_pixels_are_composited_on_white(tmp_path):
    from PIL import Image

    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :20, 3] = 255  # left half opaque red, right half fully transparent
    Image.fromarray(rgba).save(tmp_path / "half.png")
    rgb = decode_for_colour(tmp_path / "half.png")
    assert np.allclose(rgb[:, -5:], 1.0) and np.allclose(rgb[:, :5], [1.0, 0.0, 0.0])


def test_paths_outside_the_image_root_are_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(sorted(DEMO_DIR.glob("*.jpg"))[0], root / "a.jpg")
    pd.DataFrame({"image_id": ["a.jpg", "../../etc/passwd"], "path": ["", ""]}).to_parquet(tmp_path / "i.parquet")
    run_harmony_score(tmp_path / "i.parquet", tmp_path / "c.parquet", images_root=root, progress=False)
    rejects = pd.read_parquet(tmp_path / "harmony_rejects.parquet")
    assert rejects["reason"].tolist() == ["outside_root"]
    assert pd.read_parquet(tmp_path / "c.parquet")["image_id"].tolist() == ["a.jpg"]


def test_a_killed_run_redoes_no_finished_chunk(tmp_path, monkeypatch):
    import icaa.pipeline.harmony as stage

    photos = sorted(DEMO_DIR.glob("*.jpg"))[:6]
    pd.DataFrame({"image_id": [p.name for p in photos], "path": [str(p) for p in photos]}).to_parquet(
        tmp_path / "images.parquet")
    original, calls = stage.score_image, []

    def dying(rgb, **options):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(rgb, **options)

    monkeypatch.setattr(stage, "score_image", dying)
    with pytest.raises(KeyboardInterrupt):
        run_harmony_score(tmp_path / "images.parquet", tmp_path / "out/colour.parquet", chunk_size=2, progress=False)
    assert not (tmp_path / "out/colour.parquet").exists()
    counted = []
    monkeypatch.setattr(stage, "score_image", lambda rgb, **o: counted.append(1) or original(rgb, **o))
    run_harmony_score(tmp_path / "images.parquet", tmp_path / "out/colour.parquet", chunk_size=2, progress=False)
    assert len(counted) == 2
    assert len(pd.read_parquet(tmp_path / "out/colour.parquet")) == 6


def test_cli_scores_and_rejects_unknown_thresholds(demo_colour, tmp_path):
    out, _ = demo_colour
    result = CliRunner().invoke(app, ["harmony-score", str(out / "images.parquet"), "-o", str(tmp_path / "c.parquet"),
                                      "--images-root", str(DEMO_DIR), "--no-progress", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "  images_in: 80\n  scored: 80\n" in result.output
    assert "Example: icaa-data harmony-score" in CliRunner().invoke(app, ["harmony-score", "--help"]).output
    from icaa.common.errors import IcaaError
    with pytest.raises(IcaaError, match="unknown option 'not_a_threshold'"):
        run_harmony_score(out / "images.parquet", tmp_path / "d.parquet", not_a_threshold=1)
    with pytest.raises(IcaaError, match="achromatic_chroma='ten'"):
        run_harmony_score(out / "images.parquet", tmp_path / "d.parquet", achromatic_chroma="ten")


def test_params_yaml_names_every_analysis_threshold_at_its_default():
    import yaml

    from icaa.pipeline.harmony import ANALYSIS_DEFAULTS, load_analysis_options
    from icaa.pipeline.colour.naming import FAMILY_UPPER_DEG

    options = load_analysis_options(DEMO_DIR.parents[1] / "params.yaml")
    assert set(options) == set(ANALYSIS_DEFAULTS)
    assert options["family_upper_deg"] == FAMILY_UPPER_DEG[options["family_hue"]]
    scalars = {name: value for name, value in options.items() if not isinstance(value, (dict, list))}
    assert scalars == {name: ANALYSIS_DEFAULTS[name] for name in scalars}
    assert options["achromatic_auxiliary_levels"] == list(ANALYSIS_DEFAULTS["achromatic_auxiliary_levels"])
    # the file's thresholds give the same classes as the defaults on real photos
    for photo in sorted(DEMO_DIR.glob("*.jpg"))[::6]:
        rgb = decode_for_colour(photo)
        assert analyse_colours(rgb, **options).category == analyse_colours(rgb).category, photo.name
    import inspect

    stage_default = inspect.signature(run_harmony_score).parameters["long_side_px"].default
    assert yaml.safe_load((DEMO_DIR.parents[1] / "params.yaml").read_text())["harmony-score"]["long_side_px"] \
        == stage_default == 96


def test_cli_reads_thresholds_from_a_params_file_and_flags_override_it(demo_colour, tmp_path):
    out, colour = demo_colour
    params = tmp_path / "params.yaml"
    params.write_text("harmony-score:\n  analysis:\n    min_chromatic_fraction: 1.01\n")
    arguments = ["harmony-score", str(out / "images.parquet"), "--images-root", str(DEMO_DIR), "--no-progress",
                 "--analysis-params", str(params)]
    result = CliRunner().invoke(app, arguments + ["-o", str(tmp_path / "grey.parquet")])
    assert result.exit_code == 0, result.output
    # a chromatic share above 1 can never be reached: every photo is black, gray or white
    assert set(pd.read_parquet(tmp_path / "grey.parquet")["category"]) <= GREYS
    result = CliRunner().invoke(app, arguments + ["-o", str(tmp_path / "flag.parquet"), "--min-chromatic-fraction", "0.2"])
    assert result.exit_code == 0, result.output
    flagged = pd.read_parquet(tmp_path / "flag.parquet").set_index("image_id")["category"]
    assert flagged.sort_index().tolist() == colour["category"].sort_index().tolist()
    params.write_text("harmony-score:\n  analysis:\n    tone_thresholds: {not_a_tone: 3}\n")
    result = CliRunner().invoke(app, arguments + ["-o", str(tmp_path / "bad.parquet")])
    assert result.exit_code != 0 and "tone_thresholds" in str(result.exception)
    assert not (tmp_path / "bad.parquet").exists()
    params.write_text("other: 1\n")
    result = CliRunner().invoke(app, arguments + ["-o", str(tmp_path / "bad.parquet")])
    assert result.exit_code != 0 and "no mapping at 'harmony-score.analysis'" in str(result.exception)


def test_the_demo_coarse_score_spreads_over_1_to_10_and_fuse_reports_its_quartiles(demo_colour):
    from icaa.pipeline.fuse import fuse_scores

    _, colour = demo_colour
    harmony = colour["harmony_score"]
    assert harmony.between(0, 1).all() and harmony.nunique() >= 0.9 * len(harmony)
    assert harmony.quantile(0.75) - harmony.quantile(0.25) >= 0.15
    coarse, _, summary = fuse_scores(colour.reset_index(), pd.read_csv(DEMO_DIR / "popularity.csv"))
    spread = summary["coarse_score"]
    assert spread["min"] < 2 and spread["max"] > 8.5 and spread["q3"] - spread["q1"] > 2, spread
    assert spread["median"] == round(coarse["coarse_score"].median(), 2)


@pytest.fixture(scope="module")
def labelled_agreement():
    """Agreement with the three raters on data/labelled/, per part of its fixed split."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        import colour_agreement
    finally:
        sys.path.remove(str(root / "benchmarks"))
    split = pd.read_csv(root / "data" / "labelled" / "split.csv")
    result = {}
    for part in ("tuning", "held_out"):
        photos = sorted(split.loc[split["part"] == part, "file"])
        result[part] = colour_agreement.agreement(colour_agreement.computed_colours(photos), photos)
    return result


def test_the_labelled_split_keeps_at_least_60_sure_photos_out_of_any_tuning(labelled_agreement):
    assert labelled_agreement["held_out"]["pair"][1] == 70 and labelled_agreement["held_out"]["dominant"][1] == 80


def test_colour_agreement_on_held_out_photos_does_not_regress(labelled_agreement):
    """As measured with the thresholds fixed and the photos decoded at 96 px: dominant 51 of 80, pair 33 of 70."""
    dominant, pair = (labelled_agreement["held_out"][key][:2] for key in ("dominant", "pair"))
    assert dominant[0] >= 51 and pair[0] >= 33, (dominant, pair)


@pytest.mark.xfail(strict=True, reason="out of sample the colour naming reaches 64 % / 47 %, not 90 % / 88 %")
def test_colour_classes_agree_with_people_out_of_sample(labelled_agreement):
    dominant, pair = (labelled_agreement["held_out"][key][:2] for key in ("dominant", "pair"))
    assert dominant[0] / dominant[1] >= 0.90 and pair[0] / pair[1] >= 0.88


def test_the_fast_reduced_decode_gives_the_results_of_the_slow_full_decode_on_the_demo():
    """harmony-score decodes JPEGs with OpenCV at 1/2-1/8 size to 96 px; Pillow's full decode area-resized to
    256 px is the slow reference. Same class, dominant and auxiliary on every demo photo; scores within
    0.05 (shares, fractions, harmony_score, Ou-Luo), 0.1 (class scores and their confidence), 2 deg (template
    distances), 2 (colourfulness M3). Measured worst cases: shares and fractions 0.044, harmony_score 0.014,
    Ou-Luo 0.015, class scores 0.017, confidence 0.018, template distances 0.8 deg, colourfulness 1.40."""
    from PIL import Image

    from icaa.pipeline.colour.conversion import area_resize_long_side
    from icaa.pipeline.decode import to_rgb_float32
    from icaa.pipeline.harmony import score_image

    tolerances = {"colourfulness_m3": 2.0, "category_confidence": 0.1}
    for path in sorted(DEMO_DIR.glob("*.jpg")):
        with Image.open(path) as image:
            slow = score_image(area_resize_long_side(to_rgb_float32(image), 256))
        fast = score_image(decode_for_colour(path, long_side_px=96))
        for key in ("category", "dominant", "auxiliary", "harmony_template"):
            assert fast[key] == slow[key] or key == "harmony_template", (path.name, key, fast[key], slow[key])
        for key, value in slow.items():
            if isinstance(value, float) and not np.isnan(value) and not key.startswith("harmony_template_rotation"):
                tolerance = 2.0 if key.endswith("_deg") else 0.1 if key.startswith("class_score_") else \
                    tolerances.get(key, 0.05)
                assert abs(fast[key] - value) <= tolerance, (path.name, key, fast[key], value)


def test_decoding_below_the_analysis_size_is_refused_in_one_sentence(demo_colour, tmp_path):
    out, _ = demo_colour
    result = CliRunner().invoke(app, ["harmony-score", str(out / "images.parquet"), "--images-root", str(DEMO_DIR),
                                      "-o", str(tmp_path / "colour.parquet"), "--long-side-px", "64", "--no-progress"])
    from icaa.common.errors import IcaaError

    assert isinstance(result.exception, IcaaError)  # main() prints it as one sentence and exits 1
    assert "long_side_px 64 is below the analysis size" in str(result.exception)
    assert not (tmp_path / "colour.parquet").exists()


def test_the_cli_starts_workers_with_the_modules_the_stage_preloads():
    from icaa.pipeline.cli.harmony import WORKER_MODULES
    from icaa.pipeline.harmony import WORKER_PRELOAD, score_chunk

    assert WORKER_MODULES == (score_chunk.__module__, *WORKER_PRELOAD)


COLOUR_TABLES_RUN = """
import sys
{setup}
from icaa.pipeline import colour_tables

colour_tables.build_in_background()
helper = colour_tables._opencv_thread
try:
    colour_tables.build()
except ImportError as error:
    print("ImportError:", error)
print("helper", helper is not None, "alive", helper.is_alive(), "built", colour_tables._built)
"""


@pytest.mark.parametrize("setup, says", [
    ("", "helper True alive False built True"),
    # A helper that fails says nothing; build() fails again where the caller sees it.
    ("sys.modules['cv2'] = None", "helper True alive False built False"),
])
def test_the_colour_tables_build_on_a_helper_thread_that_is_joined_before_any_image(setup, says):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", COLOUR_TABLES_RUN.format(setup=setup)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == says
    assert ("ImportError:" in done.stdout) == bool(setup)
    assert "Exception in thread" not in done.stderr


def test_an_error_before_the_first_image_ends_the_command_after_the_tables_helper(tmp_path):
    """An early error ends the interpreter while the helper thread may still be inside OpenCV (``main()`` run
    with Python's teardown); the interpreter waits for the helper, where exiting around it could abort."""
    import subprocess
    import sys

    images = tmp_path / "images.parquet"
    pd.DataFrame({"image_id": ["a.jpg"], "path": [str(tmp_path / "a.jpg")]}).to_parquet(images)
    code = ("import atexit, sys\n"
            "from icaa.pipeline import colour_tables\n"
            "atexit.register(lambda: print('helper alive at exit:', colour_tables._opencv_thread.is_alive()))\n"
            "from icaa.pipeline.cli import main\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code, "harmony-score", str(images), "-o", str(images)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "is the input IMAGES" in done.stderr and "Traceback" not in done.stderr
    assert "helper alive at exit: False" in done.stdout


def test_the_command_with_two_workers_writes_the_table_of_one(demo_colour, tmp_path):
    """Two workers (a child forked after the command's imports) give the one-worker table."""
    import shutil
    import subprocess
    import sys

    out, colour = demo_colour
    command = shutil.which("icaa-data", path=str(Path(sys.executable).parent))
    result = subprocess.run([command, "harmony-score", str(out / "images.parquet"), "-o", str(tmp_path / "c.parquet"),
                             "--images-root", str(DEMO_DIR), "--no-progress", "--workers", "2", "--chunk-size", "16"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "  images_in: 80\n  scored: 80\n" in result.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "c.parquet").set_index("image_id"), colour)
