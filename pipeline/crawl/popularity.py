"""Where popularity comes from and where it goes: the Flickr API or a local table, into ``popularity.parquet``.

Core: :func:`fetch_photo_popularity` (two calls per photo: ``flickr.photos.getInfo`` for views,
licence, owner, visibility and upload date; ``flickr.photos.getFavorites`` with ``per_page=1``, whose
``total`` is the fave count) and :func:`popularity_from_table` (the offline source, with licence and
owner optionally from an attribution table). A photo that is not public (``ispublic`` 0, which is what
a key sees of a friends- or family-only photo when its account may see them) gets status ``private``
and no counts: fuse, balance and build never admit it. Shell:
:func:`crawl_popularity` runs the photos on a small thread pool behind the client's global rate
limit and returns one row per image, each with a status from :data:`POPULARITY_STATUSES`.
Images sharing a photo id (ICAA17K lists one photo under several categories) are fetched once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icaa.pipeline.crawl.cache import ResponseCache
from icaa.pipeline.crawl.client import CallFailed, FlickrClient, answer_status
from icaa.pipeline.crawl.ids import MAX_PHOTO_ID, PARSE_FAILURES, alternative_splits, photo_ids_for
from icaa.pipeline.crawl.licences import SPDX_TO_FLICKR, licence_name
from icaa.common.errors import IcaaError
from icaa.pipeline.io import read_table
from icaa.pipeline.rejects import reasons_of
from icaa.pipeline.schemas import POPULARITY, POPULARITY_STATUS_VALUES

__all__ = [
    "POPULARITY_COLUMNS",
    "POPULARITY_STATUSES",
    "ERROR_REASONS",
    "PhotoPopularity",
    "is_public",
    "fetch_photo_popularity",
    "crawl_popularity",
    "plan_popularity",
    "popularity_from_table",
]

POPULARITY_COLUMNS: list[str] = POPULARITY.names

#: The reasons of ``error:<reason>`` statuses (closed set, from the registry of reasons).
ERROR_REASONS: dict[str, str] = reasons_of("crawl")
#: Every status a popularity row can have (``not_listed``: read from a local table, ``--source file``, that has
#: no row for the image; no API was asked, so nothing is known about the photo; ``not_found`` is the API's
#: answer that the photo does not exist).
POPULARITY_STATUSES: tuple[str, ...] = POPULARITY_STATUS_VALUES


@dataclass
class PhotoPopularity:
    """What the API says about one photo."""

    photo_id: str
    status: str
    owner: str | None = None
    owner_name: str | None = None
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


def is_public(visibility: dict[str, Any]) -> bool | None:
    """True when ``ispublic`` is 1, False when it is 0 (friends/family only or private), None when absent.

    ``visibility`` is getInfo's ``visibility`` object or a search row (both carry ``ispublic``,
    ``isfriend``, ``isfamily`` as 0/1).

    >>> is_public({"ispublic": 0, "isfriend": 1, "isfamily": 0}), is_public({"ispublic": "1"}), is_public({})
    (False, True, None)
    """
    flag = _int_or_none(visibility.get("ispublic")) if isinstance(visibility, dict) else None
    return None if flag not in (0, 1) else flag == 1


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
        public = is_public(photo.get("visibility") or {})
        if public is not True:
            return PhotoPopularity(photo_id, "private" if public is False else "error:missing_fields",
                                   owner=owner.get("nsid") if isinstance(owner, dict) else None,
                                   fetched_at=info.fetched_at,
                                   detail=f"getInfo visibility {photo.get('visibility')}: not a public photo"
                                   if public is False else "getInfo answered ok without visibility.ispublic")
        result = PhotoPopularity(
            photo_id, "ok",
            owner=owner.get("nsid") if isinstance(owner, dict) else None,
            owner_name=(owner.get("realname") or owner.get("username")) if isinstance(owner, dict) else None,
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
                     "owner": result.owner or target.owner, "owner_name": result.owner_name,
                     "views": result.views, "faves": result.faves,
                     "licence": result.licence, "licence_name": licence_name(result.licence),
                     "posted_at": result.posted_at, "fetched_at": result.fetched_at,
                     "status": result.status, "detail": result.detail})
    return _as_popularity_frame(rows)


def plan_popularity(images: pd.DataFrame, cache: ResponseCache | None, *, photo_id_column: str = "photo_id",
                    max_photo_id: int = MAX_PHOTO_ID) -> dict[str, Any]:
    """The calls :func:`crawl_popularity` will make, read from the cache alone (no request): a dry run.

    Per distinct photo: getInfo unless cached, and getFavorites unless cached or the cached getInfo
    answer already ends the photo (not found, private). ``ambiguous_names`` counts file names whose
    other owner/id readings are tried when the first is not found, two calls each at most.
    """
    targets = photo_ids_for(images, photo_id_column=photo_id_column, max_photo_id=max_photo_id)
    photo_ids = list(dict.fromkeys(pid for pid in targets["photo_id"] if pid is not None))
    calls = hits = 0
    for photo_id in photo_ids:
        info = cache.get("flickr.photos.getInfo", {"photo_id": photo_id}) if cache is not None else None
        if info is None:
            calls += 2
            continue
        hits += 1
        photo = info.payload.get("photo") or {}
        if info.payload.get("stat") != "ok" or is_public(photo.get("visibility") or {}) is not True:
            continue
        faves = cache.get("flickr.photos.getFavorites", {"photo_id": photo_id, "page": "1", "per_page": "1"})
        calls, hits = (calls, hits + 1) if faves is not None else (calls + 1, hits)
    return {"photos": len(photo_ids), "images_without_photo_id": int(targets["photo_id"].isna().sum()),
            "calls": calls, "cache_hits": hits,
            "ambiguous_names": int(sum(1 for t in targets.itertuples(index=False) if t.id_source == "file_name"
                                       and alternative_splits(t.image_id, max_photo_id=max_photo_id)))}


def _as_popularity_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=POPULARITY_COLUMNS)
    for name in ("views", "faves", "licence"):
        frame[name] = pd.array(frame[name].astype("float64"), dtype="Int64") if len(frame) else \
            pd.array([], dtype="Int64")
    for name in ("posted_at", "fetched_at"):
        frame[name] = pd.to_datetime(np.floor(frame[name].astype("float64")), unit="s", utc=True)
    for name in ("image_id", "photo_id", "owner", "owner_name", "licence_name", "status", "detail"):
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


def _attribution(path: Path | str) -> pd.DataFrame:
    """An attribution table (``image_id`` or ``file``, ``author``, ``licence`` name) indexed by image id."""
    table = read_table(path)
    key = "image_id" if "image_id" in table.columns else "file" if "file" in table.columns else None
    missing = ([] if key else ["image_id (or file)"]) + [c for c in ("author", "licence") if c not in table.columns]
    if missing:
        raise IcaaError(f"{path}: attribution table lacks column(s) {', '.join(missing)}; found "
                        f"{', '.join(map(str, table.columns))}")
    table = table.assign(_key=table[key].astype(str).str.strip())
    duplicated = table["_key"][table["_key"].duplicated()]
    if len(duplicated):
        raise IcaaError(f"{path}: {len(duplicated)} {key}(s) listed twice, e.g. {', '.join(duplicated.head(3))}")
    return table.set_index("_key")


def popularity_from_table(images: pd.DataFrame, source: Path | str, *, photo_id_column: str = "photo_id",
                          max_photo_id: int = MAX_PHOTO_ID, attribution: Path | str | None = None) -> pd.DataFrame:
    """Popularity rows for ``images`` read from a local CSV/Parquet table instead of the API.

    The table has ``image_id`` or ``photo_id`` (rows are matched on ``image_id`` when it has that
    column, else on the photo id), ``views`` and ``faves``, and optionally ``owner``, ``owner_name``,
    ``licence`` (Flickr id), ``licence_name``, ``posted_at`` (ISO date or Unix seconds),
    ``fetched_at`` and ``status``. Images it does not list get status ``not_listed``.

    ``attribution``, for photos that are not from Flickr, is a table of ``image_id`` (or ``file``),
    ``author`` and ``licence`` (a licence name such as ``GPL-2+`` or ``CC0-1.0``): for the images it
    lists, it is the record of licence and owner and replaces the table's. The Flickr id is then set
    only where the name is exactly a Flickr licence (``SPDX_TO_FLICKR``), else left empty.
    """
    table, key = _read_source_table(source)
    attributed = _attribution(attribution) if attribution is not None else None
    targets = photo_ids_for(images, photo_id_column=photo_id_column, max_photo_id=max_photo_id)
    by_key = table.set_index(key)
    rows = []
    for target in targets.itertuples(index=False):
        lookup = target.image_id if key == "image_id" else target.photo_id
        if lookup is None or lookup not in by_key.index:
            rows.append({"image_id": target.image_id, "photo_id": target.photo_id, "owner": target.owner,
                         "status": "not_listed", "detail": f"not listed in {Path(source).name}"})
            continue
        row = _listed_row(target, by_key.loc[lookup], key, lookup, Path(source).name)
        if attributed is not None and target.image_id in attributed.index:
            _credit_from_attribution(row, attributed.loc[target.image_id], Path(attribution).name)
        rows.append(row)
    return _as_popularity_frame(rows)


def _read_source_table(source: Path | str) -> tuple[pd.DataFrame, str]:
    """The local popularity table, checked and with every optional column, and the column to match on."""
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
        table[name] = _whole_counts(table, name, key, where) if name in table.columns else np.nan
    for name in ("posted_at", "fetched_at"):
        table[name] = _parse_times(table[name], f"{where} column {name}") if name in table.columns else pd.NaT
    if "status" in table.columns:
        unknown = sorted(set(table["status"].dropna()) - set(POPULARITY_STATUSES))
        if unknown:
            raise IcaaError(f"{where}: unknown status value(s) {', '.join(map(repr, unknown[:5]))}; "
                            f"expected one of {', '.join(POPULARITY_STATUSES)}")
    else:
        table["status"] = np.where(table["views"].notna() & table["faves"].notna(), "ok", "error:missing_fields")
    for name in ("owner_name", "licence_name"):
        if name not in table.columns:
            table[name] = None
    return table, key


def _whole_counts(table: pd.DataFrame, name: str, key: str, where: str) -> pd.Series:
    """Column ``name`` as numbers; anything but empty or a whole number >= 0 is an error naming the rows."""
    numeric = pd.to_numeric(table[name], errors="coerce")
    not_whole = numeric.notna() & (numeric % 1 != 0)
    bad = table[key][(table[name].notna() & numeric.isna()) | (numeric < 0) | not_whole]
    if len(bad):
        raise IcaaError(f"{where}: column {name} must hold whole numbers >= 0; bad in {len(bad)} row(s), "
                        f"e.g. {key} {', '.join(bad.head(3))}")
    return numeric


def _listed_row(target: Any, found: pd.Series, key: str, lookup: str, source_name: str) -> dict[str, Any]:
    """The popularity row of image ``target`` (a row of ``photo_ids_for``) from its row ``found`` of the table."""
    photo_id = found.get("photo_id") if key == "image_id" else lookup
    photo_id = target.photo_id if photo_id is None or pd.isna(photo_id) else str(photo_id).removesuffix(".0")
    owner = found.get("owner")
    return {"image_id": target.image_id, "photo_id": photo_id,
            "owner": target.owner if owner is None or pd.isna(owner) else str(owner),
            "owner_name": _text_or_none(found["owner_name"]),
            "licence_name": _text_or_none(found["licence_name"]) or licence_name(found["licence"]),
            "views": found["views"], "faves": found["faves"], "licence": found["licence"],
            "posted_at": found["posted_at"].timestamp() if not pd.isna(found["posted_at"]) else None,
            "fetched_at": found["fetched_at"].timestamp() if not pd.isna(found["fetched_at"]) else None,
            "status": found["status"], "detail": f"from {source_name}"}


def _credit_from_attribution(row: dict[str, Any], credit: pd.Series, attribution_name: str) -> None:
    """Replace the row's licence and owner name with the attribution table's (the record for such photos)."""
    name = _text_or_none(credit["licence"])
    row.update(owner_name=_text_or_none(credit["author"]), licence_name=name,
               licence=SPDX_TO_FLICKR.get(name or ""),
               detail=f"{row['detail']}; licence and author from {attribution_name}")


def _text_or_none(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) or not str(value).strip() \
        else str(value).strip()

