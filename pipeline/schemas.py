"""Every table passed between stages, as one pyarrow schema each, with each column's meaning.

A column's metadata holds ``description`` and, where they apply, ``unit``, ``range`` and
``direction`` (``higher_better`` / ``lower_better``). Stages cast their output to these schemas when writing.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["column", "SCHEMAS", "REJECTS", "POPULARITY", "CANDIDATES", "COARSE",
           "RATINGS", "ANNOTATION_REJECTS", "RATERS", "MOS", "SELECTION"]


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


#: Rows a stage could not use, one per input row, with a code from the stage's closed set of reasons.
REJECTS = pa.schema([
    column("image_id", pa.string(), "id of the rejected row (relative path under the image root)", nullable=False),
    column("path", pa.string(), "absolute path of the file, when there is one"),
    column("stage", pa.string(), "stage that rejected the row", nullable=False),
    column("reason", pa.string(), "code from the stage's closed set (e.g. truncated, not_an_image)", nullable=False),
    column("detail", pa.string(), "human-readable detail (the decoder's message, sizes, ...)"),
])

# --- crawl / fuse ------------------------------------------------------------------------------------
_UTC_SECONDS = pa.timestamp("s", tz="UTC")

#: ``icaa-data crawl popularity``: one row per image of images.parquet.
POPULARITY = pa.schema([
    column("image_id", pa.string(), "image id from images.parquet (relative path under the image root)",
           nullable=False),
    column("photo_id", pa.string(), "Flickr photo id (manifest column photo_id, else parsed from the file name)"),
    column("owner", pa.string(), "owner NSID from the API, else the owner parsed from the file name"),
    column("owner_name", pa.string(), "owner's name for attribution (getInfo realname, else username; the "
           "author of an attribution table)"),
    column("views", pa.int64(), "view count (getInfo views)", unit="views", value_range=">= 0",
           direction="higher_better"),
    column("faves", pa.int64(), "fave count (getFavorites total with per_page=1)", unit="faves",
           value_range=">= 0", direction="higher_better"),
    column("licence", pa.int32(), "Flickr licence id (4, 5, 9, 10 reusable CC; 7, 8 no known copyright / "
           "US government; 0 all rights reserved)", value_range="0..16"),
    column("licence_name", pa.string(), "licence name (Flickr's name of the id, or an attribution table's "
           "licence such as GPL-2+ for photos not from Flickr)"),
    column("posted_at", _UTC_SECONDS, "upload time", unit="UTC"),
    column("fetched_at", _UTC_SECONDS, "when the answer was fetched (null for a file source without it)",
           unit="UTC"),
    column("status", pa.string(), "ok, not_found, private (not a public photo: never shipped), not_listed (not "
                                  "in the --source file table) or error:<reason> (crawl.popularity.ERROR_REASONS)",
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
    column("views", pa.int64(), "view count (search extra views; getInfo when the extra is missing)",
           unit="views", value_range=">= 0"),
    column("faves", pa.int64(), "fave count (search extra count_faves; getFavorites total when it is missing)",
           unit="faves", value_range=">= 0"),
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
        column("f_obj", pa.float64(), "objective score: harmony-score's harmony_score", value_range="0..1",
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
        column("flag", pa.string(), "ok, harmony_only, zero_views, no_popularity, no_photo_id, photo_not_found, "
               "crawl_failed or no_harmony (fuse.FUSE_FLAGS)", nullable=False),
    ])


#: ``icaa-data fuse``: one pre-assessment (coarse) score per image, ICAA17K section 4.1.
COARSE = _coarse_schema()

# --- annotate / mos ----------------------------------------------------------------------------------
_UTC_MICROSECONDS = pa.timestamp("us", tz="UTC")

#: ``icaa-data annotate import``: one row per valid rating (the latest annotation of a rater on a task).
RATINGS = pa.schema([
    column("image_id", pa.string(), "image id (task data.image_id)", nullable=False),
    column("task_id", pa.int64(), "Label Studio task id", nullable=False),
    column("rater", pa.string(), "rater: the annotator's e-mail (import from a server), user<id> (an export file "
           "carries the id only), or r-<HMAC> with annotate import --rater-pseudonyms", nullable=False),
    column("color", pa.int64(), "colour-aesthetics rating", value_range="1..10", direction="higher_better",
           nullable=False),
    column("overall", pa.int64(), "overall-aesthetics rating", value_range="1..10", direction="higher_better",
           nullable=False),
    column("confidence", pa.float64(), "rater's confidence in the colour rating", value_range="0..1",
           direction="higher_better", nullable=False),
    column("lead_time", pa.float64(), "time spent on the task (Label Studio lead_time)", unit="s",
           value_range=">= 0"),
    column("created_at", _UTC_MICROSECONDS, "annotation creation time", unit="UTC"),
    column("updated_at", _UTC_MICROSECONDS, "last edit of the annotation (incremental import key)", unit="UTC"),
    column("annotation_id", pa.int64(), "Label Studio annotation id (unique key)", nullable=False),
])

#: ``icaa-data annotate import``: annotations not used, with a code from annotation.ratings.REJECT_REASONS.
ANNOTATION_REJECTS = pa.schema([
    column("image_id", pa.string(), "task data.image_id (null when the task has none)"),
    column("task_id", pa.int64(), "Label Studio task id"),
    column("annotation_id", pa.int64(), "Label Studio annotation id"),
    column("rater", pa.string(), "the annotator, as in ratings.parquet"),
    column("reason", pa.string(), "code from icaa.annotation.ratings.REJECT_REASONS (first problem found)",
           nullable=False),
    column("detail", pa.string(), "every problem found, with the offending values"),
])

#: ``icaa-data mos --raters``: one row per rater, with each screen's verdict and the fitted subject model.
RATERS = pa.schema([
    column("rater", pa.string(), "rater id as in ratings.parquet", nullable=False),
    column("n_ratings", pa.int64(), "valid ratings by the rater", value_range=">= 1"),
    column("middle_share", pa.float64(), "share of colour ratings equal to 5 or 6", value_range="0..1"),
    column("score_std", pa.float64(), "standard deviation of the rater's colour ratings", value_range=">= 0"),
    column("loo_srcc", pa.float64(), "Spearman correlation with the leave-one-out consensus (mean of the others)",
           value_range="-1..1", direction="higher_better"),
    column("median_lead_time_s", pa.float64(), "median lead time", unit="s"),
    column("bt500_rejected", pa.bool_(), "ITU-R BT.500 Annex 2 rejection with N_i = images the rater rated"),
    column("lazy_reason", pa.string(), "first lazy-rater criterion met (lazy_* code) or empty"),
    column("verdict", pa.string(), "kept or flagged (flagged ratings get weight mos.flagged_weight)",
           nullable=False),
    column("reason", pa.string(), "comma-separated codes from icaa.annotation.mos.SCREEN_REASONS", nullable=False),
    column("weight", pa.float64(), "weight of the rater's ratings in the estimator", value_range="0..1"),
    column("bias", pa.float64(), "fitted offset (robust method; null otherwise)", unit="score points"),
    column("scale", pa.float64(), "fitted scale (robust method, 1 unless mos.fit_scale)"),
    column("sigma", pa.float64(), "fitted inconsistency (noise SD) of the genuine ratings", unit="score points",
           direction="lower_better"),
    column("p_middle", pa.float64(), "fitted probability of a lazy middle answer", value_range="0..1",
           direction="lower_better"),
    column("p_random", pa.float64(), "fitted probability of a random (spam) answer", value_range="0..1",
           direction="lower_better"),
])

#: ``icaa-data mos``: one row per image, named as ICAA17K's CSV names them (image_id, color, MOS, probability).
MOS = pa.schema([
    column("image_id", pa.string(), "image id", nullable=False),
    column("color", pa.float64(), "colour-aesthetics MOS (mos.method estimator)", value_range="1..10",
           direction="higher_better"),
    column("MOS", pa.float64(), "overall-aesthetics MOS", value_range="1..10", direction="higher_better"),
    column("probability", pa.float64(), "mean confidence of the ratings (ICAA17K keeps > 0.5)", value_range="0..1"),
    column("color_sd", pa.float64(), "SD of the (bias-corrected, weighted) colour ratings; null (NaN) with fewer "
           "than mos.min_ratings_for_spread (3) ratings, as are the intervals", value_range=">= 0"),
    column("MOS_sd", pa.float64(), "SD of the overall ratings (NaN below 3 ratings)", value_range=">= 0"),
    column("color_ci95_low", pa.float64(), "lower end of the 95 % interval of color"),
    column("color_ci95_high", pa.float64(), "upper end of the 95 % interval of color"),
    column("MOS_ci95_low", pa.float64(), "lower end of the 95 % interval of MOS"),
    column("MOS_ci95_high", pa.float64(), "upper end of the 95 % interval of MOS"),
    column("n_ratings", pa.int64(), "valid ratings of the image", value_range=">= 1"),
    column("n_raters_kept", pa.int64(), "raters whose rating counted as genuine (weight > 0, responsibility > 0.5)"),
    column("color_mean", pa.float64(), "plain mean of the colour ratings (the paper's label), for comparison"),
    column("confidence_ok", pa.bool_(), "probability >= mos.min_mean_confidence (the paper's filter; rows are "
           "kept, build decides)", nullable=False),
])

#: Name -> schema of every table. Each stage module registers its own tables here.
SCHEMAS: dict[str, pa.Schema] = {"rejects": REJECTS, "popularity": POPULARITY, "candidates": CANDIDATES,
                                 "coarse": COARSE}
SCHEMAS.update({"ratings": RATINGS, "annotation_rejects": ANNOTATION_REJECTS, "raters": RATERS, "mos": MOS})

# --- balance / build ---------------------------------------------------------------------------------
#: ``icaa-data balance``: one row per selected photo (a duplicate group counts once).
SELECTION = pa.schema([
    column("image_id", pa.string(), "image id representing the photo (scan's duplicate representative when in the pool)",
           nullable=False),
    column("category", pa.string(), "ICAA17K class the photo was selected for", nullable=False),
    column("coarse_score", pa.float64(), "coarse pre-assessment score from fuse", value_range="1..10",
           direction="higher_better", nullable=False),
    column("score_bin", pa.int64(), "equal-width coarse-score bin over balance.score_min..score_max",
           value_range="0..balance.bins-1", nullable=False),
    column("primary_category", pa.string(), "the pool's category of the image (may differ from category when a "
           "class score >= balance.class_score_threshold made it eligible elsewhere)"),
    column("photo_key", pa.string(), "duplicate-group key (scan's duplicate_of, else image_id)", nullable=False),
    column("n_classes", pa.int64(), "number of classes the photo qualified for", value_range=">= 1"),
])
SCHEMAS["selection"] = SELECTION


#: ``scan``: one row per usable image file.
_IMAGE_COLUMNS = [
    column("image_id", pa.string(), "path relative to the image root, POSIX separators; stable across machines",
           nullable=False),
    column("path", pa.string(), "absolute path of the file when scanned", nullable=False),
    column("sha256", pa.string(), "SHA-256 of the file's bytes, hex", nullable=False),
    column("phash", pa.string(), "perceptual hash (ImageHash phash, 64 bits, hex) of the decoded image"),
    column("width", pa.int64(), "width of the stored image", unit="px"),
    column("height", pa.int64(), "height of the stored image", unit="px"),
    column("format", pa.string(), "container format as Pillow names it (JPEG, PNG, GIF, ...)"),
    column("mode", pa.string(), "pixel mode as stored (RGB, L, CMYK, P, I;16, RGBA, ...)"),
    column("frames", pa.int64(), "frames in the file (animated GIF/WebP > 1; the first is used)"),
    column("bytes", pa.int64(), "file size", unit="bytes"),
    column("camera_make", pa.string(), "EXIF Make (tag 271), null when absent"),
    column("camera_model", pa.string(), "EXIF Model (tag 272), null when absent"),
]
IMAGES_PARTS = pa.schema(_IMAGE_COLUMNS)
IMAGES = pa.schema(_IMAGE_COLUMNS + [
    column("duplicate_of", pa.string(), "image_id of the first member (sorted) of this image's exact or near "
           "duplicate group; null for that representative and for unique images"),
    column("duplicate_kind", pa.string(), "exact (same bytes as the representative) or near (perceptual hash "
           "within near_duplicate_distance bits); null when not a duplicate"),
])
SCHEMAS["images"] = IMAGES


def _colour_schema() -> pa.Schema:
    from icaa.pipeline.categories import ICAA17K_CATEGORIES, class_score_column
    from icaa.pipeline.colour.measures import HARMONY_COLUMNS

    _MEASURE_TYPES = {"float64": pa.float64(), "string": pa.string()}

    fields = [
        column("image_id", pa.string(), "id from scan (path relative to the image root)", nullable=False),
        column("category", pa.string(), "ICAA17K class, kind/name as the release's folders (30 values)"),
        column("category_confidence", pa.float64(), "the class's share of the summed class scores", value_range="0..1",
               direction="higher_better"),
        column("dominant", pa.string(), "dominant colour family: red, orange, yellow, green, blue, violet or achromatic"),
        column("auxiliary", pa.string(), "auxiliary colour family (same set), null when the photo has none"),
        column("dominant_share", pa.float64(), "share of the figure-weighted colour mass in the dominant family",
               value_range="0..1"),
        column("auxiliary_share", pa.float64(), "share of that mass in the auxiliary family (0 when none)",
               value_range="0..1"),
        column("chromatic_fraction", pa.float64(), "share of the colour mass that is chromatic", value_range="0..1"),
        column("background_fraction", pa.float64(), "share of pixels down-weighted as plain backdrop", value_range="0..1"),
        column("ryb12_dominant", pa.int64(), "index 0..11 of the dominant family's mean hue on Itten's RYB wheel "
               "(Kuler map; 0 red, 2 orange, 4 yellow, 6 green, 8 blue, 10 violet); null when achromatic"),
        column("ryb12_auxiliary", pa.int64(), "the same for the auxiliary family"),
        column("dominant_lab", pa.list_(pa.float64()), "mean CIELAB (D65) of the dominant family's pixels"),
        column("auxiliary_lab", pa.list_(pa.float64()), "mean CIELAB of the auxiliary family's pixels"),
    ]
    fields += [column(spec.name, _MEASURE_TYPES[spec.dtype], spec.description, unit=spec.unit,
                      value_range=spec.value_range, direction=spec.direction) for spec in HARMONY_COLUMNS]
    fields += [column(class_score_column(c), pa.float64(), f"soft score of class {c}", value_range="0..1",
                      direction="higher_better") for c in ICAA17K_CATEGORIES]
    return pa.schema(fields)


#: ``harmony-score``: one row per scored image.
COLOUR = _colour_schema()
SCHEMAS["colour"] = COLOUR
