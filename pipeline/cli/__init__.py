"""``icaa-data``: one sub-command per pipeline stage.

Each stage module defines a Typer app or command and is joined here; expected failures raise
``IcaaError``, which is printed and turned into exit status 1.
"""

from __future__ import annotations

from icaa.pipeline.cli._util import app, run_app

# Each stage module registers its command(s) on `app` when imported: one import line per stage module.
import icaa.pipeline.cli.scan  # noqa: E402,F401  (scan)
import icaa.pipeline.cli.harmony  # noqa: E402,F401  (harmony-score)
import icaa.pipeline.cli.crawl  # noqa: E402,F401  (crawl popularity, crawl search)
import icaa.pipeline.cli.fuse  # noqa: E402,F401  (fuse)
import icaa.pipeline.cli.balance  # noqa: E402,F401  (balance)
import icaa.pipeline.cli.build  # noqa: E402,F401  (build, resplit)
import icaa.pipeline.cli.report  # noqa: E402,F401  (report)
import icaa.pipeline.cli.annotate  # noqa: E402,F401  (annotate export, annotate import)
import icaa.pipeline.cli.mos  # noqa: E402,F401  (mos)
import icaa.pipeline.cli.plots  # noqa: E402,F401  (plots)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``icaa-data`` console script."""
    run_app(app)
