"""Where popularity comes from and where it goes: the Flickr API or a local table, into ``popularity.parquet``.

Core: :func:`fetch_photo_popularity` (two calls per photo: ``flickr.photos.getInfo`` for views,
licence, owner and upload date; ``flickr.photos.getFavorites`` with ``per_page=1``, whose ``total``
is the fave count) and :func:`popularity_from_table` (the offline source). Shell:
:func:`crawl_popularity` runs the photos on a small thread pool behind the client's global rate
limit and returns one row per image, each with a status from :data:`POPULARITY_STATUSES`.
Images sharing a photo id (ICAA17K lists one photo under several categories) are fetched once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icaa.pipeline.crawl.client import CallFailed, FlickrClient, answer_status
from icaa.pipeline.crawl.ids import MAX_PHOTO_ID, PARSE_FAILURES, alternative_splits, photo_ids_for
from icaa.pipeline.crawl.retry import PERMANENT_REASONS, TRANSIENT_REASONS
from icaa.pipeline.errors import IcaaError
from icaa.pipeline.io import read_table

__all__ = [
    "POPULARITY_COLUMNS",
    "POPULARITY_STATUSES",
    "ERROR_REASONS",
    "PhotoPopularity",
    "fetch_photo_popularity",
    "crawl_popularity",
    "popularity_from_table",
    "status_counts",
]

POPULARITY_COLUMNS = ["image_id", "photo_id", "owner", "views", "faves", "licence", "posted_at", "fetched_at",
                      "status", "detail"]

#: The reasons of ``error:<reason>`` statuses (closed set).
ERROR_REASONS: dict[str, str] = {
    "no_photo_id": "no photo id in the manifest and none parsed from the file name",
    "missing_fields": "an ok answer lacked views, faves or the owner",
    **TRANSIENT_REASONS,
    **PERMANENT_REASONS,
}
#: Every status a popularity row can have.
POPULARITY_STATUSES: tuple[str, ...] = ("ok", "not_found", "private", "not_listed") + tuple(
    f"error:{r}" for r in ERROR_REASONS)
#: ``not_listed``: read from a local table (``--source file``) that has no row for the image; no API was asked,
#: so nothing is known about the photo (``not_found`` is the API's answer that the photo does not exist).


@dataclass
class PhotoPopularity:
    """What the API says about one photo."""

    photo_id: str
    status: str
    owner: str | None = None
    views: int | None = None
    faves: int | None = None
    licence: int | None = None
    posted_at: float | None = None  # Unix seconds
    fetched_at: float | None = None  # Unix seconds
    detail: str | None = None
    calls: list[str] = field(default_factory=list)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def fetch_photo_popularity(client: FlickrClient, photo_id: str) -> PhotoPopularity:
    """Views, faves, licence, owner and upload time of one photo, with a status.

    ``InvalidApiKey`` propagates (it stops the crawl); every other failure becomes a status.
    """
    try:
        info = client.call("flickr.photos.getInfo", photo_id=photo_id)
        if not info.ok:
            return PhotoPopularity(photo_id, answer_status(info.payload), fetched_at=info.fetched_at,
                                   detail=f"getInfo code {info.payload.get('code')}: {info.payload.get('message', '')}")
        photo = info.payload.get("photo") or {}
        owner = photo.get("owner") or {}
        dates = photo.get("dates") or {}
        result = PhotoPopularity(
            photo_id, "ok",
            owner=owner.get("nsid") if isinstance(owner, dict) else None,
            views=_int_or_none(photo.get("views")),
            licence=_int_or_none(photo.get("license")),
            posted_at=_int_or_none(dates.get("posted", photo.get("dateuploaded"))),
            fetched_at=info.fetched_at,
        )
        favourites = client.call("flickr.photos.getFavorites", photo_id=photo_id, page=1, per_page=1)
        result.fetched_at = max(result.fetched_at, favourites.fetched_at)
        if not favourites.ok:
            result.status = answer_status(favourites.payload)
            result.detail = (f"getFavorites code {favourites.payload.get('code')}: "
                             f"{favourites.payload.get('message', '')}")
            return result
        result.faves = _int_or_none((favourites.payload.get("photo") or {}).get("total"))
        if result.views is None or result.faves is None or result.owner is None:
            result.status = "error:missing_fields"
            result.detail = "getInfo/getFavorites answered ok without views, faves total or owner nsid"
        return result
    except CallFailed as failure:
        return PhotoPopularity(photo_id, f"error:{failure.reason}", detail=client.redact(failure.detail))


def crawl_popularity(images: pd.DataFrame, *, client: FlickrClient, workers: int = 4,
                     photo_id_column: str = "photo_id", max_photo_id: int = MAX_PHOTO_ID,
                     progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """One popularity row per image of ``images``, in input order, fetched through ``client``.

    Parameters
    ----------
    images
        ``image_id`` and optionally ``photo_id``/``owner`` (a manifest column wins over file names).
    client
        Holds the rate limit, retries and cache; its limit is shared by all ``workers`` threads.
    workers
        Threads; they hide latency and never raise the call rate above the limiter's.
    progress
        Called as ``progress(done, total)`` after each photo.
    """
    if workers < 1:
        raise IcaaError(f"--workers must be at least 1, got {workers}")
    targets = photo_ids_for(images, photo_id_column=photo_id_column, max_photo_id=max_photo_id)
    photo_ids = list(dict.fromkeys(pid for pid in targets["photo_id"] if pid is not None))
    alternatives = {target.photo_id: alternative_splits(target.image_id, max_photo_id=max_photo_id)
                    for target in targets.itertuples(index=False) if target.id_source == "file_name"}
    results: dict[str, PhotoPopularity] = {}
    stop = threading.Event()  # set by an invalid key: queued photos then make no call

    def fetch(photo_id: str) -> PhotoPopularity | None:
        if stop.is_set():
            return None
        try:
            first = fetch_photo_popularity(client, photo_id)
            # an ambiguous file name whose first reading does not exist: try the other owner/id borders
            for owner, other_id in alternatives.get(photo_id, []) if first.status == "not_found" else []:
                other = fetch_photo_popularity(client, other_id)
                if other.status != "not_found":
                    other.detail = f"file name read as owner {owner} + photo {other_id}; {other.detail or ''}"
                    return other
            return first
        except BaseException:
            stop.set()
            raise

    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crawl")
    try:
        futures = {executor.submit(fetch, pid): pid for pid in photo_ids}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(photo_ids))
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    rows = []
    for target in targets.itertuples(index=False):
        if target.photo_id is None:
            rows.append({"image_id": target.image_id, "photo_id": None, "owner": None, "status": "error:no_photo_id",
                         "detail": PARSE_FAILURES.get(target.parse_failure, target.parse_failure)})
            continue
        result = results[target.photo_id]
        rows.append({"image_id": target.image_id, "photo_id": result.photo_id,
                     "owner": result.owner or target.owner, "views": result.views, "faves": result.faves,
                     "licence": result.licence, "posted_at": result.posted_at, "fetched_at": result.fetched_at,
                     "status": result.status, "detail": result.detail})
    return _as_popularity_frame(rows)


def _as_popularity_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=POPULARITY_COLUMNS)
    for name in ("views", "faves", "licence"):
        frame[name] = pd.array(frame[name].astype("float64"), dtype="Int64") if len(frame) else \
            pd.array([], dtype="Int64")
    for name in ("posted_at", "fetched_at"):
        frame[name] = pd.to_datetime(np.floor(frame[name].astype("float64")), unit="s", utc=True)
    for name in ("image_id", "photo_id", "owner", "status", "detail"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _parse_times(values: pd.Series, where: str) -> pd.Series:
    """ISO strings or Unix seconds to UTC timestamps; unparsable values raise IcaaError naming them."""
    numeric = pd.to_numeric(values, errors="coerce")
    if values.notna().sum() and numeric.notna().sum() == values.notna().sum():
        return pd.to_datetime(numeric, unit="s", utc=True)
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = values[values.notna() & parsed.isna()]
    if len(bad):
        raise IcaaError(f"{where}: {len(bad)} value(s) are neither ISO dates nor Unix seconds, e.g. "
                        f"{', '.join(map(repr, bad.head(3)))}")
    return parsed


def popularity_from_table(images: pd.DataFrame, source: Path | str, *, photo_id_column: str = "photo_id",
                          max_photo_id: int = MAX_PHOTO_ID) -> pd.DataFrame:
    """Popularity rows for ``images`` read from a local CSV/Parquet table instead of the API.

    The table has ``image_id`` or ``photo_id`` (rows are matched on ``image_id`` when it has that
    column, else on the photo id), ``views`` and ``faves``, and optionally ``owner``, ``licence``,
    ``posted_at`` (ISO date or Unix seconds), ``fetched_at`` and ``status``. Images it does not
    list get status ``not_listed``.
    """
    table = read_table(source)
    where = str(source)
    if "image_id" in table.columns:
        key = "image_id"
    elif "photo_id" in table.columns:
        key = "photo_id"
    else:
        raise IcaaError(f"{where}: needs an image_id or a photo_id column to match images; found "
                        f"{', '.join(map(str, table.columns))}")
    missing = [name for name in ("views", "faves") if name not in table.columns]
    if missing:
        raise IcaaError(f"{where}: missing column(s) {', '.join(missing)}")
    table = table.copy()
    table[key] = table[key].astype(str).str.strip().str.removesuffix(".0")
    duplicated = table[key][table[key].duplicated()]
    if len(duplicated):
        raise IcaaError(f"{where}: {len(duplicated)} {key}(s) listed twice, e.g. {', '.join(duplicated.head(3))}")
    for name in ("views", "faves", "licence"):
        if name not in table.columns:
            table[name] = np.nan
            continue
        numeric = pd.to_numeric(table[name], errors="coerce")
        not_whole = numeric.notna() & (numeric % 1 != 0)
        bad = table[key][(table[name].notna() & numeric.isna()) | (numeric < 0) | not_whole]
        if len(bad):
            raise IcaaError(f"{where}: column {name} must hold whole numbers >= 0; bad in {len(bad)} row(s), "
                            f"e.g. {key} {', '.join(bad.head(3))}")
        table[name] = numeric
    for name in ("posted_at", "fetched_at"):
        table[name] = _parse_times(table[name], f"{where} column {name}") if name in table.columns else pd.NaT
    if "status" in table.columns:
        unknown = sorted(set(table["status"].dropna()) - set(POPULARITY_STATUSES))
        if unknown:
            raise IcaaError(f"{where}: unknown status value(s) {', '.join(map(repr, unknown[:5]))}; "
                            f"expected one of {', '.join(POPULARITY_STATUSES)}")
    else:
        table["status"] = np.where(table["views"].notna() & table["faves"].notna(), "ok", "error:missing_fields")
    targets = photo_ids_for(images, photo_id_column=photo_id_column, max_photo_id=max_photo_id)
    by_key = table.set_index(key)
    rows = []
    for target in targets.itertuples(index=False):
        lookup = target.image_id if key == "image_id" else target.photo_id
        if lookup is None or lookup not in by_key.index:
            rows.append({"image_id": target.image_id, "photo_id": target.photo_id, "owner": target.owner,
                         "status": "not_listed", "detail": f"not listed in {Path(source).name}"})
            continue
        found = by_key.loc[lookup]
        photo_id = found.get("photo_id") if key == "image_id" else lookup
        photo_id = target.photo_id if photo_id is None or pd.isna(photo_id) else str(photo_id).removesuffix(".0")
        owner = found.get("owner")
        rows.append({"image_id": target.image_id, "photo_id": photo_id,
                     "owner": target.owner if owner is None or pd.isna(owner) else str(owner),
                     "views": found["views"], "faves": found["faves"], "licence": found["licence"],
                     "posted_at": found["posted_at"].timestamp() if not pd.isna(found["posted_at"]) else None,
                     "fetched_at": found["fetched_at"].timestamp() if not pd.isna(found["fetched_at"]) else None,
                     "status": found["status"], "detail": f"from {Path(source).name}"})
    return _as_popularity_frame(rows)


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per status, most frequent first."""
    return dict(Counter(frame["status"]).most_common())
