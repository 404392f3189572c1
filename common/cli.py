"""What both console scripts (``icaa-data``, ``icaa-train``) share: plain click help, the printing of an
expected failure, and the runner that turns :class:`~icaa.common.errors.IcaaError` into exit status 1."""

from __future__ import annotations

import typer

from icaa.common.errors import IcaaError

__all__ = ["HELP_SETTINGS", "plain_help", "fail", "run_app"]

#: Plain click help: every default and square bracket printed as written, and option names wrapped, never cut,
#: at any terminal width (Rich markup would eat ``[default 30]`` and its panels cut names at 80 columns).
HELP_SETTINGS = {"rich_markup_mode": None, "pretty_exceptions_enable": False, "add_completion": False}


def plain_help(command) -> None:
    """Plain click help for a command and, for a group such as ``crawl``, for each of its commands."""
    command.rich_markup_mode = None
    for sub_command in getattr(command, "commands", {}).values():
        plain_help(sub_command)


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
