"""``icaa-data crawl``: popularity of known photos, and candidate search, from the Flickr API or a file."""

from __future__ import annotations

import os
import time
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from icaa.pipeline.cli._util import app, echo_summary
from icaa.pipeline.crawl.cache import ResponseCache
from icaa.pipeline.crawl.client import API_KEY_ENV, DEFAULT_ENDPOINT, FlickrClient
from icaa.pipeline.crawl.ids import MAX_PHOTO_ID
from icaa.pipeline.crawl.popularity import crawl_popularity, plan_popularity, popularity_from_table
from icaa.pipeline.crawl.ratelimit import RateLimiter
from icaa.pipeline.crawl.retry import RetryPolicy
from icaa.pipeline.crawl.search import MAX_PER_PAGE, REUSABLE_LICENCES, plan_search, search_candidates
from icaa.pipeline.contracts import check_table
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import read_table, write_table
from icaa.pipeline.schemas import CANDIDATES, POPULARITY

__all__ = ["crawl_app", "run_popularity", "run_search", "default_cache_dir", "plan_summary"]

crawl_app = typer.Typer(help="Fetch photo popularity (views, faves, licence) and search for candidate photos "
                             "on Flickr, or read popularity from a local table.", no_args_is_help=True)
app.add_typer(crawl_app, name="crawl")

CACHE_FILE = "flickr-api.sqlite"


class Source(str, Enum):
    flickr = "flickr"
    file = "file"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/icaa`` (``~/.cache/icaa``): answers are shared by every crawl of one user."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "icaa"


def plan_summary(plan: dict[str, Any], *, rate_per_hour: float, cache_path: Path) -> dict[str, Any]:
    """A dry run's summary: the calls, the hours they take at the rate, the cache hits skipped."""
    if rate_per_hour <= 0:
        raise IcaaError(f"--rate-per-hour must be positive, got {rate_per_hour}")
    return {"dry_run": "no API call made, nothing written", **plan, "rate_per_hour": rate_per_hour,
            "hours_at_rate": round(plan["calls"] / rate_per_hour, 3),
            "cache": str(cache_path) if cache_path.is_file() else f"{cache_path} (none yet: no hits)"}


def _cached_plan(cache_path: Path, planner) -> dict[str, Any]:
    """Run ``planner(cache)`` on the cache file when it exists (a dry run creates nothing)."""
    if not cache_path.is_file():
        return planner(None)
    with ResponseCache(cache_path) as cache:
        return planner(cache)


def _client(cache: ResponseCache, *, rate_per_hour: float, rate_window_s: float, workers: int, timeout_s: float,
            max_attempts: int, backoff_base_s: float, backoff_max_s: float) -> FlickrClient:
    return FlickrClient.from_environment(
        rate_limiter=RateLimiter.per_hour(rate_per_hour, window_s=rate_window_s, store=cache), cache=cache,
        retry=RetryPolicy(max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s),
        timeout_s=timeout_s, pool_size=max(workers, 2))


def run_popularity(images_parquet: Path | str, output: Path | str, *, source: str = "file",
                   source_path: Path | str | None = None, cache_dir: Path | str | None = None,
                   rate_per_hour: float = 3600, rate_window_s: float = 60.0, workers: int = 4,
                   timeout_s: float = 10.0, max_attempts: int = 5,
                   backoff_base_s: float = 1.0, backoff_max_s: float = 60.0, max_photo_id: int = MAX_PHOTO_ID,
                   attribution: Path | str | None = None, dry_run: bool = False,
                   show_progress: bool = False) -> dict[str, Any]:
    """Write ``popularity.parquet`` for every image of ``images_parquet``; return a summary.

    ``dry_run`` (``--source flickr``): count the calls from the cache, write nothing, call nothing.
    """
    started = time.time()
    images = read_table(images_parquet)
    check_table(images, "images", images_parquet, needed=["image_id"])
    if "image_id" not in images.columns:
        raise IcaaError(f"{images_parquet}: no image_id column; found {', '.join(map(str, images.columns))}")
    if attribution is not None and source != "file":
        raise IcaaError("--attribution applies to --source file (photos not from Flickr); the API gives "
                        "licence and owner itself")
    summary: dict[str, Any] = {"images": len(images), "source": source, "output": str(output)}
    if dry_run:
        if source != "flickr":
            raise IcaaError("--dry-run plans an API crawl: use it with --source flickr")
        cache_path = Path(cache_dir or default_cache_dir()) / CACHE_FILE
        plan = _cached_plan(cache_path, lambda cache: plan_popularity(images, cache, max_photo_id=max_photo_id))
        return {"images": len(images), **plan_summary(plan, rate_per_hour=rate_per_hour, cache_path=cache_path)}
    if source == "file":
        if source_path is None:
            raise IcaaError("--source file needs the table's path after it, "
                            "e.g. --source file data/demo/popularity.csv")
        frame = popularity_from_table(images, source_path, max_photo_id=max_photo_id, attribution=attribution)
        summary["source_path"] = str(source_path)
    elif source == "flickr":
        cache_path = Path(cache_dir or default_cache_dir()) / CACHE_FILE
        with ResponseCache(cache_path) as cache:
            client = _client(cache, rate_per_hour=rate_per_hour, rate_window_s=rate_window_s, workers=workers,
                             timeout_s=timeout_s,
                             max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s)
            bar = tqdm(total=0, unit="photo", disable=not show_progress, desc="crawl")

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(1)

            try:
                frame = crawl_popularity(images, client=client, workers=workers, max_photo_id=max_photo_id,
                                         progress=progress)
            finally:
                bar.close()
                client.close()
            summary.update(api_calls=client.counts["requests"], cache_hits=client.counts["cache_hits"],
                           retries=client.counts["retries"], cache=str(cache_path),
                           endpoint=client.endpoint if client.endpoint != DEFAULT_ENDPOINT else "public")
    else:
        raise IcaaError(f"--source must be flickr or file, got {source!r}")
    write_table(frame, output, schema=POPULARITY)
    summary["statuses"] = dict(Counter(frame["status"]).most_common())
    summary["seconds"] = round(time.time() - started, 2)
    return summary


def run_search(images_dir: Path | str, output: Path | str, *, text: str | None = None,
               tags: list[str] | None = None, colours: list[str] | None = None,
               licences: tuple[int, ...] = REUSABLE_LICENCES, limit: int = 100, size: str = "url_l",
               max_bytes: int = 20_000_000, cache_dir: Path | str | None = None, rate_per_hour: float = 3600,
               rate_window_s: float = 60.0,
               timeout_s: float = 10.0, max_attempts: int = 5, backoff_base_s: float = 1.0,
               backoff_max_s: float = 60.0, min_upload_date: str | None = None,
               max_upload_date: str | None = None, download_workers: int = 1, per_page: int = MAX_PER_PAGE,
               scheduler: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Search, download the public photos of allowed licences into ``images_dir``, write ``candidates.parquet``.

    Downloads run in ``download_workers`` local processes, or on the Dask cluster at ``scheduler``.
    ``dry_run``: count the calls from the cache, write nothing, call nothing.
    """
    started = time.time()
    cache_path = Path(cache_dir or default_cache_dir()) / CACHE_FILE
    if dry_run:
        plan = _cached_plan(cache_path, lambda cache: plan_search(
            cache, text=text, tags=tags, colours=colours, licences=licences, limit=limit, size=size,
            per_page=per_page, min_upload_date=min_upload_date, max_upload_date=max_upload_date))
        return {"limit": limit, **plan_summary(plan, rate_per_hour=rate_per_hour, cache_path=cache_path)}
    with ResponseCache(cache_path) as cache:
        client = _client(cache, rate_per_hour=rate_per_hour, rate_window_s=rate_window_s, workers=1,
                         timeout_s=timeout_s,
                         max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s)
        try:
            frame = search_candidates(client, images_dir, text=text, tags=tags, colours=colours, licences=licences,
                                      limit=limit, size=size, max_bytes=max_bytes, min_upload_date=min_upload_date,
                                      max_upload_date=max_upload_date, download_workers=download_workers,
                                      per_page=per_page, scheduler=scheduler or None)
        finally:
            client.close()
    write_table(frame, output, schema=CANDIDATES)
    return {"results": len(frame), "downloaded": int((frame["status"] == "ok").sum()),
            "statuses": dict(Counter(frame["status"]).most_common()), "api_calls": client.counts["requests"],
            "api_calls_per_1000_results": round(1000 * client.counts["requests"] / len(frame), 1) if len(frame)
            else None,
            "cache_hits": client.counts["cache_hits"], "images_dir": str(images_dir), "output": str(output),
            "seconds": round(time.time() - started, 2)}



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
    if api_key is not None:
        os.environ[API_KEY_ENV] = api_key  # the client reads it from there; never printed
    summary = run_popularity(images_parquet, output, source=source.value, source_path=source_path, cache_dir=cache,
                             rate_per_hour=rate_per_hour, rate_window_s=rate_window_s, workers=workers,
                             timeout_s=timeout_s,
                             max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
                             attribution=attribution, dry_run=dry_run, show_progress=True)
    echo_summary("crawl popularity (dry run)" if dry_run else "crawl popularity", summary)


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
    echo_summary("crawl search (dry run)" if dry_run else "crawl search", summary)
