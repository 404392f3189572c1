"""Every table passed between stages, as one pyarrow schema each, with each column's meaning.

A column's metadata holds ``description`` and, where they apply, ``unit``, ``range`` and
``direction`` (``higher_better`` / ``lower_better``), so that ``describe_schema`` can document the
table. Stages cast their output to these schemas when writing; the docs in README are generated from here.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["column", "describe_schema", "SCHEMAS", "REJECTS", "POPULARITY", "CANDIDATES", "COARSE"]


def column(name: str, dtype: pa.DataType, description: str, *, unit: str | None = None,
           value_range: str | None = None, direction: str | None = None, nullable: bool = True) -> pa.Field:
    """A schema field carrying its documentation as metadata."""
    metadata = {"description": description}
    if unit:
        metadata["unit"] = unit
    if value_range:
        metadata["range"] = value_range
    if direction:
        metadata["direction"] = direction
    return pa.field(name, dtype, nullable=nullable, metadata=metadata)


def describe_schema(schema: pa.Schema) -> str:
    """A Markdown table of a schema's columns."""
    lines = ["| column | type | meaning | unit | range |", "| --- | --- | --- | --- | --- |"]
    for field in schema:
        meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
        lines.append(f"| `{field.name}` | {field.type} | {meta.get('description', '')} | "
                     f"{meta.get('unit', '')} | {meta.get('range', '')} |")
    return "\n".join(lines)


#: Rows a stage could not use, one per input row, with a code from the stage's closed set of reasons.
REJECTS = pa.schema([
    column("image_id", pa.string(), "id of the rejected row (relative path under the image root)", nullable=False),
    column("path", pa.string(), "absolute path of the file, when there is one"),
    column("stage", pa.string(), "stage that rejected the row", nullable=False),
    column("reason", pa.string(), "code from the stage's closed set (e.g. truncated, not_an_image)", nullable=False),
    column("detail", pa.string(), "human-readable detail (the decoder's message, sizes, ...)"),
])

# --- crawl / fuse (issue 3) -----------------------------------------------------------------------
_UTC_SECONDS = pa.timestamp("s", tz="UTC")

#: ``icaa-data crawl popularity``: one row per image of images.parquet.
POPULARITY = pa.schema([
    column("image_id", pa.string(), "image id from images.parquet (relative path under the image root)",
           nullable=False),
    column("photo_id", pa.string(), "Flickr photo id (manifest column photo_id, else parsed from the file name)"),
    column("owner", pa.string(), "owner NSID from the API, else the owner parsed from the file name"),
    column("views", pa.int64(), "view count (getInfo views)", unit="views", value_range=">= 0",
           direction="higher_better"),
    column("faves", pa.int64(), "fave count (getFavorites total with per_page=1)", unit="faves",
           value_range=">= 0", direction="higher_better"),
    column("licence", pa.int32(), "Flickr licence id (4, 5, 9, 10 reusable CC; 7, 8 no known copyright / "
           "US government; 0 all rights reserved)", value_range="0..16"),
    column("posted_at", _UTC_SECONDS, "upload time", unit="UTC"),
    column("fetched_at", _UTC_SECONDS, "when the answer was fetched (null for a file source without it)",
           unit="UTC"),
    column("status", pa.string(), "ok, not_found, private or error:<reason> (crawl.popularity.ERROR_REASONS)",
           nullable=False),
    column("detail", pa.string(), "human-readable detail of the status (API message, parse failure, source)"),
])

#: ``icaa-data crawl search``: one row per search result, downloaded or skipped with a status.
CANDIDATES = pa.schema([
    column("image_id", pa.string(), "<owner><photo id>.<ext> under --images-dir (ICAA17K naming), "
           "null when not downloaded"),
    column("photo_id", pa.string(), "Flickr photo id", nullable=False),
    column("owner", pa.string(), "owner NSID"),
    column("owner_name", pa.string(), "owner's display name (for attribution)"),
    column("title", pa.string(), "photo title"),
    column("licence", pa.int32(), "Flickr licence id", value_range="0..16"),
    column("views", pa.int64(), "view count (search extra views)", unit="views", value_range=">= 0"),
    column("faves", pa.int64(), "fave count (getFavorites total), null when not fetched", unit="faves",
           value_range=">= 0"),
    column("posted_at", _UTC_SECONDS, "upload time", unit="UTC"),
    column("url", pa.string(), "URL of the downloaded size"),
    column("path", pa.string(), "absolute path of the downloaded file"),
    column("bytes", pa.int64(), "size of the downloaded file", unit="bytes", value_range=">= 0"),
    column("sha256", pa.string(), "SHA-256 of the downloaded bytes (hex)"),
    column("query", pa.string(), "the search that found the photo (text/tags/colour, no key)"),
    column("fetched_at", _UTC_SECONDS, "when the search answer was fetched", unit="UTC"),
    column("status", pa.string(), "ok, exists, licence_not_allowed, no_url, too_large, not_found, private or "
           "error:<reason> (crawl.search.CANDIDATE_STATUSES)", nullable=False),
    column("detail", pa.string(), "human-readable detail of the status"),
])


def _coarse_schema() -> pa.Schema:
    from icaa.pipeline.categories import CLASS_SCORE_COLUMNS

    return pa.schema([
        column("image_id", pa.string(), "image id (relative path under the image root)", nullable=False),
        column("category", pa.string(), "ICAA17K colour class from harmony-score"),
        *[column(name, pa.float64(), "class score carried over from harmony-score") for name in CLASS_SCORE_COLUMNS],
        column("f_obj", pa.float64(), "objective score: harmony_template_score", value_range="0..1",
               direction="higher_better"),
        column("f_subj", pa.float64(), "subjective score faves / sqrt(views) (ICAA17K Eq. 7); null when unknown",
               value_range=">= 0", direction="higher_better"),
        column("f_obj_norm", pa.float64(), "f_obj normalised within the pool (fuse.normalisation)",
               value_range="0..1", direction="higher_better"),
        column("f_subj_norm", pa.float64(), "f_subj normalised within the rows that have it", value_range="0..1",
               direction="higher_better"),
        column("coarse_score", pa.float64(), "1 + 9 x weighted mean of the normalised scores", value_range="1..10",
               direction="higher_better"),
        column("scored_from", pa.string(), "both, harmony (popularity unusable) or popularity (no harmony score)",
               nullable=False),
        column("flag", pa.string(), "ok, zero_views, no_popularity, crawl_failed or no_harmony "
               "(fuse.FUSE_FLAGS)", nullable=False),
    ])


#: ``icaa-data fuse``: one pre-assessment (coarse) score per image, ICAA17K section 4.1.
COARSE = _coarse_schema()

#: Name -> schema of every table. Each stage module registers its own tables here.
SCHEMAS: dict[str, pa.Schema] = {"rejects": REJECTS, "popularity": POPULARITY, "candidates": CANDIDATES,
                                 "coarse": COARSE}
