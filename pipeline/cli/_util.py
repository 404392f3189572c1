"""The root Typer app of ``icaa-data`` and helpers shared by the stage commands.

The stage modules are imported only when their command runs (or shows its own help): ``icaa-data --help``
lists the commands from :data:`COMMANDS` without importing pandas, scipy, dask or torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import typer
from typer.core import TyperGroup

from icaa.common.cli import HELP_SETTINGS, plain_help
from icaa.pipeline.summary import StageSummary

__all__ = ["COMMANDS", "app", "interrupted", "echo_summary"]

#: Command name -> (module that registers it, one-line help shown by ``icaa-data --help``), in pipeline
#: order. The line is the command's own first docstring line (a test keeps them equal).
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("icaa.pipeline.cli.scan", "Describe each photo: id, hashes, size, format, EXIF camera, duplicate "
                                       "group; reject the rest with a reason."),
    "harmony-score": ("icaa.pipeline.cli.harmony", "Dominant and auxiliary colour, ICAA17K class (30 scores), "
                                                   "hue-template, Ou-Luo and colourfulness scores."),
    "crawl": ("icaa.pipeline.cli.crawl", "Fetch photo popularity (views, faves, licence) and search for candidate "
                                         "photos on Flickr, or read popularity from a local table."),
    "fuse": ("icaa.pipeline.cli.fuse", "Fuse harmony (f_obj) and popularity faves/sqrt(views) (f_subj, ICAA17K "
                                       "Eq. 7) into coarse scores 1..10."),
    "balance": ("icaa.pipeline.cli.balance", "Select per class an even spread over coarse-score bins; deficits "
                                             "move to the nearest bins and are reported."),
    "annotate": ("icaa.pipeline.cli.annotate", "Send photos to Label Studio and pull the ratings back."),
    "mos": ("icaa.pipeline.cli.mos", "Per-image colour and overall MOS, SDs, 95 % intervals and raters kept, with "
                                     "each rater's verdict."),
    "build": ("icaa.pipeline.cli.build", "Write the dataset in ICAA17K's layout with a photo-grouped split, "
                                         "manifest.parquet and DATASHEET.md."),
    "resplit": ("icaa.pipeline.cli.resplit", "Re-split ICAA17K by photo: report the input split's leaks and write a "
                                           "leak-free split."),
    "report": ("icaa.pipeline.cli.report", "Write one self-contained HTML report (plots and thumbnails embedded)."),
    "show": ("icaa.pipeline.cli.show", "Print any stage table as a readable listing: image, class, "
                                       "dominant/auxiliary colour and scores."),
    "plots": ("icaa.pipeline.cli.plots", "Render the plots declared in dvc.yaml to SVG and a self-contained HTML "
                                         "page, with no network."),
}


class LazyStageGroup(TyperGroup):
    """A command group that imports a stage's module only when that command is asked for."""

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, name: str):
        if name not in self.commands and name in COMMANDS:
            importlib.import_module(COMMANDS[name][0])
            command = typer.main.get_group(app).commands.get(name)
            if command is not None:
                plain_help(command)
                self.add_command(command, name)
        return self.commands.get(name)

    def format_commands(self, ctx, formatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short_help) for name, (_module, short_help) in COMMANDS.items()])


app = typer.Typer(name="icaa-data", cls=LazyStageGroup, no_args_is_help=True, **HELP_SETTINGS)


@app.callback()
def _root() -> None:
    """Build an image-colour-aesthetics dataset, stage by stage (scan, harmony-score, crawl, fuse, balance,
    annotate, mos, build, report; show prints any stage table).

    Example: icaa-data scan photos -o work/scan/images.parquet
    """


def echo_summary(summary: StageSummary) -> None:
    """Print a stage's summary: its title, then one indented ``key: value`` line per entry."""
    for line in summary.lines():
        typer.echo(line)


def interrupted(stage: str, work_dir: Path, chunk_size: int) -> typer.Exit:
    """Ctrl-C during a chunked stage: say what was kept and how to resume; return the exit (status 130, as a
    shell reports SIGINT) to raise: ``raise interrupted(...) from None``."""
    done = len(list(Path(work_dir).glob("part-*.done"))) if Path(work_dir).is_dir() else 0
    typer.secho(f"{stage}: interrupted; {done} finished chunk(s) of up to {chunk_size} images are kept in "
                f"{work_dir}; run the same command again to resume from them", fg=typer.colors.YELLOW, err=True)
    return typer.Exit(code=130)
