"""``icaa-data build`` (the published dataset, ICAA17K layout) and ``icaa-data resplit`` (ICAA17K, leak-free)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from icaa.pipeline.build import build_dataset, resplit_icaa17k
from icaa.pipeline.cli._util import app, echo_summary
from icaa.pipeline.contracts import check_table
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import is_inside, read_table
from icaa.pipeline.outputs import refuse_overwriting_inputs

__all__ = ["run_build", "run_resplit"]


def run_build(selection: Path | str, mos: Path | str, images: Path | str, output_dir: Path | str, *,
              extra: list[Path] | None = None, train_fraction: float = 0.8, val_fraction: float = 0.1,
              test_fraction: float = 0.1, seed: int = 0, bins: int = 10, min_probability: float = 0.5,
              link: bool = False, overwrite: bool = False, licences: str | None = None) -> dict[str, Any]:
    """Read the tables, write the dataset folder; return the summary."""
    started = time.time()
    inputs = {"--selection": selection, "--mos": mos, "--images": images,
              **{f"--extra {path}": path for path in extra or []}}
    refuse_overwriting_inputs({"-o": output_dir}, inputs)
    inside = [name for name, path in inputs.items() if is_inside(Path(output_dir).resolve(), Path(path).resolve())]
    if inside:
        raise IcaaError(f"the input {inside[0]} lies inside the output folder {output_dir}, which build replaces; "
                        "choose another output folder")
    tables = {}
    for kind, path in (("selection", selection), ("mos", mos), ("images", images)):
        tables[kind] = read_table(path)
        check_table(tables[kind], kind, path, needed=["image_id", "category"] if kind == "selection" else None)
    summary = build_dataset(tables["selection"], tables["mos"], tables["images"], output_dir,
                            extra_tables=[read_table(p) for p in extra or []], train_fraction=train_fraction,
                            val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, bins=bins,
                            min_probability=min_probability, link=link, overwrite=overwrite,
                            licences=licences)
    summary["seconds"] = round(time.time() - started, 2)
    return summary


def run_resplit(csv_dir: Path | str, output_dir: Path | str, **options: Any) -> dict[str, Any]:
    """Re-split an ICAA17K release by photo; return the summary."""
    return resplit_icaa17k(csv_dir, output_dir, **options)



@app.command("build", epilog="Example: icaa-data build --selection work/balance/selection.parquet "
             "--mos work/mos/mos.parquet --images work/scan/images.parquet --extra work/crawl/popularity.parquet "
             "-o dataset --licences 4,5,9,10")
def build_command(
    selection: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="selection.parquet from balance")],
    mos: Annotated[Path, typer.Option(exists=True, dir_okay=False, help=(
        "MOS table, Parquet (mos.parquet from icaa-data mos) or CSV (your own ratings): image_id, color, MOS, "
        "probability."))],
    images: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="images.parquet from scan (path, sha256)")],
    output_dir: Annotated[Path, typer.Option("-o", "--output", help="dataset folder to write (new or empty; "
                                                                    "see --overwrite)")],
    extra: Annotated[list[Path] | None, typer.Option(exists=True, dir_okay=False,
                                                     help="more per-image tables for the manifest (repeatable)")]
        = None,
    train_fraction: Annotated[float, typer.Option(help="share of photos in train")] = 0.8,
    val_fraction: Annotated[float, typer.Option(help="share of photos in val")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="share of photos in test")] = 0.1,
    seed: Annotated[int, typer.Option(help="split seed")] = 0,
    bins: Annotated[int, typer.Option(help="colour-score bins used to stratify")] = 10,
    min_probability: Annotated[float, typer.Option(help="keep rows whose mean confidence reaches this")] = 0.5,
    link: Annotated[bool, typer.Option("--link", help="hard-link images instead of copying them: saves space, "
                                                      "but a hard link IS the original photo, so editing a dataset "
                                                      "image edits the original")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace the dataset an earlier build wrote in "
                                                                "--output (refused if it holds other files)")]
        = False,
    licences: Annotated[str | None, typer.Option(
        help="licences to ship: Flickr ids and/or licence names, comma-separated, or 'any' [default: 4,5,7,8,9,10, "
             "the Flickr licences that allow redistribution in a dataset]", show_default=False)] = None,
) -> None:
    """Write the dataset in ICAA17K's layout with a photo-grouped split, manifest.parquet and DATASHEET.md."""
    echo_summary("build", run_build(selection, mos, images, output_dir, extra=extra, train_fraction=train_fraction,
                             val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, bins=bins,
                             min_probability=min_probability, link=link, overwrite=overwrite,
                             licences=licences))


@app.command("resplit", epilog="Example: icaa-data resplit ../shared/reference/icaa17k -o work/icaa17k_resplit "
             "--seed 0")
def resplit_command(
    csv_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                            help="folder with 1all.csv (or all.csv, or train+test CSVs)")],
    output_dir: Annotated[Path, typer.Option("-o", "--output", help="folder for train.csv, val.csv, test.csv")],
    images_root: Annotated[Path | None, typer.Option(exists=True, file_okay=False,
                                                     help="image root: also group by sha256 of the files")] = None,
    train_fraction: Annotated[float, typer.Option(help="share of photos in train")] = 0.8,
    val_fraction: Annotated[float, typer.Option(help="share of photos in val")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="share of photos in test")] = 0.1,
    seed: Annotated[int, typer.Option(help="split seed")] = 0,
) -> None:
    """Re-split ICAA17K by photo: report the input split's leaks and write a leak-free split."""
    echo_summary("resplit", run_resplit(csv_dir, output_dir, images_root=images_root, train_fraction=train_fraction,
                                 val_fraction=val_fraction, test_fraction=test_fraction, seed=seed))
