"""``icaa-data annotate export|import``: the Label Studio round trip (label-studio-sdk: extra ``annotate``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.annotate import DEFAULT_TITLE
from icaa.pipeline.cli._util import app, echo_summary
from icaa.common.errors import IcaaError

__all__ = ["annotate_app", "export_command", "import_command"]

annotate_app = typer.Typer(name="annotate", no_args_is_help=True, add_completion=False,
                           help="Send photos to Label Studio and pull the ratings back.")
app.add_typer(annotate_app, name="annotate")


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
    from icaa.pipeline.annotate import run_export

    summary = run_export(selection_parquet, images_root=images_root, url_prefix=url_prefix, local_files=local_files,
                         document_root=document_root, anchors=anchors, anchor_pool=anchor_pool,
                         anchors_per_level=anchors_per_level, anchor_max_distance=anchor_max_distance,
                         overlap=overlap, project_title=project_title, offline=offline, url=url, api_key=api_key,
                         log=typer.echo)
    echo_summary(summary)


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
    from icaa.pipeline.annotate import run_import

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
    echo_summary(summary)
