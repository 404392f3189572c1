"""``icaa-data balance``: coarse scores -> an even-binned selection per class."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from icaa.pipeline.balance import balance_pool
from icaa.pipeline.cli._util import app, echo_summary
from icaa.pipeline.contracts import check_table
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import atomic_write_json, read_table, write_table
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.schemas import SELECTION

__all__ = ["run_balance", "parse_quota_overrides", "shortfall_sentence", "HEADLINE_METRICS"]

#: What ``--metrics`` holds (a DVC metric: so that ``dvc metrics show`` over every stage fits a terminal);
#: the other totals and the per-class, per-bin detail go to ``balance_per_class.json`` beside the selection.
HEADLINE_METRICS = ("selected", "unmet")
SUMMARY_METRICS = ("rows_in", "photos", "multi_class_photos", "selected", "quota", "fraction_met", "unmet",
                   "kl_from_uniform_max", "skipped")


def shortfall_sentence(metrics: dict[str, Any]) -> str:
    """One line saying why fewer photos were selected than the quota asked for (or that none are missing)."""
    if metrics["unmet"] == 0 and metrics["selected"] >= metrics["quota"]:
        return f"every class quota met ({metrics['selected']} photos)"
    per_class = metrics["per_class"]
    candidates = sum(sum(m["candidates_per_bin"]) for m in per_class.values())
    short = [name for name, m in per_class.items() if m["unmet"] > 0]
    empty = [name for name, m in per_class.items() if sum(m["candidates_per_bin"]) == 0]
    return (f"{metrics['selected']} of {metrics['quota']} wanted ({metrics['fraction_met']:.1%}): the pool has only "
            f"{metrics['photos']} photos ({candidates} class candidates) for {len(per_class)} class quotas; "
            f"{len(short)} classes fall short, {len(empty)} have no candidate at all; lower --per-class or add photos")


def parse_quota_overrides(values: list[str] | None) -> dict[str, int]:
    """``["monochromatic/red=300"]`` -> ``{"monochromatic/red": 300}``; IcaaError on a malformed item."""
    overrides: dict[str, int] = {}
    for item in values or []:
        name, _, count = item.partition("=")
        if not name or not count.strip().isdigit():
            raise IcaaError(f"--quota expects CLASS=COUNT such as monochromatic/red=300, got {item!r}")
        overrides[name.strip()] = int(count)
    return overrides


def run_balance(coarse_parquet: Path | str, output: Path | str, *, images: Path | str | None = None,
                metrics: Path | str | None = None, per_class: int = 500, quota_overrides: dict[str, int] | None = None,
                bins: int = 10, score_min: float = 1.0, score_max: float = 10.0, class_score_threshold: float = 0.5,
                seed: int = 0) -> dict[str, Any]:
    """Write ``selection.parquet`` and the balance metrics JSON; return the summary."""
    started = time.time()
    metrics_path = Path(metrics) if metrics else Path(output).with_name("balance.json")
    details_path = Path(output).with_name("balance_per_class.json")
    refuse_overwriting_inputs({"-o": output, "--metrics": metrics_path, "per-class details": details_path},
                              {"COARSE_PARQUET": coarse_parquet, "--images": images})
    pool = read_table(coarse_parquet)
    check_table(pool, "coarse", coarse_parquet)
    images_table = read_table(images, columns=None) if images else None
    if images_table is not None:
        check_table(images_table, "images", images, needed=["image_id"])
    selection, balance_metrics = balance_pool(pool, images=images_table, per_class=per_class,
                                              quota_overrides=quota_overrides, bins=bins, score_min=score_min,
                                              score_max=score_max, class_score_threshold=class_score_threshold,
                                              seed=seed)
    write_table(selection, output, schema=SELECTION)
    atomic_write_json(metrics_path, {key: balance_metrics[key] for key in HEADLINE_METRICS})
    atomic_write_json(details_path, {key: balance_metrics[key] for key in SUMMARY_METRICS}
                      | {"bins": bins, "seed": seed, "per_class": balance_metrics["per_class"]})
    return {key: balance_metrics[key] for key in SUMMARY_METRICS} | {
        "shortfall": shortfall_sentence(balance_metrics), "output": str(output), "metrics": str(metrics_path),
        "per_class_details": str(details_path), "seconds": round(time.time() - started, 2)}


@app.command("balance", epilog="Example: icaa-data balance work/fuse/coarse.parquet -o work/balance/selection.parquet "
             "--images work/scan/images.parquet --per-class 500 --bins 10 --seed 0 --metrics metrics/balance.json")
def balance_command(
    coarse_parquet: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                   help="coarse.parquet from fuse (image_id, category, coarse_score)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="selection.parquet to write")],
    images: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                help="images.parquet from scan (duplicate groups)")] = None,
    metrics: Annotated[Path | None, typer.Option(help="headline metrics JSON (default: balance.json beside -o); "
                                                      "per-class detail goes to balance_per_class.json beside -o")]
        = None,
    per_class: Annotated[int, typer.Option(help="photos per class (ICAA17K: 500)")] = 500,
    quota: Annotated[list[str] | None, typer.Option(help="per-class override CLASS=COUNT, repeatable")] = None,
    bins: Annotated[int, typer.Option(help="equal-width coarse-score bins")] = 10,
    score_min: Annotated[float, typer.Option(help="lower end of the binned range")] = 1.0,
    score_max: Annotated[float, typer.Option(help="upper end of the binned range")] = 10.0,
    class_score_threshold: Annotated[float, typer.Option(
        help="a photo also qualifies for classes whose class score reaches this")] = 0.5,
    seed: Annotated[int, typer.Option(help="seed of the order among equal candidates")] = 0,
) -> None:
    """Select per class an even spread over coarse-score bins; deficits move to the nearest bins and are reported."""
    summary = run_balance(coarse_parquet, output, images=images, metrics=metrics, per_class=per_class,
                          quota_overrides=parse_quota_overrides(quota), bins=bins, score_min=score_min,
                          score_max=score_max, class_score_threshold=class_score_threshold, seed=seed)
    echo_summary("balance", summary)
