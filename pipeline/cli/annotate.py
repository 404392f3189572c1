"""``icaa-data annotate export|import``: the Label Studio round trip (label-studio-sdk: extra ``annotate``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Callable

import pandas as pd
import typer

from icaa.pipeline.cli._util import app, echo_summary
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import atomic_write_json, atomic_write_text, read_table, require_columns, write_table
from icaa.pipeline.schemas import ANNOTATION_REJECTS, RATINGS

__all__ = ["annotate_app", "run_export", "run_import"]

annotate_app = typer.Typer(name="annotate", no_args_is_help=True, add_completion=False,
                           help="Send photos to Label Studio and pull the ratings back.")
app.add_typer(annotate_app, name="annotate")

DEFAULT_TITLE = "icaa colour aesthetics"


def _anchors(selection: pd.DataFrame, anchors_file: Path | None, anchors_per_level: int) -> pd.DataFrame:
    from icaa.annotation.labelstudio import choose_anchors
    if anchors_file is None:
        if "coarse_score" not in selection.columns:
            return pd.DataFrame(columns=["image_id", "score"])
        return choose_anchors(selection, anchors_per_level=anchors_per_level)
    anchors = read_table(anchors_file)
    require_columns(anchors, ["image_id", "score"], str(anchors_file))
    bad = anchors[~pd.to_numeric(anchors["score"], errors="coerce").between(1, 10)]
    if len(bad):
        raise IcaaError(f"{anchors_file}: {len(bad)} anchor score(s) outside 1..10, e.g. "
                        f"{bad.iloc[0]['image_id']}={bad.iloc[0]['score']!r}")
    return anchors[["image_id", "score"]]


def run_export(selection_parquet: Path | str, *, images_root: Path | str = "data/demo", url_prefix: str | None = None,
               local_files: bool = False, document_root: Path | str | None = None, anchors: Path | str | None = None,
               anchors_per_level: int = 1, overlap: int = 3, project_title: str = DEFAULT_TITLE,
               offline: Path | str | None = None, url: str | None = None, api_key: str | None = None,
               log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Export the selection to a Label Studio project (or, with ``offline``, to tasks.json + label_config.xml)."""
    from icaa.annotation.labelstudio import (LOCAL_FILES_HELP, build_tasks, image_url, instructions_html,
                                             label_config)
    started = time.time()
    if overlap < 1:
        raise IcaaError(f"overlap must be at least 1 rating per task, got {overlap}")
    if (url_prefix is None) == (not local_files):
        raise IcaaError("give exactly one of --url-prefix URL or --local-files")
    selection = read_table(selection_parquet)
    require_columns(selection, ["image_id"], str(selection_parquet))
    duplicated = selection["image_id"][selection["image_id"].duplicated()]
    if len(duplicated):
        raise IcaaError(f"{selection_parquet}: {len(duplicated)} duplicated image_id(s), e.g. {duplicated.iloc[0]}")
    images_root = Path(images_root).resolve()
    missing = [i for i in selection["image_id"] if not (images_root / i).is_file()]
    if missing:
        raise IcaaError(f"{len(missing)} image(s) of the selection are not under {images_root}, e.g. {missing[0]}; "
                        f"pass --images-root")
    local_prefix = None
    if local_files:
        root = Path(document_root).resolve() if document_root else images_root.parent
        if root == images_root or root not in images_root.parents:
            raise IcaaError(f"--document-root {root} must be a strict parent of the image root {images_root}. "
                            f"{LOCAL_FILES_HELP}")
        local_prefix = images_root.relative_to(root).as_posix()
        log(f"local files: start the server with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true "
            f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root}")

    def url_for(image_id: str) -> str:
        return image_url(image_id, url_prefix=url_prefix, local_files_prefix=local_prefix)

    anchor_table = _anchors(selection, Path(anchors) if anchors else None, anchors_per_level)
    summary: dict[str, Any] = {"photos": len(selection), "anchors": len(anchor_table), "overlap": overlap}
    if offline is not None:
        out = Path(offline)
        tasks = build_tasks(selection, url_for)
        atomic_write_json(out / "tasks.json", tasks)
        atomic_write_text(out / "label_config.xml", label_config())
        atomic_write_text(out / "instructions.html", instructions_html(anchor_table, url_for))
        summary.update(mode="offline", tasks_written=len(tasks), outputs=[str(out / n) for n in
                                                                          ("tasks.json", "label_config.xml",
                                                                           "instructions.html")])
    else:
        from icaa.annotation.labelstudio import connect, export_to_project
        if not url:
            raise IcaaError("no Label Studio URL: set LABEL_STUDIO_URL or --url (or use --offline DIR)")
        client = connect(url, api_key)
        result = export_to_project(client, url, selection, title=project_title, overlap=overlap, url_for=url_for,
                                   anchors=anchor_table,
                                   local_files_path=str(images_root) if local_files else None)
        summary.update(mode="server", url=url, **result)
    summary["seconds"] = round(time.time() - started, 2)
    return summary


def run_import(output: Path | str, *, from_export: Path | str | None = None, rejects: Path | str | None = None,
               project_title: str = DEFAULT_TITLE, url: str | None = None, api_key: str | None = None,
               page_size: int = 100, on_page: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Pull every annotation (server or export file), validate, and upsert into ``output`` (incremental)."""
    from icaa.annotation.ratings import merge_ratings, parse_tasks
    started = time.time()
    output = Path(output)
    rejects_path = Path(rejects) if rejects else output.with_name("annotation_rejects.parquet")
    if rejects_path.resolve() == output.resolve():
        raise IcaaError(f"--rejects must differ from the output {output}")
    existing = read_table(output) if output.exists() else None
    if from_export is not None:
        from icaa.annotation.labelstudio import iter_export_file
        tasks = list(iter_export_file(Path(from_export)))
        source = str(from_export)
    else:
        from icaa.annotation.labelstudio import connect, fetch_tasks
        if not url:
            raise IcaaError("no Label Studio URL: set LABEL_STUDIO_URL or --url (or use --from-export FILE)")
        client = connect(url, api_key)
        tasks, _users = fetch_tasks(client, url, title=project_title, page_size=page_size, on_page=on_page)
        source = url
    fetched, rejected = parse_tasks(tasks)
    merged, counts = merge_ratings(existing, fetched, rejected["annotation_id"].dropna().astype(int))
    # rejects first: a crash between the writes leaves the old ratings, and a re-run rewrites both
    write_table(rejected, rejects_path, schema=ANNOTATION_REJECTS)
    write_table(merged, output, schema=RATINGS)
    return {"source": source, "tasks": len(tasks), "annotations_valid": len(fetched),
            "annotations_rejected": len(rejected),
            "rejects_by_reason": {k: int(v) for k, v in rejected["reason"].value_counts().items()},
            **counts, "ratings_total": len(merged), "images": int(merged["image_id"].nunique()),
            "raters": int(merged["rater"].nunique()), "output": str(output), "rejects_table": str(rejects_path),
            "seconds": round(time.time() - started, 2)}



UrlOption = Annotated[str | None, typer.Option("--url", envvar="LABEL_STUDIO_URL",
                                               help="Label Studio server URL (env LABEL_STUDIO_URL)")]
KeyOption = Annotated[str | None, typer.Option("--api-key", envvar="LABEL_STUDIO_API_KEY", show_default=False,
                                               help="API token (env LABEL_STUDIO_API_KEY); never printed")]
TitleOption = Annotated[str, typer.Option("--project-title", help="Label Studio project (looked up by title)")]


@annotate_app.command("export", epilog=(
    "Example: LABEL_STUDIO_URL=http://127.0.0.1:8080 LABEL_STUDIO_API_KEY=... icaa-data annotate export "
    "work/balance/selection.parquet --images-root data/demo --local-files --overlap 3.  "
    "Offline: icaa-data annotate export work/balance/selection.parquet --url-prefix https://example.org/imgs "
    "--offline work/annotate/offline"))
def export_command(
    selection_parquet: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                      help="selection.parquet from balance")],
    images_root: Annotated[Path, typer.Option(exists=True, file_okay=False,
                                              help="directory the image_ids are relative to")] = Path("data/demo"),
    url_prefix: Annotated[str | None, typer.Option(help="images served at URL_PREFIX/<image_id>")] = None,
    local_files: Annotated[bool, typer.Option(
        "--local-files", help="serve images through Label Studio's local-files storage (server settings: see "
                              "README)")] = False,
    document_root: Annotated[Path | None, typer.Option(
        help="the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: parent of --images-root)")] = None,
    anchors: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                 help="expert anchors table: image_id, score 1..10 "
                                                      "(default: chosen by coarse score)")] = None,
    anchors_per_level: Annotated[int, typer.Option(help="anchors per score level when chosen by coarse score")]
        = 1,
    overlap: Annotated[int, typer.Option(help="ratings wanted per photo (project maximum_annotations)")] = 3,
    project_title: TitleOption = DEFAULT_TITLE,
    offline: Annotated[Path | None, typer.Option(
        help="write tasks.json, label_config.xml and instructions.html here instead of talking to a server")]
        = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Create or update the Label Studio project and add the photos it does not have yet (idempotent)."""
    summary = run_export(selection_parquet, images_root=images_root, url_prefix=url_prefix, local_files=local_files,
                         document_root=document_root, anchors=anchors, anchors_per_level=anchors_per_level,
                         overlap=overlap, project_title=project_title, offline=offline, url=url, api_key=api_key,
                         log=typer.echo)
    echo_summary("annotate export", summary)


@annotate_app.command("import", epilog=(
    "Example: icaa-data annotate import -o work/annotate/ratings.parquet  (server from LABEL_STUDIO_URL / "
    "LABEL_STUDIO_API_KEY);  icaa-data annotate import --from-export data/demo/label_studio_export.simulated.json "
    "-o work/annotate/ratings.parquet"))
def import_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="ratings.parquet to create or update")],
    from_export: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                     help="read a Label Studio JSON export file, not a server")]
        = None,
    rejects: Annotated[Path | None, typer.Option(
        help="annotations not used, with reasons (default: annotation_rejects.parquet beside -o)")] = None,
    project_title: TitleOption = DEFAULT_TITLE,
    page_size: Annotated[int, typer.Option(help="tasks per API page")] = 100,
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Pull every annotation, validate each value, and add new / update edited ratings (nothing counted twice)."""
    pages = []

    def progress(page: int) -> None:
        pages.append(page)
        typer.echo(f"  page {page}", err=True)

    summary = run_import(output, from_export=from_export, rejects=rejects, project_title=project_title, url=url,
                         api_key=api_key, page_size=page_size, on_page=progress)
    echo_summary("annotate import", summary)
