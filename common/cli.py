"""What both console scripts (``icaa-data``, ``icaa-train``) share: plain click help, the printing of an
expected failure, the runner that turns :class:`~icaa.common.errors.IcaaError` into exit status 1, and the
console scripts' quick exit."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

import typer

from icaa.common.errors import IcaaError

__all__ = ["HELP_SETTINGS", "plain_help", "fail", "run_app", "exit_without_teardown"]

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


def exit_without_teardown(main: Callable[[], object]) -> NoReturn:
    """Run a console script's ``main`` and end the process with its exit status, skipping Python's module
    teardown.

    Tearing down numpy, pandas, pyarrow and OpenCV costs about 0.1 s at the end of every command, for a
    process that is ending anyway. The exit handlers still run (multiprocessing, logging and temporary-file
    clean-up register there) and both streams are flushed; only the freeing of modules is skipped. While a
    thread that is not a daemon still runs, the process ends the normal way, which waits for it. Only the
    console scripts use this: ``main`` itself raises SystemExit, for callers in the same process.
    """
    try:
        main()
        status: object = 0
    except SystemExit as done:
        status = done.code
    if any(thread.is_alive() and not thread.daemon for thread in threading.enumerate()
           if thread is not threading.main_thread()):
        raise SystemExit(status)
    if status is None:
        status = 0
    elif not isinstance(status, int):
        print(status, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            pass
    os._exit(status)
