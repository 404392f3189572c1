"""The root Typer app of ``icaa-data`` and helpers shared by the stage commands."""

from __future__ import annotations

import typer

from icaa.pipeline.errors import IcaaError

__all__ = ["app", "run_app", "fail", "echo_summary"]

app = typer.Typer(
    name="icaa-data",
    help="Build an image-colour-aesthetics dataset, stage by stage (scan, harmony-score, crawl, fuse, "
         "balance, annotate, mos, build, report).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def echo_summary(title: str, summary: dict) -> None:
    """Print a stage's summary: its title, then one indented ``key: value`` line per entry."""
    typer.echo(f"{title}:")
    for key, value in summary.items():
        typer.echo(f"  {key}: {value}")


def fail(error: IcaaError) -> typer.Exit:
    """Print an expected failure and return the exit to raise: ``raise fail(error) from None``."""
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def run_app(typer_app: typer.Typer) -> None:
    """Run an app, turning IcaaError into a message and exit status 1."""
    try:
        typer_app()
    except IcaaError as error:
        raise SystemExit(fail(error).exit_code) from None
