"""Annotation without a server: rating validation, incremental import, screening, MOS targets, CLIs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from icaa.annotation.labelstudio import build_tasks, choose_anchors, image_url, label_config
from icaa.annotation.mos import compute_mos, estimate_mean, rater_statistics, screen_bt500, screen_lazy
from icaa.annotation.ratings import merge_ratings, parse_tasks
from icaa.annotation.simulate import (DENSE, DENSE_HONEST, RaterDesign, annotation_result, simulate_ratings,
                                      to_label_studio_tasks)
from icaa.pipeline.cli import app
from icaa.pipeline.cli.annotate import run_export, run_import
from icaa.pipeline.cli.mos import run_mos
from icaa.pipeline.errors import IcaaError

# The dense design at half the images and half the sequence: same 54 ratings per image, same rater mix.
SMALL_DENSE = replace(DENSE, n_images=200, images_per_rater=180)
SMALL_HONEST = replace(DENSE_HONEST, n_images=200, images_per_rater=180)


def _rmse(estimate: pd.Series, truth: pd.Series) -> float:
    return float(np.sqrt(np.mean((estimate.reindex(truth.index) - truth) ** 2)))


def _task(task_id, image_id, annotations):
    return {"id": task_id, "data": {"image": f"/x/{image_id}", "image_id": image_id}, "annotations": annotations}


def _annotation(annotation_id, rater_id, color=7, overall=6, confidence=0.8, updated="2026-01-01T10:00:00Z",
                result=None, **extra):
    return {"id": annotation_id, "completed_by": rater_id, "lead_time": 9.5, "was_cancelled": False,
            "created_at": "2026-01-01T10:00:00Z", "updated_at": updated,
            "result": annotation_result(color, overall, confidence) if result is None else result, **extra}


# --- validation -------------------------------------------------------------------------------------------

def test_out_of_range_and_missing_ratings_go_to_rejects_with_reason():
    tasks = [_task(1, "a.jpg", [
        _annotation(1, 2),
        _annotation(2, 3, color=11),
        _annotation(3, 4, confidence=1.5),
        _annotation(4, 5, result=annotation_result(5, 5, 0.5)[1:]),          # no colour rating
        _annotation(5, 6, overall=6.5),
        _annotation(6, 7, was_cancelled=True),
        _annotation(7, 8, result=annotation_result(5, 5, 0.5) + [{"from_name": "mood", "value": {"rating": 3}}]),
        _annotation(8, 9, color=0),
    ])]
    ratings, rejects = parse_tasks(tasks)
    assert ratings["annotation_id"].tolist() == [1]
    assert ratings.iloc[0][["color", "overall", "confidence", "rater"]].tolist() == [7, 6, 0.8, "user2"]
    reasons = dict(zip(rejects["annotation_id"], rejects["reason"]))
    assert reasons == {2: "color_out_of_range", 3: "confidence_out_of_range", 4: "missing_color",
                       5: "overall_out_of_range", 6: "cancelled", 7: "unknown_field", 8: "color_out_of_range"}
    assert "color=11" in rejects.set_index("annotation_id").loc[2, "detail"]


def test_second_annotation_of_a_rater_on_a_task_supersedes_the_first():
    tasks = [_task(1, "a.jpg", [_annotation(1, 2, color=3, updated="2026-01-01T10:00:00Z"),
                                _annotation(2, 2, color=8, updated="2026-01-02T10:00:00Z")])]
    ratings, rejects = parse_tasks(tasks)
    assert ratings[["annotation_id", "color"]].values.tolist() == [[2, 8]]
    assert rejects[["annotation_id", "reason"]].values.tolist() == [[1, "superseded"]]


def test_incremental_merge_adds_new_updates_edited_and_counts_nothing_twice():
    first, _ = parse_tasks([_task(1, "a.jpg", [_annotation(1, 2), _annotation(2, 3)])])
    second, _ = parse_tasks([_task(1, "a.jpg", [_annotation(1, 2), _annotation(2, 3, color=9,
                                                                                updated="2026-02-01T00:00:00Z"),
                                                _annotation(3, 4)])])
    merged, counts = merge_ratings(first, second)
    assert counts == {"added": 1, "updated": 1, "unchanged": 1, "kept_not_fetched": 0, "removed_invalid": 0}
    assert merged["annotation_id"].tolist() == [1, 2, 3]
    assert merged.set_index("annotation_id").loc[2, "color"] == 9
    again, counts = merge_ratings(merged, second)
    assert counts["added"] == 0 and counts["updated"] == 0
    pd.testing.assert_frame_equal(again, merged)
    # an annotation gone from the server is kept: an import never deletes ratings
    kept, counts = merge_ratings(merged, second[second["annotation_id"] != 3])
    assert counts["kept_not_fetched"] == 1 and len(kept) == 3


# --- screening and estimators -----------------------------------------------------------------------------

def test_bt500_uses_the_images_each_rater_saw():
    # 60 raters never outside +-1.8 sd; a spammer rated 40 of 400 images, 12 of them +-2.5 sd away: 30 % of *their*
    # ratings (rejected), but only 3 % of all images (what sureal's N = all images would compare with 5 %)
    rng = np.random.default_rng(3)
    rows = [{"image_id": f"i{j}", "rater": f"r{r}", "color": 5.5 + 2 * float(np.clip(rng.normal(), -1.8, 1.8))}
            for r in range(60) for j in range(400)]
    rows += [{"image_id": f"i{j}", "rater": "spam", "color": 5.5 + (5.0 if j % 2 else -5.0) if j < 12 else 5.5}
             for j in range(40)]
    verdict = screen_bt500(pd.DataFrame(rows))
    assert bool(verdict["spam"]) is True
    assert not verdict.drop("spam").any()


def test_lazy_screen_flags_middle_score_raters_and_spammers_not_honest_ones():
    ratings, _truth, kinds = simulate_ratings(SMALL_DENSE, seed=1)
    reasons = screen_lazy(rater_statistics(ratings))
    flagged = reasons != ""
    assert flagged[kinds[kinds == "lazy"].index].all()
    assert flagged[kinds[kinds == "spammer"].index].all()
    assert not flagged[kinds[kinds == "honest"].index].any()
    assert (reasons[kinds[kinds == "lazy"].index] == "lazy_middle_share").mean() > 0.5


def _robust_to_mean_rmse_ratios(design, seeds=range(3)) -> list[float]:
    """RMSE of the robust MOS over RMSE of the plain mean, against the simulated truth, one per seed."""
    ratios = []
    for seed in seeds:
        ratings, truth, _ = simulate_ratings(design, seed=seed)
        mos, _raters, _ = compute_mos(ratings)
        ratios.append(_rmse(mos.set_index("image_id")["color"], truth) / _rmse(estimate_mean(ratings)["score"], truth))
    return ratios


def test_robust_mos_halves_the_plain_mean_rmse_on_a_dense_design():
    ratios = _robust_to_mean_rmse_ratios(SMALL_DENSE)
    assert np.mean(ratios) <= 0.5, ratios


def test_robust_mos_costs_at_most_two_percent_with_honest_raters_only():
    ratios = _robust_to_mean_rmse_ratios(SMALL_HONEST)
    assert np.mean(ratios) <= 1.02, ratios


def test_mos_table_has_intervals_confidence_filter_and_rater_verdicts():
    ratings, truth, kinds = simulate_ratings(replace(SMALL_DENSE, n_images=60, n_raters=30, images_per_rater=60),
                                             seed=4)
    ratings.loc[ratings["image_id"] == "img0000", "confidence"] = 0.2
    mos, raters, summary = compute_mos(ratings, method="robust")
    row = mos.set_index("image_id").loc["img0000"]
    assert row["probability"] == pytest.approx(0.2) and not row["confidence_ok"]
    assert (mos["color_ci95_low"] < mos["color"]).all() and (mos["color"] < mos["color_ci95_high"]).all()
    assert (mos["n_raters_kept"] <= mos["n_ratings"]).all()
    assert set(raters["verdict"]) <= {"kept", "flagged"}
    spammers = raters[raters["rater"].isin(kinds[kinds == "spammer"].index)]
    assert (spammers["verdict"] == "flagged").all() and (spammers["p_random"] > 0.5).all()
    assert summary["images_low_confidence"] == 1


def test_mean_and_sureal_methods_and_unknown_method():
    ratings, truth, _ = simulate_ratings(replace(SMALL_HONEST, n_images=40, n_raters=10, images_per_rater=40),
                                         seed=2)
    plain, _, _ = compute_mos(ratings, method="mean", screens=())
    expected = ratings.groupby("image_id")["color"].mean()
    np.testing.assert_allclose(plain.set_index("image_id")["color"], expected.reindex(plain["image_id"]))
    pytest.importorskip("sureal")
    sureal, _, _ = compute_mos(ratings, method="sureal_mle_co_ap2", screens=())
    assert _rmse(sureal.set_index("image_id")["color"], truth) < 0.5
    with pytest.raises(IcaaError, match="unknown MOS method"):
        compute_mos(ratings, method="median")


# --- export / import shells -------------------------------------------------------------------------------

@pytest.fixture()
def selection(tmp_path):
    from PIL import Image
    root = tmp_path / "imgs"
    root.mkdir()
    ids = [f"p{k}.jpg" for k in range(8)]
    for k, name in enumerate(ids):
        Image.new("RGB", (32, 24), (30 * k, 90, 200 - 20 * k)).save(root / name)
    frame = pd.DataFrame({"image_id": ids, "category": "red", "coarse_score": np.linspace(1.5, 9, 8), "bin": 0})
    path = tmp_path / "selection.parquet"
    frame.to_parquet(path)
    return path, root


def test_offline_export_writes_tasks_keyed_by_image_id_and_the_label_config(selection, tmp_path):
    path, root = selection
    result = CliRunner().invoke(app, ["annotate", "export", str(path), "--images-root", str(root),
                                      "--url-prefix", "https://example.org/i", "--offline", str(tmp_path / "off")])
    assert result.exit_code == 0, result.output
    tasks = json.loads((tmp_path / "off" / "tasks.json").read_text())
    assert [t["data"]["image_id"] for t in tasks] == [f"p{k}.jpg" for k in range(8)]
    assert tasks[0]["data"]["image"] == "https://example.org/i/p0.jpg"
    config = (tmp_path / "off" / "label_config.xml").read_text()
    assert 'name="color"' in config and 'maxRating="10"' in config and 'max="1"' in config
    instructions = (tmp_path / "off" / "instructions.html").read_text()
    assert instructions.count("<img") == 4  # one anchor per level 2, 4, 6, 8


def test_export_refuses_missing_images_and_ambiguous_image_source(selection, tmp_path):
    path, root = selection
    (root / "p3.jpg").unlink()
    with pytest.raises(IcaaError, match="1 image.*p3.jpg"):
        run_export(path, images_root=root, url_prefix="http://x", offline=tmp_path / "o")
    with pytest.raises(IcaaError, match="exactly one"):
        run_export(path, images_root=root, url_prefix="http://x", local_files=True, offline=tmp_path / "o")


def test_export_without_server_fails_clearly_and_never_shows_the_token(selection):
    path, root = selection
    result = CliRunner().invoke(app, ["annotate", "export", str(path), "--images-root", str(root), "--local-files",
                                      "--url", "http://127.0.0.1:9"], env={"LABEL_STUDIO_API_KEY": "sekrit-token-123"})
    assert result.exit_code == 1
    assert "cannot reach Label Studio at http://127.0.0.1:9" in str(result.exception) + result.output
    assert "sekrit-token-123" not in result.output + str(result.exception)


def test_import_from_export_file_then_mos_through_the_cli(tmp_path):
    ratings, _truth, _ = simulate_ratings(RaterDesign(n_images=12, n_raters=8, images_per_rater=12), seed=5)
    tasks = to_label_studio_tasks(ratings, lambda i: image_url(i, url_prefix="http://x"),
                                  {r: 2 + k for k, r in enumerate(sorted(ratings["rater"].unique()))})
    tasks[0]["annotations"][0]["result"] = annotation_result(12, 5, 0.5)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    out = tmp_path / "ratings.parquet"
    result = CliRunner().invoke(app, ["annotate", "import", "--from-export", str(export), "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(table) == 95 and table["annotation_id"].is_unique
    rejects = pd.read_parquet(tmp_path / "annotation_rejects.parquet")
    assert rejects["reason"].tolist() == ["color_out_of_range"]
    again = run_import(out, from_export=export)
    assert again["added"] == 0 and again["unchanged"] == 95
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)
    result = CliRunner().invoke(app, ["mos", str(out), "-o", str(tmp_path / "mos.parquet"),
                                      "--metrics", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    mos = pd.read_parquet(tmp_path / "mos.parquet")
    assert list(mos.columns[:4]) == ["image_id", "color", "MOS", "probability"] and len(mos) == 12
    assert mos["color"].between(1, 10).all()
    assert len(pd.read_parquet(tmp_path / "raters.parquet")) == 8


def test_mos_refuses_out_of_range_ratings(tmp_path):
    bad = pd.DataFrame({"image_id": ["a", "b"], "rater": ["u1", "u1"], "color": [3, 11], "overall": [3, 4],
                        "confidence": [0.5, 0.5]})
    bad.to_parquet(tmp_path / "r.parquet")
    with pytest.raises(IcaaError, match="1 rating.*color outside 1..10.*image b"):
        run_mos(tmp_path / "r.parquet", tmp_path / "mos.parquet")


def test_build_tasks_and_anchors_by_coarse_score():
    selection = pd.DataFrame({"image_id": ["a", "b", "c"], "coarse_score": [2.1, 5.0, 7.9], "category": "x",
                              "bin": [0, 1, 2]})
    anchors = choose_anchors(selection)
    assert anchors.set_index("score")["image_id"].to_dict() == {2.0: "a", 4.0: "b", 6.0: "c"}
    tasks = build_tasks(selection, lambda i: image_url(i, local_files_prefix="imgs"))
    assert tasks[1] == {"data": {"image": "/data/local-files/?d=imgs/b", "image_id": "b"},
                        "meta": {"category": "x", "bin": 1, "coarse_score": 5.0}}
    assert "<Rating name=\"overall\"" in label_config()


@pytest.mark.parametrize("command", [["annotate", "export"], ["annotate", "import"], ["mos"]])
def test_every_command_help_shows_an_example(command):
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "Example:" in text and "icaa-data " + " ".join(command) in text
