"""icaa-data fuse: harmony + faves/sqrt(views) -> coarse scores 1..10, with exact numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from icaa.pipeline.categories import CLASS_SCORE_COLUMNS
from icaa.pipeline.cli import app
from icaa.pipeline.fuse import run_fuse
from icaa.common.errors import IcaaError
from icaa.pipeline.fuse import fuse_scores, normalise_rank, popularity_score
from icaa.pipeline.io import write_table
from icaa.pipeline.schemas import COARSE


def colour_table(harmony):
    frame = pd.DataFrame({"image_id": [f"img{i}.jpg" for i in range(len(harmony))],
                          "category": ["monochromatic/red"] * len(harmony),
                          "category_confidence": [0.9] * len(harmony),
                          "harmony_score": harmony})
    for n, name in enumerate(CLASS_SCORE_COLUMNS):
        frame[name] = [n / 100.0] * len(harmony)
    return frame


def popularity_table(image_ids, views, faves, status=None):
    return pd.DataFrame({"image_id": image_ids, "views": pd.array(views, dtype="Int64"),
                         "faves": pd.array(faves, dtype="Int64"),
                         "status": status or ["ok"] * len(image_ids)})


def test_rank_fusion_gives_exact_coarse_scores_and_flags_zero_views():
    colour = colour_table([0.2, 0.5, 0.8, 0.4])
    popularity = popularity_table(["img0.jpg", "img1.jpg", "img2.jpg"], [100, 400, 0], [10, 10, 5])
    coarse, rejects, summary = fuse_scores(colour, popularity)
    # f_subj = 10/10 = 1.0 and 10/20 = 0.5; img2 has 0 views, img3 no popularity row
    assert coarse["f_subj"].tolist()[:2] == [1.0, 0.5] and np.isnan(coarse["f_subj"][2:]).all()
    # harmony ranks over 4: 0.2 -> 0, 0.4 -> 1/3, 0.5 -> 2/3, 0.8 -> 1; popularity ranks over 2: 1, 0
    np.testing.assert_allclose(coarse["f_obj_norm"], [0.0, 2 / 3, 1.0, 1 / 3])
    np.testing.assert_allclose(coarse["coarse_score"], [1 + 9 * 0.5, 1 + 9 * (1 / 3), 10.0, 1 + 9 * (1 / 3)])
    assert coarse["flag"].tolist() == ["ok", "ok", "zero_views", "no_popularity"]
    assert coarse["scored_from"].tolist() == ["both", "both", "harmony", "harmony"]
    assert summary["flags"] == {"ok": 2, "zero_views": 1, "no_popularity": 1} and len(rejects) == 0
    assert coarse["class_score_monochromatic_red"].tolist() == [colour["class_score_monochromatic_red"][0]] * 4


def test_weights_minmax_and_zscore_normalisations():
    colour = colour_table([0.0, 0.5, 1.0])
    popularity = popularity_table(["img0.jpg", "img1.jpg", "img2.jpg"], [100, 100, 100], [0, 10, 30])
    coarse, _, _ = fuse_scores(colour, popularity, normalisation="minmax", weight_obj=0.25, weight_subj=0.75)
    # f_subj 0, 1, 3 -> minmax 0, 1/3, 1
    np.testing.assert_allclose(coarse["coarse_score"], [1.0, 1 + 9 * (0.25 * 0.5 + 0.75 / 3), 10.0])
    coarse, _, _ = fuse_scores(colour, popularity, normalisation="zscore", weight_obj=1.0, weight_subj=0.0)
    # harmony z = -1.2247, 0, 1.2247 -> Phi = 0.11033, 0.5, 0.88967
    np.testing.assert_allclose(coarse["coarse_score"], [1 + 9 * 0.110335, 5.5, 1 + 9 * 0.889665], atol=1e-5)


def test_failed_crawls_are_dropped_into_rejects_when_asked():
    colour = colour_table([0.1, 0.9, 0.5])
    popularity = popularity_table(["img0.jpg", "img1.jpg", "img2.jpg"], [100, None, 16], [1, None, 2],
                                  status=["ok", "error:timeout", "ok"])
    coarse, rejects, summary = fuse_scores(colour, popularity, on_missing_popularity="drop")
    assert coarse["image_id"].tolist() == ["img0.jpg", "img2.jpg"]
    # harmony ranks within the kept pool (0.1, 0.5 -> 0, 1); f_subj 0.1 and 0.5 -> 0, 1
    assert coarse["coarse_score"].tolist() == [1.0, 10.0]
    assert rejects[["image_id", "reason"]].values.tolist() == [["img1.jpg", "crawl_failed"]]
    assert summary["rejects_by_reason"] == {"crawl_failed": 1}


def test_missing_harmony_is_scored_from_popularity_and_unscorable_rows_are_rejected():
    colour = colour_table([np.nan, 0.3, np.nan])
    popularity = popularity_table(["img0.jpg", "img1.jpg"], [4, 9], [2, 3])
    coarse, rejects, _ = fuse_scores(colour, popularity)
    assert coarse["image_id"].tolist() == ["img0.jpg", "img1.jpg"]
    assert coarse["flag"].tolist() == ["no_harmony", "ok"]
    assert coarse["scored_from"].tolist() == ["popularity", "both"]
    assert rejects["reason"].tolist() == ["unscorable"]


@pytest.mark.parametrize("change, message", [
    (lambda c, p: c.assign(harmony_score=[1.5, 0.2]), "must lie in 0..1.*img0.jpg"),
    (lambda c, p: pd.concat([c, c.iloc[:1]]), "appear twice"),
    (lambda c, p: c.drop(columns="harmony_score"), "missing column"),
])
def test_bad_tables_raise_a_clear_error(change, message):
    colour = colour_table([0.1, 0.2])
    popularity = popularity_table(["img0.jpg"], [1], [1])
    with pytest.raises(IcaaError, match=message):
        fuse_scores(change(colour, popularity), popularity)


def test_eq7_and_rank_helpers():
    np.testing.assert_allclose(popularity_score(np.array([10, 0, 3]), np.array([400, 9, 0])), [0.5, 0.0, np.nan])
    assert normalise_rank(np.array([7.0])).tolist() == [0.5]


def test_cli_writes_coarse_and_rejects_tables(tmp_path):
    write_table(colour_table([0.2, 0.8]), tmp_path / "colour.parquet")
    write_table(popularity_table(["img0.jpg", "img1.jpg"], [100, 0], [20, 0],
                                 status=["ok", "not_found"]), tmp_path / "popularity.parquet")
    result = CliRunner().invoke(app, ["fuse", str(tmp_path / "colour.parquet"), str(tmp_path / "popularity.parquet"),
                                      "-o", str(tmp_path / "out" / "coarse.parquet")])
    assert result.exit_code == 0, result.output
    assert "photo_not_found 1" in result.output  # the API's answer, not a failed crawl
    coarse = pd.read_parquet(tmp_path / "out" / "coarse.parquet")
    assert coarse.columns.tolist() == COARSE.names
    assert coarse["coarse_score"].tolist() == [3.25, 10.0]  # img0: 1 + 9 * (0 + 0.5) / 2; img1: harmony rank 1
    assert len(pd.read_parquet(tmp_path / "out" / "fuse_rejects.parquet")) == 0
    summary = run_fuse(tmp_path / "colour.parquet", tmp_path / "popularity.parquet", tmp_path / "o2.parquet",
                       on_missing_popularity="drop")
    assert summary["scored"] == 1 and summary["rejects_by_reason"] == {"photo_not_found": 1}


def test_flags_say_what_happened_to_each_image():
    colour = colour_table([0.1, 0.2, 0.3, 0.4, 0.5, np.nan, np.nan])
    ids = [f"img{i}.jpg" for i in range(7)]
    popularity = popularity_table(ids, [100, None, None, None, None, 16, None], [1, None, None, None, None, 2, None],
                                  status=["ok", "error:no_photo_id", "not_listed", "private", "error:timeout", "ok",
                                          "not_found"])
    coarse, rejects, summary = fuse_scores(colour, popularity)
    assert coarse["flag"].tolist() == ["ok", "no_photo_id", "no_popularity", "crawl_failed", "no_harmony"]
    # A photo that is not public never goes on, whatever else is known of it.
    assert rejects[["image_id", "reason"]].values.tolist() == [["img3.jpg", "not_public"], ["img6.jpg", "unscorable"]]
    assert rejects["detail"].tolist() == ["popularity status private",
                                          "no harmony score and popularity status not_found"]


def test_without_a_popularity_table_every_image_is_scored_from_harmony_alone(tmp_path):
    colour = colour_table([0.1, 0.9, 0.5])
    coarse, rejects, summary = fuse_scores(colour, None)
    assert coarse["flag"].tolist() == ["harmony_only"] * 3 and coarse["scored_from"].tolist() == ["harmony"] * 3
    assert coarse["coarse_score"].tolist() == [1.0, 10.0, 5.5] and len(rejects) == 0
    with pytest.raises(IcaaError, match="drop needs a popularity table"):
        fuse_scores(colour, None, on_missing_popularity="drop")
    write_table(colour, tmp_path / "colour.parquet")
    result = CliRunner().invoke(app, ["fuse", str(tmp_path / "colour.parquet"), "-o", str(tmp_path / "coarse.parquet")])
    assert result.exit_code == 0, result.output
    assert "harmony_only 3" in result.output
