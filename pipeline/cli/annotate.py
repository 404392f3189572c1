"""``icaa-data annotate export|import``: the Label Studio round trip (label-studio-sdk: extra ``annotate``)."""

from __future__ import annotations

import os
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


def _anchors(selection: pd.DataFrame, *, anchors_file: Path | None, anchor_pool: Path | None,
             anchors_per_level: int, anchor_max_distance: float) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(anchors, the selection left to rate, where the anchors came from); anchors are never rated photos."""
    from icaa.annotation.anchors import anchors_from_table, choose_anchors, excluded_ids
    if anchors_file is not None:
        anchors = anchors_from_table(read_table(anchors_file), str(anchors_file))
        rated = anchors[anchors["image_id"].isin(excluded_ids(selection))]
        if len(rated):
            raise IcaaError(f"{anchors_file}: {len(rated)} anchor photo(s) are also in the selection, e.g. "
                            f"{rated.iloc[0]['image_id']}; raters would be shown the answer: take them out of "
                            f"the anchors table or of the selection")
        return anchors, selection, f"table {anchors_file}"
    if anchor_pool is not None:
        pool = read_table(anchor_pool)
        require_columns(pool, ["image_id", "coarse_score"], str(anchor_pool))
        anchors = choose_anchors(pool, exclude=excluded_ids(selection), max_distance=anchor_max_distance,
                                 per_level=anchors_per_level)
        return anchors, selection, f"pool {anchor_pool} (photos not in the selection)"
    if "coarse_score" not in selection.columns:
        return pd.DataFrame(columns=["image_id", "score", "level", "source"]), selection, "none"
    anchors = choose_anchors(selection, max_distance=anchor_max_distance, per_level=anchors_per_level)
    rest = selection[~selection["image_id"].isin(anchors["image_id"])]
    return anchors, rest, "set aside from the selection (not sent as tasks)"


def run_export(selection_parquet: Path | str, *, images_root: Path | str, url_prefix: str | None = None,
               local_files: bool = False, document_root: Path | str | None = None, anchors: Path | str | None = None,
               anchor_pool: Path | str | None = None, anchors_per_level: int = 1,
               anchor_max_distance: float = 0.25, overlap: int = 3, project_title: str = DEFAULT_TITLE,
               offline: Path | str | None = None, url: str | None = None, api_key: str | None = None,
               log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Export the selection to a Label Studio project (or, with ``offline``, to tasks.json + label_config.xml).

    Anchors (``icaa.annotation.anchors``) come from the ``anchors`` table, else from ``anchor_pool`` (photos not in
    the selection), else are set aside from the selection and not sent as tasks.
    """
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
                        f"pass the directory the image_ids are relative to as --images-root")
    anchor_table, selection, anchor_origin = _anchors(
        selection, anchors_file=Path(anchors) if anchors else None,
        anchor_pool=Path(anchor_pool) if anchor_pool else None, anchors_per_level=anchors_per_level,
        anchor_max_distance=anchor_max_distance)
    missing = [i for i in anchor_table["image_id"] if not (images_root / i).is_file()]
    if missing:
        raise IcaaError(f"{len(missing)} anchor image(s) are not under {images_root}, e.g. {missing[0]}; anchors "
                        f"are served from --images-root like the photos")
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

    summary: dict[str, Any] = {
        "photos": len(selection), "anchors": len(anchor_table), "anchors_from": anchor_origin,
        "anchor_ids": [f"{row.level:g}: {row.image_id}" for row in anchor_table.itertuples(index=False)],
        "overlap": overlap}
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
               page_size: int = 100, on_page: Callable[[int], None] | None = None,
               pseudonym_key: str | None = None) -> dict[str, Any]:
    """Pull every annotation (server or export file), validate, and upsert into ``output`` (incremental).

    ``rater`` is the annotator's e-mail (from the server's user list), ``user<id>`` where an export file gives only
    the id, or, with ``pseudonym_key``, a stable pseudonym of either (``icaa.annotation.ratings.pseudonym``).
    """
    from icaa.annotation.ratings import merge_ratings, parse_tasks, pseudonym
    started = time.time()
    output = Path(output)
    rejects_path = Path(rejects) if rejects else output.with_name("annotation_rejects.parquet")
    if rejects_path.resolve() == output.resolve():
        raise IcaaError(f"--rejects must differ from the output {output}")
    if pseudonym_key is not None and len(pseudonym_key) < 16:
        raise IcaaError("the rater pseudonym key (ICAA_RATER_PSEUDONYM_KEY) must be at least 16 characters")
    existing = read_table(output) if output.exists() else None
    users: dict[int, str] = {}
    if from_export is not None:
        from icaa.annotation.labelstudio import iter_export_file
        tasks = list(iter_export_file(Path(from_export)))
        source = str(from_export)
    else:
        from icaa.annotation.labelstudio import connect, fetch_tasks
        if not url:
            raise IcaaError("no Label Studio URL: set LABEL_STUDIO_URL or --url (or use --from-export FILE)")
        client = connect(url, api_key)
        tasks, users = fetch_tasks(client, url, title=project_title, page_size=page_size, on_page=on_page)
        source = url
    fetched, rejected = parse_tasks(tasks, users)
    if pseudonym_key is not None:
        for table in (fetched, rejected):
            table["rater"] = table["rater"].map(lambda r: pseudonym(r, pseudonym_key) if isinstance(r, str) else r)
    merged, counts = merge_ratings(existing, fetched, rejected["annotation_id"].dropna().astype(int))
    # rejects first: a crash between the writes leaves the old ratings, and a re-run rewrites both
    write_table(rejected, rejects_path, schema=ANNOTATION_REJECTS)
    write_table(merged, output, schema=RATINGS)
    return {"source": source, "tasks": len(tasks), "annotations_valid": len(fetched),
            "annotations_rejected": len(rejected),
            "rejects_by_reason": {k: int(v) for k, v in rejected["reason"].value_counts().items()},
            **counts, "ratings_total": len(merged), "images": int(merged["image_id"].nunique()),
            "raters": int(merged["rater"].nunique()), "rater_ids": "pseudonyms" if pseudonym_key else
            ("e-mails" if users else "user<id> (the export file gives ids only)"),
            "output": str(output), "rejects_table": str(rejects_path),
            "seconds": round(time.time() - started, 2)}



UrlOption = Annotated[str | None, typer.Option("--url", envvar="LABEL_STUDIO_URL",
                                               help="Label Studio server URL (env LABEL_STUDIO_URL)")]
KeyOption = Annotated[str | None, typer.Option("--api-key", envvar="LABEL_STUDIO_API_KEY", show_default=False,
                                               help="API token (env LABEL_STUDIO_API_KEY); never printed")]
TitleOption = Annotated[str, typer.Option("--project-title", help="Label Studio project (looked up by title)")]


@annotate_app.command("export", epilog=(
    "Example: LABEL_STUDIO_URL=http://127.0.0.1:8080 LABEL_STUDIO_API_KEY=... icaa-data annotate export "
    "work/balance/selection.parquet --images-root data/demo --local-files --anchor-pool work/fuse/coarse.parquet "
    "--overlap 3.  "
    "Offline: icaa-data annotate export work/balance/selection.parquet --images-root data/demo "
    "--url-prefix https://example.org/imgs --offline work/annotate/offline"))
def export_command(
    selection_parquet: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                      help="selection.parquet from balance")],
    images_root: Annotated[Path, typer.Option(exists=True, file_okay=False,
                                              help="directory the image_ids are relative to (required)")],
    url_prefix: Annotated[str | None, typer.Option(help="images served at URL_PREFIX/<image_id>")] = None,
    local_files: Annotated[bool, typer.Option(
        "--local-files", help="serve images through Label Studio's local-files storage (server settings: see "
                              "README)")] = False,
    document_root: Annotated[Path | None, typer.Option(
        help="the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: parent of --images-root)")] = None,
    anchors: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help=(
        "anchors table: image_id, score 1..10, optional source (e.g. 'expert score', shown in the captions); "
        "none may be in the selection"))] = None,
    anchor_pool: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help=(
        "table of candidate anchors with image_id, coarse_score (e.g. work/fuse/coarse.parquet): anchors are "
        "chosen among its photos not in the selection. Without it or --anchors, anchors are set aside from the "
        "selection and not sent as tasks"))] = None,
    anchors_per_level: Annotated[int, typer.Option(help="anchors per level 2, 4, 6, 8 when chosen by coarse "
                                                        "score")] = 1,
    anchor_max_distance: Annotated[float, typer.Option(help=(
        "a level gets an anchor only from a photo whose coarse score is within this many points of it"))] = 0.25,
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
                         document_root=document_root, anchors=anchors, anchor_pool=anchor_pool,
                         anchors_per_level=anchors_per_level, anchor_max_distance=anchor_max_distance,
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
    rater_pseudonyms: Annotated[bool, typer.Option(
        "--rater-pseudonyms", help="store r-<HMAC-SHA256 of the e-mail> instead of the e-mail; the key comes from "
                                   "ICAA_RATER_PSEUDONYM_KEY (>= 16 characters, kept secret, never printed)")]
        = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Pull every annotation, validate each value, and add new / update edited ratings (nothing counted twice)."""
    pages = []

    def progress(page: int) -> None:
        pages.append(page)
        typer.echo(f"  page {page}", err=True)

    key = None
    if rater_pseudonyms:
        key = os.environ.get("ICAA_RATER_PSEUDONYM_KEY")
        if not key:
            raise IcaaError("--rater-pseudonyms needs the secret key in ICAA_RATER_PSEUDONYM_KEY (the same key gives "
                            "the same pseudonyms in every import)")
    summary = run_import(output, from_export=from_export, rejects=rejects, project_title=project_title, url=url,
                         api_key=api_key, page_size=page_size, on_page=progress, pseudonym_key=key)
    echo_summary("annotate import", summary)
