"""icaa-train: metrics with exact values, label layouts, image checks, validation carving, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from icaa.model.data import (ScoreDataset, carve_validation, check_images, detect_layout, find_split_file,
                             read_labels)
from icaa.model.metrics import binary_accuracy, majority_accuracy, mse, plcc, score_metrics, srcc
from icaa.common.errors import IcaaError

from train_fixtures import MICRO_CONFIG_64PX, make_colour_dataset


# ------------------------------------------------------------------ metrics

def test_metrics_give_exact_values_on_a_hand_worked_example():
    predicted = [2.0, 6.0, 7.0, 9.0]
    target = [3.0, 4.0, 8.0, 9.5]
    assert srcc(predicted, target) == pytest.approx(1.0)
    # Pearson by hand: deviations (-4, 0, 1, 3) and (-3.125, -2.125, 1.875, 3.375)
    dp = np.array([-4.0, 0, 1, 3]); dt = np.array([-3.125, -2.125, 1.875, 3.375])
    assert plcc(predicted, target) == pytest.approx(dp @ dt / np.sqrt((dp @ dp) * (dt @ dt)), abs=1e-12)
    assert binary_accuracy(predicted, target) == 0.75      # 6 vs 4 disagree at threshold 5
    assert majority_accuracy(target) == 0.5
    assert mse(predicted, target) == pytest.approx((1 + 4 + 1 + 0.25) / 4)


def test_srcc_is_minus_one_for_reversed_ranks_and_nan_for_constant_predictions():
    assert srcc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(srcc([5, 5, 5], [1, 2, 3]))
    assert math.isnan(plcc([5, 5, 5], [1, 2, 3]))


def test_majority_accuracy_of_icaa17k_test_rows_is_0_926(shared_dir):
    test = read_labels(shared_dir / "reference/icaa17k/1test.csv")
    assert majority_accuracy(test["colour_score"]) == pytest.approx(0.926, abs=0.001)


def test_score_metrics_rejects_length_mismatch():
    with pytest.raises(ValueError, match="differ in length"):
        score_metrics([1, 2], [1, 2, 3])


# ------------------------------------------------------------------ labels

def test_real_icaa17k_release_csvs_read_with_all_rows(shared_dir):
    folder = shared_dir / "reference/icaa17k"
    assert find_split_file(folder, "train").name == "1train.csv"
    assert find_split_file(folder, "val") is None
    train = read_labels(folder / "1train.csv")
    assert len(train) == 15734
    assert list(train.columns) == ["image_id", "colour_score", "overall_score"]
    assert train["image_id"][0] == "complementary/orange_blue/140585134@N0737498238334.jpg"
    assert train["colour_score"][0] == pytest.approx(6.415993)
    assert train["overall_score"][0] == pytest.approx(4.6430487632751465)


def test_real_spaq_csvs_use_colorfulness_by_default_and_another_attribute_on_request(shared_dir):
    folder = shared_dir / "reference/spaq"
    assert find_split_file(folder, "train").name == "spaqTrain.csv"
    train = read_labels(folder / "spaqTrain.csv")
    assert len(train) == 10000 and train["image_id"][0] == "00001.jpg"
    assert train["colour_score"][0] == pytest.approx(5.56)
    assert train["overall_score"][0] == pytest.approx(4.89)
    assert read_labels(folder / "spaqTrain.csv", attribute="Contrast")["colour_score"][0] == pytest.approx(5.57)


def test_layout_is_detected_from_the_header_and_unknown_headers_are_refused():
    assert detect_layout(["ID", "color", "MOS", "probability"]) == "icaa17k"
    assert detect_layout(["image_id", "Colorfulness"]) == "spaq"
    with pytest.raises(IcaaError, match="cannot tell the layout"):
        detect_layout(["path", "score"])


def test_out_of_range_scores_are_refused_with_their_csv_lines(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"ID": ["a.png", "b.png", "c.png"], "color": [5.0, 11.0, -1.0], "MOS": [5, 5, 5],
                  "probability": [1, 1, 1]}).to_csv(path, index=False)
    with pytest.raises(IcaaError, match=r"2 rows .*CSV lines \[3, 4\]"):
        read_labels(path)


def test_icaa17k_labels_with_a_missing_score_or_escaping_id_are_refused(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"ID": ["a.png", "b.png"], "color": [5.0, None], "MOS": [5, 5],
                  "probability": [1, 1]}).to_csv(path, index=False)
    with pytest.raises(IcaaError, match="column color has 1 missing"):
        read_labels(path)
    pd.DataFrame({"ID": ["../a.png"], "color": [5.0], "MOS": [5], "probability": [1]}).to_csv(path, index=False)
    with pytest.raises(IcaaError, match="escape the image root"):
        read_labels(path)


def test_spaq_without_the_attribute_column_names_it(tmp_path):
    path = tmp_path / "spaqTrain.csv"
    pd.DataFrame({"image_id": ["a.png"], "MOS": [5.0]}).to_csv(path, index=False)
    with pytest.raises(IcaaError, match="Colorfulness"):
        read_labels(path)


def test_carved_validation_keeps_every_photo_on_one_side():
    ids = [f"complementary/{c}/photo{i}.jpg" for i in range(50) for c in ("red_blue", "orange_blue")]
    train = pd.DataFrame({"image_id": ids, "colour_score": 5.0, "overall_score": 5.0})
    kept, val = carve_validation(train, 0.2, seed=1)
    names_train = {i.rsplit("/", 1)[1] for i in kept["image_id"]}
    names_val = {i.rsplit("/", 1)[1] for i in val["image_id"]}
    assert not names_train & names_val
    assert len(names_val) == 10 and len(val) == 20 and len(kept) == 80


# ------------------------------------------------------------------ images

def test_missing_and_unreadable_images_are_listed_with_their_reason(tmp_path):
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "good.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    problems = check_images(tmp_path, ["good.png", "broken.jpg", "gone.png", "../escape.png"])
    assert {(p.image_id, p.reason) for p in problems} == {
        ("broken.jpg", "unreadable"), ("gone.png", "missing"), ("../escape.png", "escapes_root")}


def test_score_dataset_gives_transformed_image_and_targets_over_ten(tmp_path):
    tables = make_colour_dataset(tmp_path, {"train": 3}, size=16)
    labels = read_labels(tmp_path / "train.csv")
    dataset = ScoreDataset(labels, tmp_path / "images", lambda im: np.asarray(im).shape)
    shape, target = dataset[1]
    assert shape == (16, 16, 3)
    assert target.tolist() == pytest.approx([tables["train"]["MOS"][1] / 10, tables["train"]["color"][1] / 10])


# ------------------------------------------------------------------ training, evaluate, predict, CLI

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 1-epoch micro DeT run on 24 generated images (seconds)."""
    import torch

    from icaa.model.engine import TrainSettings, fit

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("tiny")
    make_colour_dataset(root / "data", {"train": 16, "test": 8}, size=64)
    settings = TrainSettings(config=MICRO_CONFIG_64PX, image_size=64, epochs=1, batch_size=8, val_fraction=0.25)
    summary = fit(root / "data", root / "run", settings, workers=0, progress=False, echo=lambda m: None)
    return root, summary


def test_fit_carves_validation_by_photo_and_writes_weights_metrics_and_plots(tiny_run):
    root, summary = tiny_run
    assert summary["train_images"] == 12 and summary["val_images"] == 4
    assert "carved from train.csv" in summary["val_source"]
    metrics = json.loads((root / "run/metrics.json").read_text())
    assert metrics["best_epoch"] == 1 and metrics["val"]["n"] == 4
    plots = pd.read_csv(root / "run/plots/train.csv")
    assert list(plots["epoch"]) == [1] and np.isfinite(plots["train_loss"]).all()
    for name in ("best.pt", "last.pt", "checkpoint.pt"):
        assert (root / "run" / name).is_file()


def test_fit_refuses_missing_images_unless_told_to_skip_them(tmp_path):
    from icaa.model.engine import TrainSettings, fit

    make_colour_dataset(tmp_path / "data", {"train": 8, "val": 4}, size=64)
    (tmp_path / "data/images/warm/train_0003.png").unlink()
    (tmp_path / "data/images/warm/val_0001.png").write_bytes(b"garbage")
    settings = TrainSettings(config=MICRO_CONFIG_64PX, image_size=64, epochs=1, batch_size=4)
    with pytest.raises(IcaaError, match=r"2 images cannot be used .*1 missing, 1 unreadable(.|\n)*train_0003"):
        fit(tmp_path / "data", tmp_path / "run", settings, workers=0, progress=False)
    assert not (tmp_path / "run").exists()
    summary = fit(tmp_path / "data", tmp_path / "run", settings, workers=0, progress=False, skip_missing=True,
                  echo=lambda m: None)
    assert summary["train_images"] == 7 and summary["val_images"] == 3
    assert summary["skipped_images"] == {"missing": 1, "unreadable": 1}


def test_evaluate_scores_the_test_split_and_writes_predictions(tiny_run, tmp_path):
    from icaa.model.evaluation import evaluate

    root, _ = tiny_run
    result = evaluate(root / "run/best.pt", root / "data", "test", workers=0, progress=False,
                      predictions_path=tmp_path / "pred.csv", metrics_path=tmp_path / "m.json")
    # Trained with targets "colour": the overall head learned nothing, so it is not reported.
    assert result["n"] == 8 and result["split"] == "test" and "overall" not in result
    assert "only 8 images" in result["warning"]
    predictions = pd.read_csv(tmp_path / "pred.csv")
    assert len(predictions) == 8 and predictions["predicted_colour_score"].between(0, 10).all()
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 8


def test_predict_scores_each_image_independently_of_its_batch(tiny_run):
    from icaa.model.evaluation import predict

    root, _ = tiny_run
    images = sorted((root / "data/images/warm").glob("test_*.png"))[:3]
    together = predict(images, root / "run/best.pt", batch_size=3)
    alone = pd.concat([predict([p], root / "run/best.pt") for p in images], ignore_index=True)
    assert list(together.columns) == ["image", "colour_score", "status", "detail"]  # no untrained overall head
    assert together["colour_score"].between(0, 10).all()
    np.testing.assert_allclose(together["colour_score"], alone["colour_score"], atol=1e-4)


def test_cli_evaluate_and_predict_write_json_and_csv(tiny_run, tmp_path):
    from icaa.model.cli import app

    root, _ = tiny_run
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "--weights", str(root / "run/best.pt"), "--data", str(root / "data"),
                                 "--split", "test", "--workers", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 8
    image = str(root / "data/images/warm/test_0000.png")
    out = tmp_path / "scores.json"
    result = runner.invoke(app, ["predict", image, "--weights", str(root / "run/best.pt"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())[0]["image"] == image
    result = runner.invoke(app, ["predict", image, "--weights", str(root / "run/best.pt")])
    assert result.stdout.splitlines()[0] == "image,colour_score,status,detail"


def test_predict_explain_adds_the_pipeline_class_and_dominant_colour(tiny_run, tmp_path):
    from icaa.model.cli import app

    root, _ = tiny_run
    red_blue = np.zeros((64, 64, 3), np.uint8)
    red_blue[:, :32, 0] = 255
    red_blue[:, 32:, 2] = 255
    Image.fromarray(red_blue).save(tmp_path / "red_blue.png")
    out = tmp_path / "explained.csv"
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "red_blue.png"), "--weights",
                                      str(root / "run/best.pt"), "--explain", "-o", str(out)])
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out).iloc[0]
    assert row["category"] == "complementary/red_blue"
    assert {row["dominant"], row["auxiliary"]} == {"red", "blue"}
    assert 0 <= row["colour_score"] <= 10


def test_cli_fit_without_labels_exits_1_with_a_message(tmp_path):
    from icaa.model.cli import app

    result = CliRunner().invoke(app, ["fit", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "no training labels" in result.output


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    from icaa.model.engine import TrainSettings, fit

    make_colour_dataset(tmp_path / "data", {"train": 4, "val": 2}, size=64)
    settings = TrainSettings(config=MICRO_CONFIG_64PX, image_size=64, epochs=1, batch_size=4)
    with pytest.raises(IcaaError, match="no checkpoint"):
        fit(tmp_path / "data", tmp_path / "run", settings, workers=0, resume=True, progress=False)


def test_train_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from icaa.model.cli import app; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_warmup_cosine_rises_linearly_then_decays_to_the_floor():
    from icaa.model.engine import warmup_cosine

    values = [warmup_cosine(s, 10, 2, 0.1) for s in range(11)]
    assert values[0] == 0.5 and values[1] == 1.0 and values[2] == 1.0
    assert values[6] == pytest.approx(0.1 + 0.9 * 0.5)
    assert values[10] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(values[1:], values[2:]))
