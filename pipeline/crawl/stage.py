"""The ``crawl`` stage's two commands around their cores: ``run_popularity`` (views, faves, licence of known
photos, from the Flickr API or a local table) and ``run_search`` (candidate photos found and downloaded).

The cores are :mod:`~icaa.pipeline.crawl.popularity` and :mod:`~icaa.pipeline.crawl.search`; this module
opens the answer cache, builds the rate-limited client over it, plans dry runs and writes the tables.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from icaa.pipeline.contracts import check_table
from icaa.pipeline.crawl.cache import ResponseCache
from icaa.pipeline.crawl.client import DEFAULT_ENDPOINT, FlickrClient
from icaa.pipeline.crawl.ids import MAX_PHOTO_ID
from icaa.pipeline.crawl.popularity import crawl_popularity, plan_popularity, popularity_from_table
from icaa.pipeline.crawl.ratelimit import RateLimiter
from icaa.pipeline.crawl.retry import RetryPolicy
from icaa.pipeline.crawl.search import MAX_PER_PAGE, REUSABLE_LICENCES, plan_search, search_candidates
from icaa.common.errors import IcaaError
from icaa.pipeline.io import read_table, write_table
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.schemas import CANDIDATES, POPULARITY
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = ["CACHE_FILE", "default_cache_dir", "plan_summary", "run_popularity", "run_search"]

#: The answer cache's file name in the cache folder.
CACHE_FILE = "flickr-api.sqlite"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/icaa`` (``~/.cache/icaa``): answers are shared by every crawl of one user."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "icaa"


def plan_summary(stage: str, plan: dict[str, Any], *, rate_per_hour: float, cache_path: Path,
                 counts: dict[str, Any] | None = None, figures: dict[str, Any] | None = None) -> StageSummary:
    """A dry run's summary: the calls, the hours they take at the rate, the cache hits skipped."""
    if rate_per_hour <= 0:
        raise IcaaError(f"--rate-per-hour must be positive, got {rate_per_hour}")
    return StageSummary(stage, counts={**(counts or {}), **plan}, dry_run=True, figures={
        **(figures or {}), "dry_run": "no API call made, nothing written", "rate_per_hour": rate_per_hour,
        "hours_at_rate": round(plan["calls"] / rate_per_hour, 3),
        "cache": str(cache_path) if cache_path.is_file() else f"{cache_path} (none yet: no hits)"})


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
                   show_progress: bool = False) -> StageSummary:
    """Write ``popularity.parquet`` for every image of ``images_parquet``; return a summary.

    ``dry_run`` (``--source flickr``): count the calls from the cache, write nothing, call nothing.
    """
    clock = Stopwatch()
    if not dry_run:
        refuse_overwriting_inputs({"-o": output}, {"IMAGES_PARQUET": images_parquet, "SOURCE_PATH": source_path,
                                                   "--attribution": attribution})
    images = read_table(images_parquet)
    check_table(images, "images", images_parquet, needed=["image_id"])
    if "image_id" not in images.columns:
        raise IcaaError(f"{images_parquet}: no image_id column; found {', '.join(map(str, images.columns))}")
    if attribution is not None and source != "file":
        raise IcaaError("--attribution applies to --source file (photos not from Flickr); the API gives "
                        "licence and owner itself")
    counts: dict[str, Any] = {"images": len(images)}
    figures: dict[str, Any] = {"source": source}
    if dry_run:
        if source != "flickr":
            raise IcaaError("--dry-run plans an API crawl: use it with --source flickr")
        cache_path = Path(cache_dir or default_cache_dir()) / CACHE_FILE
        plan = _cached_plan(cache_path, lambda cache: plan_popularity(images, cache, max_photo_id=max_photo_id))
        return plan_summary("crawl popularity", plan, counts=counts, rate_per_hour=rate_per_hour,
                            cache_path=cache_path)
    if source == "file":
        if source_path is None:
            raise IcaaError("--source file needs the table's path after it, "
                            "e.g. --source file data/demo/popularity.csv")
        frame = popularity_from_table(images, source_path, max_photo_id=max_photo_id, attribution=attribution)
        figures["source_path"] = str(source_path)
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
            counts.update(api_calls=client.counts["requests"], cache_hits=client.counts["cache_hits"],
                          retries=client.counts["retries"])
            figures.update(cache=str(cache_path),
                           endpoint=client.endpoint if client.endpoint != DEFAULT_ENDPOINT else "public")
    else:
        raise IcaaError(f"--source must be flickr or file, got {source!r}")
    write_table(frame, output, schema=POPULARITY)
    counts["statuses"] = dict(Counter(frame["status"]).most_common())
    return StageSummary("crawl popularity", counts=counts, figures=figures, outputs={"output": str(output)},
                        seconds=clock.seconds())


def run_search(images_dir: Path | str, output: Path | str, *, text: str | None = None,
               tags: list[str] | None = None, colours: list[str] | None = None,
               licences: tuple[int, ...] = REUSABLE_LICENCES, limit: int = 100, size: str = "url_l",
               max_bytes: int = 20_000_000, cache_dir: Path | str | None = None, rate_per_hour: float = 3600,
               rate_window_s: float = 60.0,
               timeout_s: float = 10.0, max_attempts: int = 5, backoff_base_s: float = 1.0,
               backoff_max_s: float = 60.0, min_upload_date: str | None = None,
               max_upload_date: str | None = None, download_workers: int = 1, per_page: int = MAX_PER_PAGE,
               scheduler: str | None = None, dry_run: bool = False) -> StageSummary:
    """Search, download the public photos of allowed licences into ``images_dir``, write ``candidates.parquet``.

    Downloads run in ``download_workers`` local processes, or on the Dask cluster at ``scheduler``.
    ``dry_run``: count the calls from the cache, write nothing, call nothing.
    """
    clock = Stopwatch()
    cache_path = Path(cache_dir or default_cache_dir()) / CACHE_FILE
    if dry_run:
        plan = _cached_plan(cache_path, lambda cache: plan_search(
            cache, text=text, tags=tags, colours=colours, licences=licences, limit=limit, size=size,
            per_page=per_page, min_upload_date=min_upload_date, max_upload_date=max_upload_date))
        return plan_summary("crawl search", plan, figures={"limit": limit}, rate_per_hour=rate_per_hour,
                            cache_path=cache_path)
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
    return StageSummary(
        "crawl search",
        counts={"results": len(frame), "downloaded": int((frame["status"] == "ok").sum()),
                "statuses": dict(Counter(frame["status"]).most_common()), "api_calls": client.counts["requests"],
                "cache_hits": client.counts["cache_hits"]},
        figures={"api_calls_per_1000_results": round(1000 * client.counts["requests"] / len(frame), 1) if len(frame)
                 else None},
        outputs={"images_dir": str(images_dir), "output": str(output)},
        seconds=clock.seconds())
