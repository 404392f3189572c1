"""``icaa-data balance``: coarse scores -> an even-binned selection per class."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.cli._util import app, echo_summary
from icaa.common.errors import IcaaError

__all__ = ["balance_command", "parse_quota_overrides"]


def parse_quota_overrides(values: list[str] | None) -> dict[str, int]:
    """``["monochromatic/red=300"]`` -> ``{"monochromatic/red": 300}``; IcaaError on a malformed item."""
    overrides: dict[str, int] = {}
    for item in values or []:
        name, _, count = item.partition("=")
        if not name or not count.strip().isdigit():
            raise IcaaError(f"--quota expects CLASS=COUNT such as monochromatic/red=300, got {item!r}")
        overrides[name.strip()] = int(count)
    return overrides


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
    from icaa.pipeline.balance import run_balance

    summary = run_balance(coarse_parquet, output, images=images, metrics=metrics, per_class=per_class,
                          quota_overrides=parse_quota_overrides(quota), bins=bins, score_min=score_min,
                          score_max=score_max, class_score_threshold=class_score_threshold, seed=seed)
    echo_summary(summary)
