"""``icaa-data``: one sub-command per pipeline stage.

Each stage module defines a Typer command (or group) on the root app and is imported when that command is
used (:data:`icaa.pipeline.cli._util.COMMANDS`); expected failures raise ``IcaaError``, which is printed and
turned into exit status 1.
"""

from __future__ import annotations

from icaa.common.cli import exit_without_teardown, run_app
from icaa.pipeline.cli._util import COMMANDS, app

__all__ = ["COMMANDS", "app", "main", "console_main"]


def main() -> None:
    """Run ``icaa-data`` with ``sys.argv``; ends in SystemExit with the exit status."""
    run_app(app)


def console_main() -> None:
    """Entry point of the ``icaa-data`` console script: :func:`main`, then a quick exit."""
    exit_without_teardown(main)
