"""Every table passed between stages: one declaration each, with each column's meaning and contract.

A column's metadata holds ``description`` and, where they apply, ``unit``, the machine-readable bounds
``min`` and ``max`` (inclusive, JSON numbers), ``allowed`` (a JSON list of the values the column may hold;
with ``separator`` each value is a list of them joined by it), ``direction`` (``higher_better`` /
``lower_better``, as pyiqa's ``lower_better``) and ``range_note`` (a bound that is a guide, not a
contract). Non-nullable columns hold no null. :data:`TABLES` names every table with how a user knows it,
the columns every reader needs and the columns that tell it apart; writers cast to these schemas and
:func:`icaa.pipeline.contracts.check_values` checks every table written against its declaration.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pyarrow as pa

from icaa.pipeline.rejects import REASONS, reasons_of

__all__ = ["column", "bounds", "allowed_values", "Table", "TABLES", "SCHEMAS", "IMAGES", "IMAGES_PARTS",
           "REJECTS", "COLOUR", "COLOUR_PARTS", "POPULARITY", "DOWNLOADS", "CANDIDATES", "COARSE", "SELECTION", "RATINGS",
           "ANNOTATION_REJECTS", "RATERS", "MOS", "MANIFEST", "ICAA17K", "POPULARITY_STATUS_VALUES",
           "CANDIDATE_STATUS_VALUES"]

_RANGE = re.compile(r"^(-?\d+(?:\.\d+)?)\.\.(-?\d+(?:\.\d+)?)$")
_AT_LEAST = re.compile(r"^>= ?(-?\d+(?:\.\d+)?)\b")


def column(name: str, dtype: pa.DataType, description: str, *, unit: str | None = None,
           minimum: float | None = None, maximum: float | None = None, allowed: tuple | list | None = None,
           separator: str | None = None, direction: str | None = None, value_range: str | None = None,
           nullable: bool = True) -> pa.Field:
    """A schema field carrying its documentation and contract as metadata.

    ``value_range`` is the text form a measure registry uses (``"0..1"``, ``">= 0 (...)"``): a plain
    ``a..b`` or a leading ``>= a`` becomes ``min``/``max``; anything else (``"about -1.3..1.5"``) is kept as
    ``range_note`` and not checked.
    """
    note = None
    if value_range:
        text = value_range.strip()
        plain, at_least = _RANGE.match(text), _AT_LEAST.match(text)
        if plain:
            minimum, maximum = float(plain.group(1)), float(plain.group(2))
        elif at_least:
            minimum = float(at_least.group(1))
            note = text if text != at_least.group(0) else None
        else:
            note = text
    metadata = {"description": description}
    if unit:
        metadata["unit"] = unit
    if minimum is not None:
        metadata["min"] = json.dumps(minimum)
    if maximum is not None:
        metadata["max"] = json.dumps(maximum)
    if note:
        metadata["range_note"] = note
    if allowed is not None:
        metadata["allowed"] = json.dumps(list(allowed))
    if separator:
        metadata["separator"] = separator
    if direction:
        metadata["direction"] = direction
    return pa.field(name, dtype, nullable=nullable, metadata=metadata)


def bounds(field: pa.Field) -> tuple[float | None, float | None]:
    """(min, max) of a column's contract; None where unbounded."""
    metadata = field.metadata or {}
    return tuple(json.loads(metadata[key]) if key in metadata else None for key in (b"min", b"max"))


def allowed_values(field: pa.Field) -> list | None:
    """The closed set of values of a column, or None when it has none."""
    metadata = field.metadata or {}
    return json.loads(metadata[b"allowed"]) if b"allowed" in metadata else None


def _schema(name: str, fields: list[pa.Field]) -> pa.Schema:
    return pa.schema(fields, metadata={"table": name})


#: The stages that write a rejects table, and the codes it may hold: the reasons the registry
#: (icaa.pipeline.rejects.REASONS) gives those stages.
_REJECTING_STAGES = ("scan", "harmony-score", "fuse", "build")
_REJECT_CODES = tuple(code for code, reason in REASONS.items() if set(reason.stages) & set(_REJECTING_STAGES))
#: Every status a popularity row can have.
POPULARITY_STATUS_VALUES: tuple[str, ...] = ("ok", "not_found", "private", "not_listed") + tuple(
    f"error:{code}" for code in reasons_of("crawl"))
#: Every status a search result (candidates table) can have.
CANDIDATE_STATUS_VALUES: tuple[str, ...] = (
    "ok", "exists", "licence_not_allowed", "no_url", "too_large", "not_found", "private",
) + tuple(f"error:{code}" for code in reasons_of("crawl"))
_PHOTO_KEY_DESCRIPTION = ("the photo the image shows (icaa.pipeline.photos): the first image_id, sorted, of its "
                          "group of exact duplicates (sha256), near duplicates (phash) and files of the same name "
                          "in any case; scan computes it, every later table carries it")

# --- scan ----------------------------------------------------------------------------------------------
_IMAGE_COLUMNS = [
    column("image_id", pa.string(), "path relative to the image root, POSIX separators; stable across machines and "
           "the same in every later table, the dataset manifest included", nullable=False),
    column("path", pa.string(), "absolute path of the file when scanned", nullable=False),
    column("sha256", pa.string(), "SHA-256 of the file's bytes, hex", nullable=False),
    column("phash", pa.string(), "perceptual hash (ImageHash phash, 64 bits, hex) of the decoded image"),
    column("width", pa.int64(), "width of the stored image", unit="px", minimum=1),
    column("height", pa.int64(), "height of the stored image", unit="px", minimum=1),
    column("format", pa.string(), "container format as Pillow names it (JPEG, PNG, GIF, ...)"),
    column("mode", pa.string(), "pixel mode as stored (RGB, L, CMYK, P, I;16, RGBA, ...)"),
    column("frames", pa.int64(), "frames in the file (animated GIF/WebP > 1; the first is used)", minimum=1),
    column("bytes", pa.int64(), "file size", unit="bytes", minimum=0),
    column("camera_make", pa.string(), "EXIF Make (tag 271), null when absent"),
    column("camera_model", pa.string(), "EXIF Model (tag 272), null when absent"),
]
#: A chunk of ``scan`` before duplicates are grouped.
IMAGES_PARTS = _schema("images", _IMAGE_COLUMNS)
#: ``scan``: one row per usable image file.
IMAGES = _schema("images", _IMAGE_COLUMNS + [
    column("duplicate_of", pa.string(), "image_id of the first member (sorted) of this image's exact or near "
           "duplicate group; null for that representative and for unique images"),
    column("duplicate_kind", pa.string(), "exact (same bytes as the representative) or near (perceptual hash "
           "within near_duplicate_distance bits); null when not a duplicate", allowed=("exact", "near")),
    column("photo_key", pa.string(), _PHOTO_KEY_DESCRIPTION, nullable=False),
])

#: Rows a stage could not use, one per input row, with a code from the registry of reasons.
REJECTS = _schema("rejects", [
    column("image_id", pa.string(), "id of the rejected row (relative path under the image root)", nullable=False),
    column("path", pa.string(), "absolute path of the file, when there is one"),
    column("stage", pa.string(), "stage that rejected the row", nullable=False, allowed=_REJECTING_STAGES),
    column("reason", pa.string(), "code from icaa.pipeline.rejects.REASONS (e.g. truncated, not_an_image)",
           nullable=False, allowed=_REJECT_CODES),
    column("detail", pa.string(), "human-readable detail (the decoder's message, sizes, ...)"),
])


# --- harmony-score -------------------------------------------------------------------------------------
def _colour_columns() -> list[pa.Field]:
    from icaa.pipeline.categories import FAMILIES, ICAA17K_CATEGORIES, class_score_column
    from icaa.pipeline.colour.measures import HARMONY_COLUMNS

    measure_types = {"float64": pa.float64(), "string": pa.string()}
    fields = [
        column("image_id", pa.string(), "id from scan (path relative to the image root)", nullable=False),
        column("category", pa.string(), "ICAA17K class, kind/name as the release's folders (30 values)",
               allowed=ICAA17K_CATEGORIES),
        column("category_confidence", pa.float64(), "the class's share of the summed class scores", minimum=0,
               maximum=1, direction="higher_better"),
        column("dominant", pa.string(), "dominant colour family: red, orange, yellow, green, blue, violet or "
               "achromatic", allowed=FAMILIES),
        column("auxiliary", pa.string(), "auxiliary colour family (same set), null when the photo has none",
               allowed=FAMILIES),
        column("dominant_share", pa.float64(), "share of the figure-weighted colour mass in the dominant family",
               minimum=0, maximum=1),
        column("auxiliary_share", pa.float64(), "share of that mass in the auxiliary family (0 when none)",
               minimum=0, maximum=1),
        column("chromatic_fraction", pa.float64(), "share of the colour mass that is chromatic", minimum=0,
               maximum=1),
        column("background_fraction", pa.float64(), "share of pixels down-weighted as plain backdrop", minimum=0,
               maximum=1),
        column("ryb12_dominant", pa.int64(), "index of the dominant family's mean hue on Itten's RYB wheel "
               "(Kuler map; 0 red, 2 orange, 4 yellow, 6 green, 8 blue, 10 violet); null when achromatic",
               minimum=0, maximum=11),
        column("ryb12_auxiliary", pa.int64(), "the same for the auxiliary family", minimum=0, maximum=11),
        column("dominant_lab", pa.list_(pa.float64()), "mean CIELAB (D65) of the dominant family's pixels"),
        column("auxiliary_lab", pa.list_(pa.float64()), "mean CIELAB of the auxiliary family's pixels"),
    ]
    fields += [column(spec.name, measure_types[spec.dtype], spec.description, unit=spec.unit,
                      value_range=spec.value_range, direction=spec.direction) for spec in HARMONY_COLUMNS]
    fields += [column(class_score_column(c), pa.float64(), f"soft score of class {c}", minimum=0, maximum=1,
                      direction="higher_better") for c in ICAA17K_CATEGORIES]
    return fields


#: A chunk of ``harmony-score``, before scan's photo_key is joined.
COLOUR_PARTS = _schema("colour", _colour_columns())
#: ``harmony-score``: one row per scored image.
COLOUR = _schema("colour", _colour_columns()
                 + [column("photo_key", pa.string(), _PHOTO_KEY_DESCRIPTION + " (from images.parquet)")])

# --- crawl ---------------------------------------------------------------------------------------------
_UTC_SECONDS = pa.timestamp("s", tz="UTC")

#: ``icaa-data crawl popularity``: one row per image of images.parquet.
POPULARITY = _schema("popularity", [
    column("image_id", pa.string(), "image id from images.parquet (relative path under the image root)",
           nullable=False),
    column("photo_id", pa.string(), "Flickr photo id (manifest column photo_id, else parsed from the file name)"),
    column("owner", pa.string(), "owner NSID from the API, else the owner parsed from the file name"),
    column("owner_name", pa.string(), "owner's name for attribution (getInfo realname, else username; the "
           "author of an attribution table)"),
    column("views", pa.int64(), "view count (getInfo views)", unit="views", minimum=0, direction="higher_better"),
    column("faves", pa.int64(), "fave count (getFavorites total with per_page=1)", unit="faves", minimum=0,
           direction="higher_better"),
    column("licence", pa.int32(), "Flickr licence id (4, 5, 9, 10 reusable CC; 7, 8 no known copyright / "
           "US government; 0 all rights reserved)", minimum=0, maximum=16),
    column("licence_name", pa.string(), "licence name (Flickr's name of the id, or an attribution table's "
           "licence such as GPL-2+ for photos not from Flickr)"),
    column("posted_at", _UTC_SECONDS, "upload time", unit="UTC"),
    column("fetched_at", _UTC_SECONDS, "when the answer was fetched (null for a file source without it)",
           unit="UTC"),
    column("status", pa.string(), "ok, not_found, private (not a public photo: never shipped), not_listed (not "
           "in the --source file table) or error:<reason> (a crawl reason of icaa.pipeline.rejects.REASONS)",
           nullable=False, allowed=POPULARITY_STATUS_VALUES),
    column("detail", pa.string(), "human-readable detail of the status (API message, parse failure, source)"),
])

#: One row per photo file fetched by ``crawl.search.download_chunk`` (a chunk table of ``crawl search``).
DOWNLOADS = _schema("downloads", [
    column("image_id", pa.string(), "<owner><photo id>.<ext> under --images-dir"),
    column("status", pa.string(), "ok, exists, too_large or error:<reason>", allowed=CANDIDATE_STATUS_VALUES),
    column("detail", pa.string(), "human-readable detail of the status"),
    column("bytes", pa.int64(), "size of the downloaded file", unit="bytes", minimum=0),
    column("sha256", pa.string(), "SHA-256 of the downloaded bytes (hex)"),
])

#: ``icaa-data crawl search``: one row per search result, downloaded or skipped with a status.
CANDIDATES = _schema("candidates", [
    column("image_id", pa.string(), "<owner><photo id>.<ext> under --images-dir (ICAA17K naming), "
           "null when not downloaded"),
    column("photo_id", pa.string(), "Flickr photo id", nullable=False),
    column("owner", pa.string(), "owner NSID"),
    column("owner_name", pa.string(), "owner's display name (for attribution)"),
    column("title", pa.string(), "photo title"),
    column("licence", pa.int32(), "Flickr licence id", minimum=0, maximum=16),
    column("views", pa.int64(), "view count (search extra views; getInfo when the extra is missing)",
           unit="views", minimum=0, direction="higher_better"),
    column("faves", pa.int64(), "fave count (search extra count_faves; getFavorites total when it is missing)",
           unit="faves", minimum=0, direction="higher_better"),
    column("posted_at", _UTC_SECONDS, "upload time", unit="UTC"),
    column("url", pa.string(), "URL of the downloaded size"),
    column("path", pa.string(), "absolute path of the downloaded file"),
    column("bytes", pa.int64(), "size of the downloaded file", unit="bytes", minimum=0),
    column("sha256", pa.string(), "SHA-256 of the downloaded bytes (hex)"),
    column("query", pa.string(), "the search that found the photo (text/tags/colour, no key)"),
    column("fetched_at", _UTC_SECONDS, "when the search answer was fetched", unit="UTC"),
    column("status", pa.string(), "ok, exists, licence_not_allowed, no_url, too_large, not_found, private or "
           "error:<reason> (a crawl reason of icaa.pipeline.rejects.REASONS)", nullable=False,
           allowed=CANDIDATE_STATUS_VALUES),
    column("detail", pa.string(), "human-readable detail of the status"),
])


# --- fuse ----------------------------------------------------------------------------------------------
def _coarse_schema() -> pa.Schema:
    from icaa.pipeline.categories import CLASS_SCORE_COLUMNS, ICAA17K_CATEGORIES
    from icaa.pipeline.rejects import FUSE_FLAGS

    return _schema("coarse", [
        column("image_id", pa.string(), "image id (relative path under the image root)", nullable=False),
        column("category", pa.string(), "ICAA17K colour class from harmony-score", allowed=ICAA17K_CATEGORIES),
        *[column(name, pa.float64(), "class score carried over from harmony-score", minimum=0, maximum=1,
                 direction="higher_better") for name in CLASS_SCORE_COLUMNS],
        column("f_obj", pa.float64(), "objective score: harmony-score's harmony_score", minimum=0, maximum=1,
               direction="higher_better"),
        column("f_subj", pa.float64(), "subjective score faves / sqrt(views) (ICAA17K Eq. 7); null when unknown",
               minimum=0, direction="higher_better"),
        column("f_obj_norm", pa.float64(), "f_obj normalised within the pool (fuse.normalisation)", minimum=0,
               maximum=1, direction="higher_better"),
        column("f_subj_norm", pa.float64(), "f_subj normalised within the rows that have it", minimum=0,
               maximum=1, direction="higher_better"),
        column("coarse_score", pa.float64(), "1 + 9 x weighted mean of the normalised scores", minimum=1,
               maximum=10, direction="higher_better"),
        column("scored_from", pa.string(), "both, harmony (popularity unusable) or popularity (no harmony score)",
               nullable=False, allowed=("both", "harmony", "popularity")),
        column("flag", pa.string(), "what fuse knew of the image (icaa.pipeline.rejects.FUSE_FLAGS)", nullable=False,
               allowed=tuple(FUSE_FLAGS)),
        column("photo_key", pa.string(), _PHOTO_KEY_DESCRIPTION + " (from colour.parquet; null where it "
               "lacks one, and balance derives it)"),
    ])


#: ``icaa-data fuse``: one pre-assessment (coarse) score per image, ICAA17K section 4.1.
COARSE = _coarse_schema()


# --- balance -------------------------------------------------------------------------------------------
def _selection_schema() -> pa.Schema:
    from icaa.pipeline.categories import ICAA17K_CATEGORIES

    return _schema("selection", [
        column("image_id", pa.string(), "image id representing the photo (the first image_id, sorted, of its "
               "photo_key group when that is in the pool)", nullable=False),
        column("category", pa.string(), "ICAA17K class the photo was selected for", nullable=False,
               allowed=ICAA17K_CATEGORIES),
        column("coarse_score", pa.float64(), "coarse pre-assessment score from fuse", minimum=1, maximum=10,
               direction="higher_better", nullable=False),
        column("score_bin", pa.int64(), "equal-width coarse-score bin over balance.score_min..score_max, "
               "0..balance.bins-1", minimum=0, nullable=False),
        column("primary_category", pa.string(), "the pool's category of the image (may differ from category when "
               "a class score >= balance.class_score_threshold made it eligible elsewhere)",
               allowed=ICAA17K_CATEGORIES),
        column("photo_key", pa.string(), _PHOTO_KEY_DESCRIPTION + "; one row per photo", nullable=False),
        column("n_classes", pa.int64(), "number of classes the photo qualified for", minimum=1),
    ])


#: ``icaa-data balance``: one row per selected photo (a photo_key group counts once).
SELECTION = _selection_schema()

# --- annotate / mos ------------------------------------------------------------------------------------
_UTC_MICROSECONDS = pa.timestamp("us", tz="UTC")

#: ``icaa-data annotate import``: one row per valid rating (the latest annotation of a rater on a task).
#: ``color`` and ``overall`` are the Label Studio controls' names (the labelling config), ``color`` as the
#: ICAA17K layout spells the colour score.
RATINGS = _schema("ratings", [
    column("image_id", pa.string(), "image id (task data.image_id)", nullable=False),
    column("task_id", pa.int64(), "Label Studio task id", nullable=False),
    column("rater", pa.string(), "rater: the annotator's e-mail (import from a server), user<id> (an export file "
           "carries the id only), or r-<HMAC> with annotate import --rater-pseudonyms", nullable=False),
    column("color", pa.int64(), "colour-aesthetics rating, an integer", minimum=1, maximum=10,
           direction="higher_better", nullable=False),
    column("overall", pa.int64(), "overall-aesthetics rating, an integer", minimum=1, maximum=10,
           direction="higher_better", nullable=False),
    column("confidence", pa.float64(), "rater's confidence in the colour rating", minimum=0.0, maximum=1.0,
           direction="higher_better", nullable=False),
    column("lead_time", pa.float64(), "time spent on the task (Label Studio lead_time)", unit="s", minimum=0),
    column("created_at", _UTC_MICROSECONDS, "annotation creation time", unit="UTC"),
    column("updated_at", _UTC_MICROSECONDS, "last edit of the annotation (incremental import key)", unit="UTC"),
    column("annotation_id", pa.int64(), "Label Studio annotation id (unique key)", nullable=False),
])

#: ``icaa-data annotate import``: annotations not used, with an annotate code of the registry of reasons.
ANNOTATION_REJECTS = _schema("annotation_rejects", [
    column("image_id", pa.string(), "task data.image_id (null when the task has none)"),
    column("task_id", pa.int64(), "Label Studio task id"),
    column("annotation_id", pa.int64(), "Label Studio annotation id"),
    column("rater", pa.string(), "the annotator, as in ratings.parquet"),
    column("reason", pa.string(), "code from icaa.pipeline.rejects.REASONS (first problem found)",
           nullable=False, allowed=tuple(reasons_of("annotate"))),
    column("detail", pa.string(), "every problem found, with the offending values"),
])

#: ``icaa-data mos --raters``: one row per rater, with each screen's verdict and the fitted subject model.
RATERS = _schema("raters", [
    column("rater", pa.string(), "rater id as in ratings.parquet", nullable=False),
    column("n_ratings", pa.int64(), "valid ratings by the rater", minimum=1),
    column("middle_share", pa.float64(), "share of colour ratings equal to 5 or 6", minimum=0, maximum=1),
    column("score_std", pa.float64(), "standard deviation of the rater's colour ratings", minimum=0),
    column("loo_srcc", pa.float64(), "Spearman correlation with the leave-one-out consensus (mean of the others)",
           minimum=-1, maximum=1, direction="higher_better"),
    column("median_lead_time_s", pa.float64(), "median lead time", unit="s", minimum=0),
    column("bt500_rejected", pa.bool_(), "ITU-R BT.500 Annex 2 rejection with N_i = images the rater rated"),
    column("lazy_reason", pa.string(), "first lazy-rater criterion met (lazy_* code) or empty",
           allowed=("",) + tuple(code for code in reasons_of("mos") if code.startswith("lazy_"))),
    column("verdict", pa.string(), "kept or flagged (flagged ratings get weight mos.flagged_weight)",
           nullable=False, allowed=("kept", "flagged")),
    column("reason", pa.string(), "comma-separated mos codes from icaa.pipeline.rejects.REASONS", nullable=False,
           allowed=tuple(reasons_of("mos")), separator=","),
    column("weight", pa.float64(), "weight of the rater's ratings in the estimator", minimum=0, maximum=1),
    column("bias", pa.float64(), "fitted offset (robust method; null otherwise)", unit="score points"),
    column("scale", pa.float64(), "fitted scale (robust method, 1 unless mos.fit_scale)"),
    column("sigma", pa.float64(), "fitted inconsistency (noise SD) of the genuine ratings", unit="score points",
           minimum=0, direction="lower_better"),
    column("p_middle", pa.float64(), "fitted probability of a lazy middle answer", minimum=0, maximum=1,
           direction="lower_better"),
    column("p_random", pa.float64(), "fitted probability of a random (spam) answer", minimum=0, maximum=1,
           direction="lower_better"),
])

_ESTIMATE_NOTE = "1..10, the rating scale; a bias-corrected estimate may lie slightly outside it"

#: ``icaa-data mos``: one row per image, named as ICAA17K's CSV names them (image_id, color, MOS, probability).
MOS = _schema("mos", [
    column("image_id", pa.string(), "image id", nullable=False),
    column("color", pa.float64(), "colour-aesthetics MOS (mos.method estimator)", value_range=_ESTIMATE_NOTE,
           direction="higher_better"),
    column("MOS", pa.float64(), "overall-aesthetics MOS", value_range=_ESTIMATE_NOTE, direction="higher_better"),
    column("probability", pa.float64(), "mean confidence of the ratings (ICAA17K keeps > 0.5)", minimum=0,
           maximum=1, direction="higher_better"),
    column("color_sd", pa.float64(), "SD of the (bias-corrected, weighted) colour ratings; null (NaN) with fewer "
           "than mos.min_ratings_for_spread (3) ratings, as are the intervals", minimum=0),
    column("MOS_sd", pa.float64(), "SD of the overall ratings (NaN below 3 ratings)", minimum=0),
    column("color_ci95_low", pa.float64(), "lower end of the 95 % interval of color"),
    column("color_ci95_high", pa.float64(), "upper end of the 95 % interval of color"),
    column("MOS_ci95_low", pa.float64(), "lower end of the 95 % interval of MOS"),
    column("MOS_ci95_high", pa.float64(), "upper end of the 95 % interval of MOS"),
    column("n_ratings", pa.int64(), "valid ratings of the image", minimum=1),
    column("n_raters_kept", pa.int64(), "raters whose rating counted as genuine (weight > 0, responsibility > 0.5)",
           minimum=0),
    column("color_mean", pa.float64(), "plain mean of the colour ratings (the paper's label), for comparison",
           minimum=1, maximum=10, direction="higher_better"),
    column("confidence_ok", pa.bool_(), "probability >= mos.min_mean_confidence (the paper's filter; rows are "
           "kept, build decides)", nullable=False),
])


# --- build ---------------------------------------------------------------------------------------------
#: The ICAA17K label files (``all.csv``, ``train.csv``, ``val.csv``, ``test.csv``; the release's ``1all.csv``
#: ...), exactly these four columns: the layout fixes the names, ``color`` included.
ICAA17K = _schema("icaa17k", [
    column("ID", pa.string(), "image path under the dataset root, <kind>/<category>/<file>: derived as the "
           "category, a slash and the image_id's file name (a hash suffix when two images of one class share a "
           "name); the manifest maps it back to image_id", nullable=False),
    column("color", pa.float64(), "colour-aesthetics MOS, the target", value_range=_ESTIMATE_NOTE,
           direction="higher_better", nullable=False),
    column("MOS", pa.float64(), "overall-aesthetics MOS", value_range=_ESTIMATE_NOTE, direction="higher_better",
           nullable=False),
    column("probability", pa.float64(), "mean annotator confidence", minimum=0, maximum=1,
           direction="higher_better", nullable=False),
])


def _manifest_schema() -> pa.Schema:
    from icaa.pipeline.categories import ICAA17K_CATEGORIES

    return _schema("manifest", [
        *ICAA17K,
        column("image_id", pa.string(), "image id from scan, unchanged", nullable=False),
        column("photo_key", pa.string(), _PHOTO_KEY_DESCRIPTION + " (from the selection)", nullable=False),
        column("category", pa.string(), "ICAA17K class: the ID's folder", nullable=False,
               allowed=ICAA17K_CATEGORIES),
        column("photo_group", pa.int64(), "photo group number of the split (photo_key, "
               "scan's duplicate groups and sha256 together)", minimum=0,
               nullable=False),
        column("split", pa.string(), "train, val or test: every row of a photo on one side", nullable=False,
               allowed=("train", "val", "test")),
        column("placed_by", pa.string(), "copy or hardlink", nullable=False, allowed=("copy", "hardlink")),
    ])


#: ``icaa-data build``: the dataset's manifest.parquet, one row per dataset image. The columns declared here
#: are cast and checked; every other column of the upstream tables (selection, MOS, images, --extra) follows as
#: the join left it (nullable, in the type pandas gave it), neither cast nor checked.
MANIFEST = _manifest_schema()


@dataclass(frozen=True)
class Table:
    """One table: its schema, how a user knows it, the columns every reader needs and those only it has.

    ``open``: the table may hold more columns than its schema (the manifest carries every upstream column).
    """

    schema: pa.Schema
    what: str
    needed: tuple[str, ...]
    distinctive: tuple[str, ...]
    open: bool = False


#: name -> Table, every table a stage reads or writes.
TABLES: dict[str, Table] = {
    "images": Table(IMAGES, "images.parquet from scan", ("image_id", "path"), ("sha256", "phash")),
    "rejects": Table(REJECTS, "a rejects table", ("image_id", "reason"), ("reason",)),
    "colour": Table(COLOUR, "colour.parquet from harmony-score", ("image_id", "category"),
                    ("dominant", "harmony_template")),
    "popularity": Table(POPULARITY, "popularity.parquet from crawl popularity",
                        ("image_id", "views", "faves", "status"), ("views",)),
    "downloads": Table(DOWNLOADS, "a download chunk of crawl search", ("image_id", "status"), ("sha256",)),
    "candidates": Table(CANDIDATES, "candidates.parquet from crawl search", ("photo_id", "status"),
                        ("query", "url")),
    "coarse": Table(COARSE, "coarse.parquet from fuse", ("image_id", "category", "coarse_score"),
                    ("coarse_score", "flag")),
    "selection": Table(SELECTION, "selection.parquet from balance", ("image_id", "category", "coarse_score"),
                       ("score_bin", "photo_key")),
    "ratings": Table(RATINGS, "ratings.parquet from annotate import",
                     ("image_id", "rater", "color", "overall", "confidence"), ("rater", "annotation_id")),
    "annotation_rejects": Table(ANNOTATION_REJECTS, "annotation_rejects.parquet from annotate import",
                                ("reason",), ("annotation_id", "reason")),
    "raters": Table(RATERS, "raters.parquet from mos", ("rater", "verdict"), ("verdict", "weight")),
    "mos": Table(MOS, "a MOS table (mos.parquet from mos, or a CSV of image_id,color,MOS,probability)",
                 ("image_id", "color", "MOS", "probability"), ("MOS", "probability")),
    "manifest": Table(MANIFEST, "manifest.parquet of a dataset folder written by build",
                      ("ID", "category", "color", "split"), ("ID", "split"), open=True),
    "icaa17k": Table(ICAA17K, "an ICAA17K label file (ID,color,MOS,probability)", ICAA17K.names, ("ID",)),
}

#: name -> schema of every table.
SCHEMAS: dict[str, pa.Schema] = {name: table.schema for name, table in TABLES.items()}
