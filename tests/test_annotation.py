"""Annotation without a server: rating validation, incremental import, screening, MOS targets, CLIs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from icaa.annotation.anchors import anchors_from_table, choose_anchors
from icaa.annotation.labelstudio import (COLOUR_HOTKEYS, CONFIDENCE_HOTKEYS, OVERALL_HOTKEYS, build_tasks,
                                         image_url, instructions_html, label_config)
from icaa.annotation.mos import compute_mos, estimate_mean, rater_statistics, screen_bt500, screen_lazy
from icaa.annotation.ratings import merge_ratings, parse_tasks, pseudonym
from icaa.annotation.simulate import (DENSE, DENSE_HONEST, RaterDesign, annotation_result, simulate_ratings,
                                      to_label_studio_tasks)
from icaa.pipeline.cli import app
from icaa.pipeline.annotate import run_export, run_import
from icaa.pipeline.mos import run_mos
from icaa.common.errors import IcaaError

# The lab-like dense design (simulate.DENSE) at half the images and half the sequence: same 54 ratings per
# image, same rater mix.
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
    frame = pd.DataFrame({"image_id": ids, "category": "red", "coarse_score": np.linspace(1.5, 9, 8), "score_bin": 0})
    path = tmp_path / "selection.parquet"
    frame.to_parquet(path)
    return path, root


def test_offline_export_writes_tasks_keyed_by_image_id_and_the_label_config(selection, tmp_path):
    path, root = selection
    pool = tmp_path / "pool.parquet"
    for name in ("q1.jpg", "q2.jpg"):
        (root / name).write_bytes((root / "p0.jpg").read_bytes())
    pd.DataFrame({"image_id": ["q1.jpg", "q2.jpg"], "coarse_score": [3.9, 8.2]}).to_parquet(pool)
    result = CliRunner().invoke(app, ["annotate", "export", str(path), "--images-root", str(root),
                                      "--url-prefix", "https://example.org/i", "--anchor-pool", str(pool),
                                      "--offline", str(tmp_path / "off")])
    assert result.exit_code == 0, result.output
    tasks = json.loads((tmp_path / "off" / "tasks.json").read_text())
    assert [t["data"]["image_id"] for t in tasks] == [f"p{k}.jpg" for k in range(8)]
    assert tasks[0]["data"]["image"] == "https://example.org/i/p0.jpg"
    config = (tmp_path / "off" / "label_config.xml").read_text()
    assert '<Choices name="color"' in config and '<Choice value="10" hotkey="0"/>' in config
    instructions = (tmp_path / "off" / "instructions.html").read_text()
    # the pool's photos, not the selection's, at the two levels with a photo within 0.25 of them
    assert instructions.count("<img") == 2 and "q1.jpg" in instructions and "q2.jpg" in instructions
    assert "4 (coarse score 3.90)" in instructions and "8 (coarse score 8.20)" in instructions
    assert "style=" not in instructions and "expert" not in instructions


def test_default_anchors_are_set_aside_from_the_selection_and_never_sent_as_tasks(selection, tmp_path):
    path, root = selection   # coarse scores 1.5, 2.57, 3.64, 4.71, 5.79, 6.86, 7.93, 9.0
    summary = run_export(path, images_root=root, url_prefix="https://example.org/i", offline=tmp_path / "off")
    tasks = {t["data"]["image_id"] for t in json.loads((tmp_path / "off" / "tasks.json").read_text())}
    instructions = (tmp_path / "off" / "instructions.html").read_text()
    anchors = {"p4.jpg", "p6.jpg"}          # 5.79 for level 6 and 7.93 for level 8; 2 and 4 have none within 0.25
    assert summary["anchors"] == 2 and summary["photos"] == 6
    assert tasks == {f"p{k}.jpg" for k in range(8)} - anchors
    assert all(f"i/{a}" in instructions for a in anchors) and not tasks & anchors
    assert "6 (coarse score 5.79)" in instructions and "coarse score</b>: an automatic pre-score" in instructions


def test_anchor_table_names_its_source_and_may_not_hold_a_rated_photo(selection, tmp_path):
    path, root = selection
    (root / "e1.jpg").write_bytes((root / "p0.jpg").read_bytes())
    table = tmp_path / "anchors.parquet"
    pd.DataFrame({"image_id": ["e1.jpg"], "score": [7], "source": ["expert score"]}).to_parquet(table)
    run_export(path, images_root=root, url_prefix="http://x", anchors=table, offline=tmp_path / "o")
    assert "<b>7 (expert score)</b>" in (tmp_path / "o" / "instructions.html").read_text()
    plain = anchors_from_table(pd.DataFrame({"image_id": ["e1.jpg"], "score": [3]}), "a.csv")
    html = instructions_html(plain, lambda i: "/" + i)
    assert "3 (reference score)" in html and "expert" not in html and "coarse score" not in html
    pd.DataFrame({"image_id": ["e1.jpg", "p2.jpg"], "score": [7, 3]}).to_parquet(table)
    with pytest.raises(IcaaError, match="1 anchor photo.*also in the selection.*p2.jpg"):
        run_export(path, images_root=root, url_prefix="http://x", anchors=table, offline=tmp_path / "o2")


def test_anchors_only_within_the_stated_distance_and_never_from_the_excluded_photos():
    pool = pd.DataFrame({"image_id": ["a", "b", "c", "d", "e"], "coarse_score": [2.2, 4.34, 4.38, 6.0, 7.9],
                         "photo_key": ["a", "b", "c", "x", "e"]})
    chosen = choose_anchors(pool, exclude={"x", "e"}, max_distance=0.25)
    # 4.34 and 4.38 are both too far from 4; d is a duplicate of the excluded x; e is excluded
    assert chosen[["image_id", "level", "source"]].values.tolist() == [["a", 2.0, "coarse score"]]
    assert chosen["score"].tolist() == [2.2]
    assert choose_anchors(pool, max_distance=0.7)["image_id"].tolist() == ["a", "b", "d", "e"]


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


def test_build_tasks_carry_the_score_bin_into_the_task_metadata():
    selection = pd.DataFrame({"image_id": ["a", "b", "c"], "coarse_score": [2.1, 5.0, 7.9], "category": "x",
                              "score_bin": [1, 4, 7]})
    tasks = build_tasks(selection, lambda i: image_url(i, local_files_prefix="imgs"))
    assert tasks[1] == {"data": {"image": "/data/local-files/?d=imgs/b", "image_id": "b"},
                        "meta": {"category": "x", "score_bin": 4, "coarse_score": 5.0}}


def test_label_config_has_choices_with_distinct_hotkeys_and_no_slider_or_stars():
    import xml.etree.ElementTree as ElementTree
    root = ElementTree.fromstring(label_config())
    groups = {c.get("name"): c for c in root.iter("Choices")}
    assert set(groups) == {"color", "overall", "confidence"}
    assert all(c.get("required") == "true" and c.get("choice") == "single-radio" for c in groups.values())
    values = {name: [c.get("value") for c in group] for name, group in groups.items()}
    assert values["color"] == values["overall"] == [str(v) for v in range(1, 11)]
    assert values["confidence"] == ["0", "0.25", "0.5", "0.75", "1"]
    keys = [c.get("hotkey") for group in groups.values() for c in group]
    assert len(keys) == len(set(keys)) == 25 and "".join(keys) == COLOUR_HOTKEYS + OVERALL_HOTKEYS + CONFIDENCE_HOTKEYS
    assert not list(root.iter("Rating")) and not list(root.iter("Number"))
    assert "Keys: colour 1-9 and 0" in instructions_html(pd.DataFrame(columns=["image_id", "score", "level",
                                                                               "source"]), str)


def test_choices_results_are_parsed_as_numbers_and_old_rating_exports_still_are():
    tasks = [_task(1, "a.jpg", [_annotation(1, 2, color=10, overall=1, confidence=0.25)]),
             _task(2, "b.jpg", [_annotation(2, 2, result=[
                 {"from_name": "color", "type": "rating", "value": {"rating": 4}},
                 {"from_name": "overall", "type": "rating", "value": {"rating": 5}},
                 {"from_name": "confidence", "type": "number", "value": {"number": 0.72}}])])]
    ratings, rejects = parse_tasks(tasks)
    assert rejects.empty
    assert ratings[["color", "overall", "confidence"]].values.tolist() == [[10, 1, 0.25], [4, 5, 0.72]]


def test_rater_is_the_annotators_email_or_a_stable_pseudonym(tmp_path):
    tasks = [_task(1, "a.jpg", [_annotation(1, 2), _annotation(2, 3)])]
    ratings, _ = parse_tasks(tasks, {2: "ann@example.org", 3: "bob@example.org"})
    assert ratings["rater"].tolist() == ["ann@example.org", "bob@example.org"]
    key = "k" * 20
    assert pseudonym("ann@example.org", key) == pseudonym("ann@example.org", key)
    assert pseudonym("ann@example.org", key) != pseudonym("bob@example.org", key)
    assert pseudonym("ann@example.org", key) != pseudonym("ann@example.org", "j" * 20)
    assert pseudonym("ann@example.org", key).startswith("r-") and len(pseudonym("ann@example.org", key)) == 18
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    result = CliRunner().invoke(app, ["annotate", "import", "--from-export", str(export), "-o",
                                      str(tmp_path / "r.parquet"), "--rater-pseudonyms"],
                                env={"ICAA_RATER_PSEUDONYM_KEY": key})
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "r.parquet")["rater"].tolist() == [pseudonym("user2", key),
                                                                        pseudonym("user3", key)]
    assert key not in result.output
    result = CliRunner().invoke(app, ["annotate", "import", "--from-export", str(export), "-o",
                                      str(tmp_path / "s.parquet"), "--rater-pseudonyms"],
                                env={"ICAA_RATER_PSEUDONYM_KEY": ""})
    assert result.exit_code == 1 and "ICAA_RATER_PSEUDONYM_KEY" in str(result.exception) + result.output
    assert not (tmp_path / "s.parquet").exists()


def test_mos_gives_no_spread_or_interval_below_three_ratings():
    rows = [("one", "u1", 7)] + [("two", u, c) for u, c in (("u1", 4), ("u2", 6))] + \
        [("three", u, c) for u, c in (("u1", 5), ("u2", 7), ("u3", 6))]
    ratings = pd.DataFrame([{"image_id": i, "rater": u, "color": c, "overall": c, "confidence": 0.5}
                            for i, u, c in rows])
    for method in ("mean", "robust"):
        mos, _raters, summary = compute_mos(ratings, method=method, screens=())
        mos = mos.set_index("image_id")
        spread = ["color_sd", "MOS_sd", "color_ci95_low", "color_ci95_high", "MOS_ci95_low", "MOS_ci95_high"]
        assert mos.loc[["one", "two"], spread].isna().all().all(), method
        assert mos.loc["three", spread].notna().all(), method
        assert mos["n_ratings"].tolist() == [1, 3, 2] and mos["color"].notna().all()
        assert summary["ratings_per_image"] == {"min": 1, "median": 2.0, "max": 3}
        assert summary["images_without_spread"] == 2
    mean = compute_mos(ratings, method="mean", screens=())[0].set_index("image_id")
    assert mean.loc["three", "color_sd"] == pytest.approx(np.std([5, 7, 6]))
    assert mean.loc["one", "color"] == 7.0   # the score itself is kept


def test_export_requires_the_images_root(selection, tmp_path):
    path, _root = selection
    result = CliRunner().invoke(app, ["annotate", "export", str(path), "--url-prefix", "http://x",
                                      "--offline", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--images-root" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", [["annotate", "export"], ["annotate", "import"], ["mos"]])
def test_every_command_help_shows_an_example(command):
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "Example:" in text and "icaa-data " + " ".join(command) in text
