"""``icaa-data show``: print any stage table as a readable listing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from icaa.pipeline.cli._util import app

__all__ = ["show_command"]


@app.command("show", epilog="Example: icaa-data show work/harmony/colour.parquet --limit 20; "
             "icaa-data show work/fuse/coarse.parquet --csv > coarse.csv")
def show_command(
    table: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                          help="Any stage table (.parquet or .csv): images, colour, popularity, "
                                               "coarse, selection, mos, a dataset's manifest, rejects, ...")],
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of aligned columns.")] = False,
    columns: Annotated[Optional[str], typer.Option(help="Comma-separated table columns to show instead of the "
                                                        "usual ones (image, class, dominant/auxiliary, scores).")]
        = None,
    sort: Annotated[Optional[str], typer.Option(help="Sort by this shown column (descending for numbers).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Show at most this many rows.")] = None,
) -> None:
    """Print any stage table as a readable listing: image, class, dominant/auxiliary colour and scores."""
    import pandas as pd

    from icaa.common.errors import IcaaError
    from icaa.pipeline.io import read_table
    from icaa.pipeline.show import format_listing, listing

    frame = read_table(table)
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    unknown = [c for c in wanted or [] if c not in frame.columns]
    if unknown:
        raise IcaaError(f"{table} has no column {', '.join(unknown)}; it has {', '.join(map(str, frame.columns))}")
    shown = listing(frame, wanted)
    if sort:
        if sort not in shown.columns:
            raise IcaaError(f"--sort {sort} is not a shown column; choose one of {', '.join(map(str, shown.columns))}")
        shown = shown.sort_values(sort, ascending=not pd.api.types.is_numeric_dtype(shown[sort]), kind="stable")
    total = len(shown)
    if limit:
        shown = shown.head(limit)
    if csv:
        typer.echo(shown.to_csv(index=False), nl=False)
        return
    typer.echo(format_listing(shown) if total else f"{table}: no rows")
    if limit and total > limit:
        typer.echo(f"... {total - limit} more rows ({total} in all)")
