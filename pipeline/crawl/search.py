"""Candidate acquisition: search Flickr, keep public photos of allowed licences, download a chosen size.

:func:`search_photos` pages through ``flickr.photos.search`` (at most ``limit`` unique photos, 500 a
page; a query yields about 4,000 unique results at most, after which pages repeat, so it stops at the
first page that adds nothing new: slice bigger queries with ``min_upload_date``/``max_upload_date``).
Each page carries the popularity of its photos as extras (``views``, ``count_faves``) and their
visibility (``ispublic``), so 1,000 photos cost 2 calls. :func:`search_candidates` reads them, makes a
per-photo call only for a row whose extras are missing or malformed (``getInfo`` for views and
visibility, ``getFavorites`` for the fave total), drops photos that are not public (status ``private``,
never downloaded) or whose licence is not allowed, downloads the others as ``<owner><photo id>.jpg``
(ICAA17K naming, so that ``crawl popularity`` parses it back) through a temporary file and a rename,
and returns one row per result with a status from :data:`CANDIDATE_STATUSES`. :func:`plan_search`
counts the calls a search will make, from the cache alone.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from icaa.pipeline.crawl.cache import ResponseCache
from icaa.pipeline.crawl.client import CallFailed, FlickrClient, answer_status
from icaa.pipeline.crawl.licences import REDISTRIBUTABLE_LICENCES
from icaa.pipeline.crawl.popularity import is_public
from icaa.common.errors import IcaaError
from icaa.common.files import apply_umask
from icaa.pipeline.partitions import run_partitioned
from icaa.pipeline.schemas import CANDIDATE_STATUS_VALUES, CANDIDATES, DOWNLOADS

__all__ = [
    "REUSABLE_LICENCES",
    "FLICKR_COLOUR_CODES",
    "CANDIDATE_STATUSES",
    "MAX_PER_PAGE",
    "search_query",
    "search_photos",
    "search_row_popularity",
    "search_candidates",
    "plan_search",
]

#: The default licence filter (see :mod:`icaa.pipeline.crawl.licences`).
REUSABLE_LICENCES: tuple[int, ...] = REDISTRIBUTABLE_LICENCES
#: Flickr's colour filter (``color_codes``, used by flickr.com's search; undocumented, best effort).
FLICKR_COLOUR_CODES = {"red": "0", "darkorange": "1", "orange": "2", "palepink": "b", "lemonyellow": "4",
                       "schoolbusyellow": "3", "green": "5", "darklimegreen": "6", "cyan": "7", "blue": "8",
                       "violet": "9", "pink": "a", "white": "c", "gray": "d", "black": "e"}
CANDIDATE_STATUSES: tuple[str, ...] = CANDIDATE_STATUS_VALUES
MAX_PER_PAGE = 500

_SEARCH_EXTRAS = "license,owner_name,date_upload,views,count_faves,{size}"
_SEARCH = "flickr.photos.search"
_GET_INFO, _GET_FAVES = "flickr.photos.getInfo", "flickr.photos.getFavorites"


def _count(value: Any) -> int | None:
    """A count as the API writes it (a string of digits), else None (missing or malformed)."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


def search_query(*, text: str | None = None, tags: list[str] | None = None, colours: list[str] | None = None,
                 licences: tuple[int, ...] = REUSABLE_LICENCES, size: str = "url_l", per_page: int = MAX_PER_PAGE,
                 min_upload_date: str | None = None, max_upload_date: str | None = None) -> dict[str, Any]:
    """The arguments of every search page but ``page`` (no key): what the cache is keyed on."""
    if not text and not tags:
        raise IcaaError("give --text or --tags to search")
    if per_page < 1:
        raise IcaaError(f"--per-page must be at least 1, got {per_page}")
    query: dict[str, Any] = {"media": "photos", "safe_search": 1, "sort": "relevance",
                             "extras": _SEARCH_EXTRAS.format(size=size), "per_page": min(per_page, MAX_PER_PAGE)}
    if text:
        query["text"] = text
    if tags:
        query["tags"], query["tag_mode"] = ",".join(tags), "all"
    if colours:
        unknown = [c for c in colours if c.replace(" ", "").replace("_", "").lower() not in FLICKR_COLOUR_CODES]
        if unknown:
            raise IcaaError(f"unknown colour(s) {', '.join(unknown)}; expected one of "
                            f"{', '.join(FLICKR_COLOUR_CODES)}")
        query["color_codes"] = ",".join(FLICKR_COLOUR_CODES[c.replace(" ", "").replace("_", "").lower()]
                                        for c in colours)
    if licences:
        query["license"] = ",".join(str(licence) for licence in licences)
    if min_upload_date:
        query["min_upload_date"] = min_upload_date
    if max_upload_date:
        query["max_upload_date"] = max_upload_date
    return query


def _add_page(found: dict[str, dict[str, Any]], payload: dict[str, Any], fetched_at: float, limit: int
              ) -> tuple[int, int]:
    """Add a page's new photos to ``found`` (up to ``limit``); return (added, pages the query has)."""
    photos = payload.get("photos") or {}
    added = 0
    for item in photos.get("photo") or []:
        if str(item.get("id")) not in found and len(found) < limit:
            found[str(item["id"])] = {**item, "_fetched_at": fetched_at}
            added += 1
    return added, _count(photos.get("pages")) or 1


def search_photos(client: FlickrClient, *, limit: int = 100, **query_options: Any
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Up to ``limit`` unique photos of a search, in result order, and the query (without the key).

    ``query_options`` are those of :func:`search_query`.
    """
    if limit < 1:
        raise IcaaError(f"--limit must be at least 1, got {limit}")
    query = search_query(**query_options)
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while len(found) < limit:
        answer = client.call(_SEARCH, page=page, **query)
        if not answer.ok:
            raise IcaaError(f"flickr.photos.search failed: code {answer.payload.get('code')}: "
                            f"{answer.payload.get('message', '')}")
        added, pages = _add_page(found, answer.payload, answer.fetched_at, limit)
        if added == 0 or page >= pages:
            break
        page += 1
    return list(found.values()), query


def search_row_popularity(item: dict[str, Any]) -> dict[str, Any]:
    """Views, faves and visibility of one search row, and the per-photo calls its gaps need.

    ``public`` is True, False or None (no ``ispublic`` in the row); ``calls`` lists ``getInfo`` when
    views or visibility is missing or malformed and ``getFavorites`` when the fave count is.

    >>> search_row_popularity({"views": "12", "count_faves": "3", "ispublic": 1})["calls"]
    []
    >>> search_row_popularity({"views": "12", "count_faves": "n/a", "ispublic": 0})
    {'views': 12, 'faves': None, 'public': False, 'calls': ['flickr.photos.getFavorites']}
    """
    views, faves = _count(item.get("views")), _count(item.get("count_faves"))
    public = is_public(item)
    calls = [_GET_INFO] if views is None or public is None else []
    if faves is None:
        calls.append(_GET_FAVES)
    return {"views": views, "faves": faves, "public": public, "calls": calls}


def _download(session: requests.Session, url: str, destination: Path, *, max_bytes: int, timeout_s: float,
              attempts: int = 3) -> tuple[int, str]:
    """Stream ``url`` into ``destination`` atomically: (bytes, sha256); raises CallFailed."""
    for attempt in range(1, attempts + 1):
        try:
            with session.get(url, stream=True, timeout=timeout_s) as response:
                if response.status_code == 404:
                    raise CallFailed("http_error", "HTTP 404 for the photo file")
                if response.status_code >= 400:
                    raise CallFailed("server_error" if response.status_code >= 500 else "http_error",
                                     f"HTTP {response.status_code} for the photo file")
                declared = int(response.headers.get("Content-Length") or 0)
                if declared > max_bytes:
                    raise CallFailed("too_large", f"{declared} bytes declared, cap {max_bytes}")
                destination.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
                try:
                    apply_umask(tmp_name)
                    with os.fdopen(fd, "wb") as handle:
                        for chunk in response.iter_content(65536):
                            size += len(chunk)
                            if size > max_bytes:
                                raise CallFailed("too_large", f"more than {max_bytes} bytes")
                            digest.update(chunk)
                            handle.write(chunk)
                    os.replace(tmp_name, destination)
                finally:
                    Path(tmp_name).unlink(missing_ok=True)
                return size, digest.hexdigest()
        except requests.Timeout:
            reason = "timeout"
        except requests.RequestException:
            reason = "connection"
        except CallFailed as failure:
            if failure.reason != "server_error" or attempt == attempts:
                raise
            reason = failure.reason
        if attempt == attempts:
            raise CallFailed(reason, f"photo file: {reason} after {attempts} attempts")
        time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def download_chunk(rows: pd.DataFrame, *, max_bytes: int, timeout_s: float) -> dict[str, pd.DataFrame]:
    """Chunk core of the download step: fetch each ``url`` to ``path`` (skipping files already there).

    Runs in any process or Dask worker: it needs only the file URLs (which carry no API key) and storage
    shared with the caller.
    """
    results = []
    with requests.Session() as session:
        for image_id, url, path in zip(rows["image_id"], rows["url"], rows["path"]):
            destination = Path(path)
            try:
                if destination.is_file():
                    size_bytes = destination.stat().st_size
                    digest = hashlib.sha256(destination.read_bytes()).hexdigest()
                    status, detail = "exists", "already downloaded; not fetched again"
                else:
                    size_bytes, digest = _download(session, url, destination, max_bytes=max_bytes,
                                                   timeout_s=timeout_s)
                    status, detail = "ok", None
                results.append({"image_id": image_id, "status": status, "detail": detail, "bytes": size_bytes,
                                "sha256": digest})
            except CallFailed as failure:
                results.append({"image_id": image_id, "detail": failure.detail, "bytes": None, "sha256": None,
                                "status": "too_large" if failure.reason == "too_large" else f"error:{failure.reason}"})
    return {"downloads": pd.DataFrame(results)}


def _fill_gaps(client: FlickrClient, row: dict[str, Any], calls: list[str]) -> None:
    """Per-photo calls for a row whose search extras are missing or malformed; sets status on failure."""
    photo_id = row["photo_id"]
    try:
        if _GET_INFO in calls:
            info = client.call(_GET_INFO, photo_id=photo_id)
            if not info.ok:
                row["status"] = answer_status(info.payload)
                row["detail"] = f"getInfo code {info.payload.get('code')}: {info.payload.get('message', '')}"
                return
            photo = info.payload.get("photo") or {}
            if is_public(photo.get("visibility") or {}) is not True:
                row["status"], row["detail"] = "private", f"getInfo visibility {photo.get('visibility')}"
                return
            row["views"] = row["views"] if row["views"] is not None else _count(photo.get("views"))
        if _GET_FAVES in calls:
            favourites = client.call(_GET_FAVES, photo_id=photo_id, page=1, per_page=1)
            if not favourites.ok:
                row["status"] = answer_status(favourites.payload)
                row["detail"] = f"getFavorites: {favourites.payload.get('message', '')}"
                return
            row["faves"] = _count((favourites.payload.get("photo") or {}).get("total"))
    except CallFailed as failure:
        row["status"], row["detail"] = f"error:{failure.reason}", client.redact(failure.detail)
        return
    if row["views"] is None or row["faves"] is None:
        row["status"], row["detail"] = "error:missing_fields", "no views or fave count in the search row or getInfo"


def search_candidates(client: FlickrClient, images_dir: Path | str, *, text: str | None = None,
                      tags: list[str] | None = None, colours: list[str] | None = None,
                      licences: tuple[int, ...] = REUSABLE_LICENCES, limit: int = 100, size: str = "url_l",
                      max_bytes: int = 20_000_000, min_upload_date: str | None = None,
                      max_upload_date: str | None = None, per_page: int = MAX_PER_PAGE, download_workers: int = 1,
                      scheduler: str | None = None, download_chunk_size: int = 16,
                      work_dir: Path | str | None = None) -> pd.DataFrame:
    """Search, keep public photos of allowed licences, download; one row per result (``CANDIDATES`` columns).

    The API calls (search pages; getInfo/getFavorites only for rows whose extras are missing or
    malformed) go through ``client`` and its rate limit, in this process. The photo files are then
    fetched through :func:`icaa.pipeline.partitions.run_partitioned`: local worker processes
    (``download_workers``) or a Dask cluster (``scheduler``), in resumable chunks.
    """
    if not size.startswith("url_"):
        raise IcaaError(f"--size must name a Flickr size extra such as url_l, url_c or url_o; got {size!r}")
    images_dir = Path(images_dir)
    photos, query = search_photos(client, text=text, tags=tags, colours=colours, licences=licences, limit=limit,
                                  size=size, min_upload_date=min_upload_date, max_upload_date=max_upload_date,
                                  per_page=per_page)
    query_text = "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k not in ("extras", "per_page"))
    rows = []
    for item in photos:
        photo_id, owner = str(item["id"]), str(item.get("owner") or "")
        licence = _count(item.get("license"))
        found = search_row_popularity(item)
        row: dict[str, Any] = {
            "image_id": None, "photo_id": photo_id, "owner": owner or None, "owner_name": item.get("ownername"),
            "title": item.get("title"), "licence": licence, "views": found["views"], "faves": found["faves"],
            "posted_at": float(item["dateupload"]) if str(item.get("dateupload", "")).isdigit() else None,
            "url": item.get(size), "path": None, "bytes": None, "sha256": None, "query": query_text,
            "fetched_at": item["_fetched_at"], "status": "ok", "detail": None}
        rows.append(row)
        if found["public"] is False:
            row["status"] = "private"
            row["detail"] = (f"search row ispublic={item.get('ispublic')} isfriend={item.get('isfriend')} "
                             f"isfamily={item.get('isfamily')}")
            continue
        if licences and licence not in licences:
            row["status"], row["detail"] = "licence_not_allowed", f"licence {licence} not in {list(licences)}"
            continue
        if found["calls"]:
            _fill_gaps(client, row, found["calls"])
            if row["status"] != "ok":
                continue
        if not row["url"]:
            row["status"], row["detail"] = "no_url", f"the search answer has no {size} for this photo"
            continue
        suffix = Path(str(row["url"]).split("?", 1)[0]).suffix.lower() or ".jpg"
        image_id = f"{owner}{photo_id}{suffix}"
        row.update(image_id=image_id, path=str((images_dir / image_id).resolve()))
    wanted = [row for row in rows if row["status"] == "ok"]
    if wanted:
        listing = pd.DataFrame({"image_id": [row["image_id"] for row in wanted],
                                "url": [str(row["url"]) for row in wanted],
                                "path": [row["path"] for row in wanted]})
        # Chunk results live beside the image root while the step runs, so a killed run resumes.
        parts = Path(work_dir) if work_dir else images_dir.parent / f".{images_dir.name}.downloads"
        downloads = run_partitioned(
            listing, download_chunk, schemas={"downloads": DOWNLOADS}, work_dir=parts,
            chunk_size=download_chunk_size, workers=download_workers, scheduler=scheduler,
            options={"max_bytes": max_bytes, "timeout_s": client.timeout_s}, description="download",
            progress=False)["downloads"].set_index("image_id")
        shutil.rmtree(parts, ignore_errors=True)
        for row in wanted:
            result = downloads.loc[row["image_id"]]
            row["status"], row["detail"] = result["status"], client.redact(result["detail"]) if isinstance(
                result["detail"], str) else None
            if result["status"] in ("ok", "exists"):
                row.update(bytes=int(result["bytes"]), sha256=result["sha256"])
            else:
                row.update(image_id=None, path=None)
    frame = pd.DataFrame(rows, columns=CANDIDATES.names, dtype=object)
    for name in ("licence", "views", "faves", "bytes"):
        frame[name] = pd.array(frame[name].astype("float64"), dtype="Int64")
    for name in ("posted_at", "fetched_at"):
        frame[name] = pd.to_datetime(frame[name].astype("float64").round(0), unit="s", utc=True)
    return frame


def plan_search(cache: ResponseCache | None, *, limit: int = 100, licences: tuple[int, ...] = REUSABLE_LICENCES,
                **query_options: Any) -> dict[str, Any]:
    """The calls a search will make, read from the cache alone (no request): a dry run.

    Pages already cached are read to find where the search ends and which rows will need per-photo
    calls; a page not cached counts one call, and the pages after it are counted up to ``limit``
    (the search may end sooner). Per-photo calls of rows on uncached pages cannot be known before
    the page is seen: ``per_photo_calls_unknown_pages`` says how many pages that concerns.
    """
    if limit < 1:
        raise IcaaError(f"--limit must be at least 1, got {limit}")
    query = search_query(licences=licences, **query_options)
    arguments = {k: str(v) for k, v in query.items()}
    pages_at_most = math.ceil(limit / int(query["per_page"]))
    found: dict[str, dict[str, Any]] = {}
    plan = {"search_pages": 0, "search_pages_cached": 0, "per_photo_calls": 0, "per_photo_cached": 0,
            "per_photo_calls_unknown_pages": 0}
    page, pages_known = 1, None
    while page <= pages_at_most and (pages_known is None or page <= pages_known):
        cached = cache.get(_SEARCH, {"page": str(page), **arguments}) if cache is not None else None
        if cached is None:
            plan["search_pages"] += 1
            plan["per_photo_calls_unknown_pages"] += 1
            page += 1
            continue
        plan["search_pages_cached"] += 1
        if cached.payload.get("stat") != "ok":
            break
        before = set(found)
        added, pages_known = _add_page(found, cached.payload, cached.fetched_at, limit)
        for photo_id in set(found) - before:
            item = found[photo_id]
            row = search_row_popularity(item)
            if row["public"] is False or (licences and _count(item.get("license")) not in licences):
                continue
            for method in row["calls"]:
                extra = {"page": "1", "per_page": "1"} if method == _GET_FAVES else {}
                if cache.get(method, {"photo_id": photo_id, **extra}) is not None:
                    plan["per_photo_cached"] += 1
                else:
                    plan["per_photo_calls"] += 1
        if added == 0 or len(found) >= limit:
            break
        page += 1
    plan["calls"] = plan["search_pages"] + plan["per_photo_calls"]
    plan["cache_hits"] = plan["search_pages_cached"] + plan["per_photo_cached"]
    return plan
