"""``icaa-data crawl``: popularity of known photos, and candidate search, from the Flickr API or a file."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from icaa.pipeline.cli._util import app, echo_summary
from icaa.pipeline.crawl.client import API_KEY_ENV
from icaa.pipeline.crawl.search import MAX_PER_PAGE, REUSABLE_LICENCES
from icaa.common.errors import IcaaError

__all__ = ["crawl_app", "popularity_command", "search_command"]

crawl_app = typer.Typer(help="Fetch photo popularity (views, faves, licence) and search for candidate photos "
                             "on Flickr, or read popularity from a local table.", no_args_is_help=True)
app.add_typer(crawl_app, name="crawl")

class Source(str, Enum):
    flickr = "flickr"
    file = "file"


@crawl_app.command("popularity", epilog="Example: icaa-data crawl popularity work/scan/images.parquet "
                   "-o work/crawl/popularity.parquet --source file data/demo/popularity.csv\n\n"
                   "Online: FLICKR_API_KEY=... icaa-data crawl popularity images.parquet -o popularity.parquet "
                   "--source flickr --cache ~/.cache/icaa --rate-per-hour 3600 --workers 4 [--dry-run]")
def popularity_command(
    images_parquet: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                   help="images.parquet from scan (image_id, optional photo_id)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="popularity.parquet to write")],
    source: Annotated[Source, typer.Option(help="flickr: ask the API; file: read a local table (offline)")] =
        Source.file,
    source_path: Annotated[Path | None, typer.Argument(
        exists=True, dir_okay=False, help="with --source file: CSV/Parquet with image_id or photo_id, views, faves, "
                                          "[owner, licence, posted_at]")] = None,
    cache: Annotated[Path | None, typer.Option(help="folder of the SQLite answer cache (default ~/.cache/icaa)")]
        = None,
    rate_per_hour: Annotated[float, typer.Option(help="API calls per hour at most, over all threads and restarts")]
        = 3600,
    rate_window_s: Annotated[float, typer.Option(help="the rate is enforced over every window of this length")]
        = 60.0,
    workers: Annotated[int, typer.Option(help="threads (hide latency; never exceed the rate)")] = 4,
    timeout_s: Annotated[float, typer.Option(help="timeout of one request, seconds")] = 10.0,
    max_attempts: Annotated[int, typer.Option(help="requests per call at most (retries of transient failures)")]
        = 5,
    backoff_base_s: Annotated[float, typer.Option(help="first retry waits up to this, doubling each time")] = 1.0,
    backoff_max_s: Annotated[float, typer.Option(help="longest wait between retries, seconds")] = 60.0,
    attribution: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help="with --source file: table of image_id (or file), author, licence name "
                                          "for photos not from Flickr; it sets licence and owner")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the calls, hours at the rate and cache hits; "
                                                           "call nothing, write nothing")] = False,
    api_key: Annotated[str | None, typer.Option(envvar=API_KEY_ENV, show_default=False, show_envvar=True,
                                                help="Flickr API key (set the environment variable; never "
                                                     "echoed)")] = None,
) -> None:
    """Fetch views, faves, licence, owner, visibility and upload date for every image; each gets a status.

    Photo ids come from a photo_id column, else from ICAA17K-style names <owner><photo id>.jpg.
    A photo that is not public gets status private. The endpoint is $ICAA_FLICKR_API_URL (default
    the public API).
    """
    from icaa.pipeline.crawl.stage import run_popularity

    if api_key is not None:
        os.environ[API_KEY_ENV] = api_key  # the client reads it from there; never printed
    summary = run_popularity(images_parquet, output, source=source.value, source_path=source_path, cache_dir=cache,
                             rate_per_hour=rate_per_hour, rate_window_s=rate_window_s, workers=workers,
                             timeout_s=timeout_s,
                             max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
                             attribution=attribution, dry_run=dry_run, show_progress=True)
    echo_summary(summary)


@crawl_app.command("search", epilog="Example: FLICKR_API_KEY=... icaa-data crawl search --text 'red door' "
                   "--colour red --limit 200 --images-dir data/candidates -o work/crawl/candidates.parquet\n\n"
                   "Plan first: icaa-data crawl search --text 'red door' --limit 4000 --images-dir data/candidates "
                   "-o candidates.parquet --dry-run")
def search_command(
    images_dir: Annotated[Path, typer.Option(file_okay=False, help="image root the photos are downloaded into")],
    output: Annotated[Path, typer.Option("-o", "--output", help="candidates.parquet to write")],
    text: Annotated[str | None, typer.Option(help="free-text search")] = None,
    tags: Annotated[list[str] | None, typer.Option("--tags", help="tag that must be present (repeatable)")] = None,
    colour: Annotated[list[str] | None, typer.Option("--colour", help="Flickr colour filter, e.g. red, darkorange, "
                                                                      "palepink (repeatable)")] = None,
    limit: Annotated[int, typer.Option(help="unique results to consider at most")] = 100,
    licences: Annotated[str, typer.Option(help="allowed Flickr licence ids, comma-separated (default: those that "
                                               "allow redistribution in a dataset: CC BY, CC BY-SA, CC0, public "
                                               "domain)")] = ",".join(map(str, REUSABLE_LICENCES)),
    size: Annotated[str, typer.Option(help="size extra to download: url_l (1024 px), url_c, url_b, url_o")] =
        "url_l",
    max_bytes: Annotated[int, typer.Option(help="largest file downloaded, bytes")] = 20_000_000,
    min_upload_date: Annotated[str | None, typer.Option(help="slice: uploaded on/after (YYYY-MM-DD)")] = None,
    max_upload_date: Annotated[str | None, typer.Option(help="slice: uploaded before (YYYY-MM-DD)")] = None,
    cache: Annotated[Path | None, typer.Option(help="folder of the SQLite answer cache (default ~/.cache/icaa)")]
        = None,
    rate_per_hour: Annotated[float, typer.Option(help="API calls per hour at most")] = 3600,
    timeout_s: Annotated[float, typer.Option(help="timeout of one request, seconds")] = 10.0,
    per_page: Annotated[int, typer.Option(help="results per search page (the API's maximum is 500)")] =
        MAX_PER_PAGE,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the calls, hours at the rate and cache hits; "
                                                           "call nothing, write nothing")] = False,
    download_workers: Annotated[int, typer.Option(help="local processes that download the photo files")] = 1,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler tcp://HOST:PORT for the download step "
                                                       "(workers must share the image root)")] = None,
    api_key: Annotated[str | None, typer.Option(envvar=API_KEY_ENV, show_default=False, show_envvar=True,
                                                help="Flickr API key (set the environment variable; never "
                                                     "echoed)")] = None,
) -> None:
    """Search Flickr by text, tags and colour; download public photos of allowed licences under a byte cap.

    Views and faves come from the search pages' extras (500 photos a call); getInfo/getFavorites are
    called only for rows without them. A query yields about 4,000 unique results at most: slice larger
    ones by upload date.
    """
    from icaa.pipeline.crawl.stage import run_search

    if api_key is not None:
        os.environ[API_KEY_ENV] = api_key
    try:
        allowed = tuple(int(part) for part in licences.split(",") if part.strip())
    except ValueError:
        raise IcaaError(f"--licences must be comma-separated licence ids such as 4,5,9,10; got {licences!r}") from None
    summary = run_search(images_dir, output, text=text, tags=tags, colours=colour, licences=allowed, limit=limit,
                         size=size, max_bytes=max_bytes, cache_dir=cache, rate_per_hour=rate_per_hour,
                         timeout_s=timeout_s, min_upload_date=min_upload_date, max_upload_date=max_upload_date,
                         download_workers=download_workers, per_page=per_page, scheduler=scheduler,
                         dry_run=dry_run)
    echo_summary(summary)
