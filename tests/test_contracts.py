"""Every table has one declaration, every writer is held to it, and every reason written is registered."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cli_helpers import one_sentence_error, run_main
from conftest import DEMO_DIR
from icaa.pipeline.categories import CLASS_SCORE_COLUMNS
from icaa.pipeline.cli import app, main
from icaa.pipeline.contracts import check_values
from icaa.common.errors import IcaaError
from icaa.pipeline.io import write_table
from icaa.pipeline.rejects import REASONS
from icaa.pipeline.schemas import (CANDIDATE_STATUS_VALUES, CANDIDATES, POPULARITY_STATUS_VALUES, TABLES,
                                   allowed_values, bounds)

REPO = Path(__file__).resolve().parents[1]
RED = "monochromatic/red"


def _violations(field: pa.Field) -> list[tuple[object, str]]:
    """(bad value, what the error must say) for every contract a column has."""
    low, high = bounds(field)
    out = []
    if high is not None:
        out.append((high + 1, "outside"))
    if low is not None:
        out.append((low - 1, "outside"))
    if allowed_values(field) is not None:
        out.append(("no_such_code", "not one of"))
    if not field.nullable:
        out.append((None, "may not be empty"))
    return out


CASES = [(name, field, value, says) for name, table in TABLES.items() for field in table.schema
         for value, says in _violations(field)]


@pytest.mark.parametrize("name, field, value, says", CASES,
                         ids=[f"{n}.{f.name}={v}" for n, f, v, _ in CASES])
def test_every_declared_contract_is_checked_and_named_in_one_sentence(name, field, value, says):
    if isinstance(value, (int, float)) and value is not None and pa.types.is_integer(field.type):
        value = int(value)
    data = pa.array([value], type=field.type)
    with pytest.raises(IcaaError) as error:
        check_values(pa.table({field.name: data}), TABLES[name].schema, "t.parquet")
    message = str(error.value)
    assert message.startswith(f"{name} table (t.parquet): column {field.name} ") and says in message
    assert "\n" not in message
    if value is not None:
        assert (repr(value) if isinstance(value, str) else f"{value:g}") in message


def test_every_table_declares_meaning_and_machine_readable_bounds():
    for name, table in TABLES.items():
        assert table.schema.metadata[b"table"].decode() == name
        assert set(table.needed) <= set(table.schema.names) and set(table.distinctive) <= set(table.schema.names)
        for field in table.schema:
            metadata = field.metadata or {}
            assert metadata.get(b"description"), f"{name}.{field.name} has no description"
            assert b"range" not in metadata  # free text is range_note, never a contract
            for key in (b"min", b"max"):
                if key in metadata:
                    assert isinstance(json.loads(metadata[key]), (int, float))
    assert bounds(TABLES["ratings"].schema.field("color")) == (1, 10)
    assert TABLES["coarse"].schema.field("coarse_score").metadata[b"direction"] == b"higher_better"
    assert TABLES["raters"].schema.field("sigma").metadata[b"direction"] == b"lower_better"


def test_readers_and_writers_take_their_column_lists_from_the_declaration():
    from icaa.annotation.ratings import CONFIDENCE_RANGE, RATING_COLUMNS
    from icaa.pipeline.crawl.popularity import POPULARITY_COLUMNS, POPULARITY_STATUSES
    from icaa.pipeline.crawl.search import CANDIDATE_STATUSES
    from icaa.pipeline.icaa17k import ICAA17K_COLUMNS

    assert RATING_COLUMNS == TABLES["ratings"].schema.names and CONFIDENCE_RANGE == (0.0, 1.0)
    assert POPULARITY_COLUMNS == TABLES["popularity"].schema.names
    assert POPULARITY_STATUSES == POPULARITY_STATUS_VALUES and CANDIDATE_STATUSES == CANDIDATE_STATUS_VALUES
    assert ICAA17K_COLUMNS == ("ID", "color", "MOS", "probability")


def test_the_icaa17k_reference_files_fit_the_declaration(shared_dir):
    from icaa.pipeline.icaa17k import read_icaa17k_csv

    folder = shared_dir / "reference" / "icaa17k"
    if not (folder / "1all.csv").is_file():
        pytest.skip(f"no ICAA17K reference files in {folder}")
    for path in sorted(folder.glob("*.csv")):
        frame = read_icaa17k_csv(path)
        check_values(pa.Table.from_pandas(frame, preserve_index=False), TABLES["icaa17k"].schema, path)
        assert len(frame) > 1000


# --- each writer, fed a bad value, refuses to write it ------------------------------------------------

@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``icaa-data ARGS`` as a shell would; return the one-sentence error it must fail with."""
    def run(args: list[str]) -> str:
        status, _, err = run_main(main, ["icaa-data", *args], capsys, monkeypatch)
        assert status == 1, err
        return one_sentence_error(err)
    return run


def _two_photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in sorted(DEMO_DIR.glob("*.jpg"))[:2]:
        shutil.copy(photo, folder / photo.name)
    return folder


def test_scan_refuses_to_write_an_images_table_breaking_its_contract(tmp_path, monkeypatch, cli):
    from icaa.pipeline import scan

    real = scan.group_duplicates
    monkeypatch.setattr(scan, "group_duplicates", lambda images, **kw: real(images, **kw).assign(duplicate_kind="twin"))
    output = cli(["scan", str(_two_photos(tmp_path)), "-o", str(tmp_path / "images.parquet"), "--no-progress"])
    assert "images table" in output and "column duplicate_kind holds 'twin'" in output
    assert not (tmp_path / "images.parquet").exists()


def test_harmony_score_refuses_to_write_a_colour_table_breaking_its_contract(tmp_path, monkeypatch, cli):
    from icaa.pipeline import harmony

    folder = _two_photos(tmp_path)
    assert CliRunner().invoke(app, ["scan", str(folder), "-o", str(tmp_path / "images.parquet"),
                                    "--no-progress"]).exit_code == 0
    real = harmony.score_image
    monkeypatch.setattr(harmony, "score_image", lambda rgb, **kw: {**real(rgb, **kw), "category_confidence": 1.5})
    output = cli(["harmony-score", str(tmp_path / "images.parquet"), "-o", str(tmp_path / "colour.parquet"),
                   "--no-progress"])
    assert "colour table" in output and "column category_confidence holds 1.5, outside 0..1" in output


def test_crawl_popularity_refuses_a_licence_id_flickr_does_not_have(tmp_path, cli):
    write_table(pd.DataFrame({"image_id": ["a1234567890.jpg"]}), tmp_path / "images.parquet")
    pd.DataFrame({"image_id": ["a1234567890.jpg"], "views": [10], "faves": [1], "licence": [99]}).to_csv(
        tmp_path / "pop.csv", index=False)
    output = cli(["crawl", "popularity", str(tmp_path / "images.parquet"), "--source", "file",
                   str(tmp_path / "pop.csv"), "-o", str(tmp_path / "popularity.parquet")])
    assert "popularity table" in output and "column licence holds 99, outside 0..16" in output


def test_a_candidates_table_with_an_unknown_status_is_not_written(tmp_path):
    row = {name: None for name in CANDIDATES.names} | {"photo_id": "1", "status": "downloaded"}
    with pytest.raises(IcaaError, match=r"candidates table .*column status holds 'downloaded'"):
        write_table(pd.DataFrame([row]), tmp_path / "candidates.parquet", schema=CANDIDATES)
    assert not (tmp_path / "candidates.parquet").exists()


def test_fuse_refuses_to_carry_a_class_score_above_one(tmp_path, cli):
    colour = pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "category": RED, "harmony_score": [0.2, 0.8]})
    for name in CLASS_SCORE_COLUMNS:
        colour[name] = 0.1
    colour.loc[1, CLASS_SCORE_COLUMNS[0]] = 1.5
    write_table(colour, tmp_path / "colour.parquet")
    output = cli(["fuse", str(tmp_path / "colour.parquet"), "-o", str(tmp_path / "coarse.parquet")])
    assert "coarse table" in output and f"column {CLASS_SCORE_COLUMNS[0]} holds 1.5, outside 0..1" in output


def test_balance_refuses_to_select_with_a_coarse_score_outside_1_to_10(tmp_path, cli):
    write_table(pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "category": RED, "coarse_score": [5.0, 12.0],
                              "flag": "ok"}), tmp_path / "coarse.parquet")
    output = cli(["balance", str(tmp_path / "coarse.parquet"), "-o", str(tmp_path / "selection.parquet"),
                   "--per-class", "2", "--score-max", "12"])
    assert "selection table" in output and "column coarse_score holds 12, outside 1..10" in output


def test_annotate_import_refuses_a_negative_lead_time(tmp_path, cli):
    task = {"id": 1, "data": {"image_id": "a.jpg"}, "annotations": [{
        "id": 7, "completed_by": 2, "lead_time": -3.0, "created_at": "2026-01-05T10:00:00Z",
        "result": [{"from_name": "color", "value": {"rating": 7}}, {"from_name": "overall", "value": {"rating": 6}},
                   {"from_name": "confidence", "value": {"number": 0.8}}]}]}
    (tmp_path / "export.json").write_text(json.dumps([task]))
    output = cli(["annotate", "import", "--from-export", str(tmp_path / "export.json"), "-o",
                   str(tmp_path / "ratings.parquet")])
    assert "ratings table" in output and "column lead_time holds -3, outside >= 0" in output


def test_mos_refuses_to_write_a_probability_above_one(tmp_path, monkeypatch, cli):
    from icaa.annotation import mos

    real = mos.compute_mos

    def bad(*args, **kwargs):
        table, raters, summary = real(*args, **kwargs)
        return table.assign(probability=1.5), raters, summary

    monkeypatch.setattr(mos, "compute_mos", bad)
    ratings = pd.DataFrame({"image_id": ["a.jpg", "a.jpg", "b.jpg", "b.jpg"], "rater": ["r1", "r2", "r1", "r2"],
                            "color": [6, 7, 3, 4], "overall": [5, 5, 4, 4], "confidence": 0.8})
    write_table(ratings, tmp_path / "ratings.parquet")
    output = cli(["mos", str(tmp_path / "ratings.parquet"), "-o", str(tmp_path / "mos.parquet"), "--method", "mean",
                   "--screens", "none"])
    assert "mos table" in output and "column probability holds 1.5, outside 0..1" in output


def test_a_stage_whose_second_table_breaks_its_contract_replaces_neither_output(tmp_path, cli):
    # The raters table would hold a negative lead time (an old ratings table): mos writes neither table.
    ratings = pd.DataFrame({"image_id": ["a.jpg", "a.jpg", "b.jpg", "b.jpg"], "rater": ["r1", "r2", "r1", "r2"],
                            "color": [6, 7, 3, 4], "overall": [5, 5, 4, 4], "confidence": 0.8,
                            "lead_time": [-5.0, 3.0, -5.0, 4.0]})
    ratings.to_parquet(tmp_path / "ratings.parquet")
    for name in ("mos.parquet", "raters.parquet"):
        (tmp_path / name).write_bytes(b"an earlier run's output")
    output = cli(["mos", str(tmp_path / "ratings.parquet"), "-o", str(tmp_path / "mos.parquet"), "--method", "mean",
                  "--screens", "none"])
    assert "raters table" in output and "outside >= 0" in output
    for name in ("mos.parquet", "raters.parquet"):
        assert (tmp_path / name).read_bytes() == b"an earlier run's output", name


def test_build_refuses_to_write_an_icaa17k_file_with_a_probability_above_one(tmp_path, cli):
    folder = _two_photos(tmp_path)
    files = sorted(folder.glob("*.jpg"))
    write_table(pd.DataFrame({"image_id": [f.name for f in files], "path": [str(f) for f in files],
                              "sha256": ["x", "y"], "phash": ["0", "1"]}), tmp_path / "images.parquet")
    write_table(pd.DataFrame({"image_id": [f.name for f in files], "category": RED, "coarse_score": 5.0}),
                tmp_path / "selection.parquet")
    pd.DataFrame({"image_id": [f.name for f in files], "color": 6.0, "MOS": 5.0, "probability": [0.8, 1.5]}).to_csv(
        tmp_path / "mos.csv", index=False)
    output = cli(["build", "--selection", str(tmp_path / "selection.parquet"), "--mos", str(tmp_path / "mos.csv"),
                   "--images", str(tmp_path / "images.parquet"), "-o", str(tmp_path / "dataset"), "--licences", "any"])
    assert "icaa17k table" in output and "column probability holds 1.5, outside 0..1" in output
    assert not (tmp_path / "dataset").exists()


# --- one registry of reasons -------------------------------------------------------------------------

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def _reason_literals(tree: ast.AST) -> set[str]:
    """String constants written as a reason: the value under a "reason" dict key or keyword, assigned to a
    name or item called reason(s)/codes, appended to reasons/problems/codes, or the code of a CallFailed."""
    found: set[str] = set()

    def constants(node: ast.AST) -> None:
        # Values only: not a column name in a subscript, a keyword such as dtype=, or a piece of an f-string.
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CODE.match(node.value):
            found.add(node.value)
        elif isinstance(node, ast.Subscript):
            constants(node.value)
        elif isinstance(node, ast.Call):
            for argument in node.args:
                constants(argument)
        elif not isinstance(node, (ast.JoinedStr, ast.keyword, ast.Name, ast.Attribute)):
            for child in ast.iter_child_nodes(node):
                constants(child)

    def named(node: ast.AST) -> str | None:
        target = node.value if isinstance(node, ast.Subscript) else node
        return target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) \
            else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "reason":
                    constants(value)
        elif isinstance(node, ast.keyword) and node.arg == "reason":
            constants(node.value)
        elif isinstance(node, ast.Assign) and any(named(t) in ("reason", "reasons", "codes") for t in node.targets):
            constants(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append" \
                and named(node.func.value) in ("reasons", "problems", "codes") and node.args:
            first = node.args[0]
            constants(first.elts[0] if isinstance(first, ast.Tuple) else first)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("CallFailed", "_AttemptFailed") \
                and node.args:
            constants(node.args[0])
    return found


def test_every_reason_literal_in_the_code_is_in_the_registry():
    written: dict[str, list[str]] = {}
    for folder in ("pipeline", "annotation"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for code in _reason_literals(ast.parse(path.read_text())):
                written.setdefault(code, []).append(path.relative_to(REPO).as_posix())
    statuses = {"ok", "too_large", "kept", "flagged"} | {s for s in CANDIDATE_STATUS_VALUES + POPULARITY_STATUS_VALUES}
    unknown = {code: paths for code, paths in written.items() if code not in REASONS and code not in statuses}
    assert not unknown, f"reasons written but not in icaa.pipeline.rejects.REASONS: {unknown}"
    # The static check sees the codes it must: fuse's, build's, annotate's and the crawl's.
    assert {"unscorable", "not_public", "no_mos", "superseded", "too_few_ratings", "http_error"} <= set(written)


def test_every_reason_the_stages_write_on_their_awkward_inputs_is_registered(tmp_path):
    from image_fixtures import make_robustness_folder
    from icaa.annotation.mos import compute_mos
    from icaa.annotation.ratings import parse_tasks
    from icaa.pipeline.fuse import fuse_scores

    folder = tmp_path / "photos"
    make_robustness_folder(folder)
    assert CliRunner().invoke(app, ["scan", str(folder), "-o", str(tmp_path / "images.parquet"),
                                    "--no-progress"]).exit_code == 0
    seen = set(pd.read_parquet(tmp_path / "scan_rejects.parquet")["reason"])
    colour = pd.DataFrame({"image_id": [f"{i}.jpg" for i in range(6)], "category": RED,
                           "harmony_score": [0.1, 0.5, np.nan, 0.7, 0.2, 0.9]})
    popularity = pd.DataFrame({"image_id": colour["image_id"], "views": [10, 0, np.nan, 5, 5, 5],
                               "faves": [1, 0, np.nan, 1, 1, 1],
                               "status": ["ok", "ok", "not_listed", "private", "not_found", "error:timeout"]})
    for mode in ("harmony", "drop"):
        _, rejects, _ = fuse_scores(colour, popularity, on_missing_popularity=mode)
        seen |= set(rejects["reason"])
    export = json.loads((DEMO_DIR / "label_studio_export.simulated.json").read_text())
    ratings, rejected = parse_tasks(export)
    seen |= set(rejected["reason"])
    _, raters, _ = compute_mos(ratings)
    seen |= {code for reasons in raters["reason"] for code in reasons.split(",")}
    assert seen - set(REASONS) == set()
    assert {"empty_file", "truncated", "not_public", "unscorable", "photo_not_found", "kept"} <= seen


def test_the_per_stage_reason_sets_are_views_of_the_registry():
    from icaa.annotation.mos import SCREEN_REASONS
    from icaa.annotation.ratings import REJECT_REASONS as ANNOTATE
    from icaa.pipeline.balance import BALANCE_SKIPS
    from icaa.pipeline.build import BUILD_REJECTS
    from icaa.pipeline.crawl.popularity import ERROR_REASONS
    from icaa.pipeline.crawl.retry import PERMANENT_REASONS, TRANSIENT_REASONS
    from icaa.pipeline.fuse import FUSE_FLAGS
    from icaa.pipeline.rejects import REJECT_REASONS

    for view in (SCREEN_REASONS, ANNOTATE, BALANCE_SKIPS, BUILD_REJECTS, ERROR_REASONS, TRANSIENT_REASONS,
                 PERMANENT_REASONS, REJECT_REASONS):
        assert all(REASONS[code].sentence == sentence for code, sentence in view.items())
    assert set(ERROR_REASONS) == set(TRANSIENT_REASONS) | set(PERMANENT_REASONS) | {"no_photo_id", "missing_fields"}
    assert list(BUILD_REJECTS) == ["not_public", "licence_not_allowed", "no_mos", "low_confidence", "no_image"]
    assert set(FUSE_FLAGS) - set(REASONS) == {"ok", "harmony_only", "no_harmony"}


def test_categorical_text_and_infinite_numbers_are_checked_too():
    from icaa.pipeline.schemas import COARSE

    with pytest.raises(IcaaError, match="column category holds 'nope'"):
        check_values(pa.table({"category": pa.array(["nope"]).dictionary_encode()}), COARSE)
    with pytest.raises(IcaaError, match="column f_subj holds inf, outside >= 0"):
        check_values(pa.table({"f_subj": [1.0, float("inf")]}), COARSE)
    check_values(pa.table({"category": pa.array(["monochromatic/red"]).dictionary_encode()}), COARSE)


def test_nan_and_dictionary_nulls_count_as_null_and_large_strings_are_checked_against_the_declared_values():
    from icaa.pipeline.schemas import COARSE, REJECTS, SELECTION

    with pytest.raises(IcaaError, match="column coarse_score may not be empty, but 2 row"):
        check_values(pa.table({"coarse_score": pa.array([5.0, float("nan"), None], pa.float32())}), SELECTION)
    with pytest.raises(IcaaError, match="column category holds 'nope'"):
        check_values(pa.table({"category": pa.array(["monochromatic/red", None, "nope"], pa.large_string())}), COARSE)
    check_values(pa.table({"coarse_score": pa.chunked_array([[5.0], [1.0, 10.0]])}), SELECTION)
    null_in_dictionary = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["a.jpg", None]))
    with pytest.raises(IcaaError, match="column image_id may not be empty, but 1 row"):
        check_values(pa.table({"image_id": null_in_dictionary}), REJECTS)


def test_a_stage_names_only_reasons_registered_for_it():
    from icaa.pipeline.rejects import reasons_of

    assert list(reasons_of("balance", codes=("duplicate",))) == ["duplicate"]
    with pytest.raises(ValueError, match="not registered for the stage 'scan'"):
        reasons_of("scan", codes=("duplicate",))
