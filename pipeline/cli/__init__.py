"""``icaa-data``: one sub-command per pipeline stage.

Each stage module defines a Typer command (or group) on the root app and is imported when that command is
used (:data:`icaa.pipeline.cli._util.COMMANDS`); expected failures raise ``IcaaError``, which is printed and
turned into exit status 1.
"""

from __future__ import annotations

from icaa.common.cli import run_app
from icaa.pipeline.cli._util import COMMANDS, app

__all__ = ["COMMANDS", "app", "main"]


def main() -> None:
    """Entry point of the ``icaa-data`` console script."""
    run_app(app)
