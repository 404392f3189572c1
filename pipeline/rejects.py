"""The one closed registry of reasons: why a row is rejected, flagged or failed, in every stage.

Each code has one sentence and the stages that write it. A rejected row goes to a ``rejects`` table
(schema ``icaa.pipeline.schemas.REJECTS``, or ``ANNOTATION_REJECTS``) with one of these codes in its
``reason`` column; a crawl failure is the status ``error:<code>``; a rater's verdict in raters.parquet
is a comma-separated list of codes; balance counts its skips by code in the metrics. The per-stage
sets that modules expose (``BUILD_REJECTS``, ``FUSE_FLAGS``, ``SCREEN_REASONS``, ...) are views of
:data:`REASONS`. Add a code here, with its sentence and stages, before writing it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Reason", "REASONS", "reasons_of", "sentence", "FUSE_FLAGS", "UNUSABLE_POPULARITY",
    "EMPTY_FILE", "NOT_AN_IMAGE", "TRUNCATED", "TOO_SMALL", "DECOMPRESSION_BOMB", "UNSUPPORTED",
    "OUTSIDE_ROOT", "MISSING", "UNREADABLE", "DECODE_FAILED", "REJECT_REASONS",
]


@dataclass(frozen=True)
class Reason:
    """One code: its sentence, the stages that write it, and (crawl failures) whether a retry may cure it."""

    sentence: str
    stages: tuple[str, ...]
    retried: bool = False


_IMAGE_STAGES = ("scan", "harmony-score")

#: code -> Reason, grouped by the stages that write them.
REASONS: dict[str, Reason] = {
    # Files that cannot be used as images (scan, harmony-score; pipeline.decode raises them).
    "empty_file": Reason("the file has zero bytes", _IMAGE_STAGES),
    "not_an_image": Reason("no image decoder recognises the file (e.g. a text file named .jpg)", _IMAGE_STAGES),
    "truncated": Reason("the image data ends early or is corrupt", _IMAGE_STAGES),
    "too_small": Reason("the shorter side is below the stage's min_side_px", _IMAGE_STAGES),
    "decompression_bomb": Reason("width x height exceeds the stage's max_pixels", _IMAGE_STAGES),
    "unsupported": Reason("an image format or mode this stage cannot convert to RGB", _IMAGE_STAGES),
    "outside_root": Reason("the path resolves outside the image root (e.g. ../../x.jpg or a symlink out)",
                           _IMAGE_STAGES),
    "missing": Reason("a manifest names a file that does not exist", _IMAGE_STAGES),
    "unreadable": Reason("the file exists but cannot be read (permissions, I/O error)", _IMAGE_STAGES),
    "decode_failed": Reason("the decoder failed for another reason (the detail column has its message)",
                            _IMAGE_STAGES),
    # Photos the crawl could not use (crawl: status error:<code>; fuse: the row's flag or reject reason).
    "no_photo_id": Reason("no Flickr photo id for the image (the manifest holds none and none parses from the "
                          "file name): no crawl was tried", ("crawl", "fuse")),
    "missing_fields": Reason("an ok answer lacked views, faves, the owner or the visibility", ("crawl",)),
    "timeout": Reason("no complete answer within timeout_s", ("crawl",), retried=True),
    "connection": Reason("connection refused, reset or dropped", ("crawl",), retried=True),
    "rate_limited": Reason("HTTP 429 (or 503 with Retry-After) from the server", ("crawl",), retried=True),
    "server_error": Reason("HTTP 5xx", ("crawl",), retried=True),
    "malformed_response": Reason("the body is not the JSON object the API returns", ("crawl",), retried=True),
    "service_unavailable": Reason("API failure code 105 or 201 (service temporarily unavailable)", ("crawl",),
                                  retried=True),
    "http_error": Reason("an HTTP 4xx other than 429", ("crawl",)),
    "api_error": Reason("an API failure code other than not-found, permission denied and invalid key", ("crawl",)),
    # fuse: rows without a coarse score.
    "not_public": Reason("the crawl found the photo is not public (popularity status private): never selected "
                         "or shipped", ("fuse", "balance", "build")),
    "unscorable": Reason("neither a harmony score nor usable popularity: nothing to score from", ("fuse",)),
    "zero_views": Reason("the crawl says 0 views (or no views/faves numbers): f_subj undefined", ("fuse",)),
    "no_popularity": Reason("the popularity table has no numbers for the image (no row, or status not_listed)",
                            ("fuse",)),
    "photo_not_found": Reason("the API says the photo does not exist", ("fuse",)),
    "crawl_failed": Reason("the crawl asked and failed (status error:<reason>: timeout, server error, ...)",
                           ("fuse",)),
    # balance: rows of the pool that are not candidates (counted in the metrics).
    "no_score": Reason("coarse_score is missing or not finite", ("balance",)),
    "no_category": Reason("category is missing (and no class score reaches the threshold)", ("balance",)),
    "duplicate": Reason("another image of the same photo (photo_key) represents it", ("balance",)),
    # build: selected rows that are not in the dataset.
    "licence_not_allowed": Reason("licence unknown or not admitted by build.licences (default: the Flickr "
                                  "licences that allow redistribution in a dataset, "
                                  "crawl.licences.REDISTRIBUTABLE_LICENCES)", ("build",)),
    "no_mos": Reason("no row in the MOS table, or its color/MOS/probability is missing", ("build",)),
    "low_confidence": Reason("probability below build.min_probability (ICAA17K keeps mean confidence > 0.5)",
                             ("build",)),
    "no_image": Reason("no path in images.parquet, or the file is missing", ("build",)),
    # annotate import: annotations not used (the rating codes name the Label Studio controls color, overall).
    "cancelled": Reason("the rater skipped the task (was_cancelled)", ("annotate",)),
    "no_image_id": Reason("the task carries no data.image_id", ("annotate",)),
    "no_rater": Reason("the annotation has no completed_by", ("annotate",)),
    "missing_color": Reason("no colour-aesthetics rating", ("annotate",)),
    "missing_overall": Reason("no overall-aesthetics rating", ("annotate",)),
    "missing_confidence": Reason("no confidence", ("annotate",)),
    "color_out_of_range": Reason("colour rating not an integer in 1..10", ("annotate",)),
    "overall_out_of_range": Reason("overall rating not an integer in 1..10", ("annotate",)),
    "confidence_out_of_range": Reason("confidence not a number in 0..1", ("annotate",)),
    "unknown_field": Reason("a result names a control that is not in the labelling config", ("annotate",)),
    "superseded": Reason("the same rater annotated the task again; the latest (updated_at) annotation is used",
                         ("annotate",)),
    # mos: a rater's verdict (raters.parquet, reason column).
    "kept": Reason("no screen flagged the rater", ("mos",)),
    "bt500_outlier": Reason("ITU-R BT.500 Annex 2 subject rejection (outlier share > 5 %, symmetric)", ("mos",)),
    "lazy_middle_share": Reason("share of middle scores (5-6) above lazy_max_middle_share", ("mos",)),
    "lazy_low_std": Reason("score standard deviation below lazy_min_std", ("mos",)),
    "lazy_low_loo_srcc": Reason("Spearman correlation with the leave-one-out consensus below lazy_min_loo_srcc",
                                ("mos",)),
    "lazy_short_lead_time": Reason("median lead time below lazy_min_median_lead_time_s", ("mos",)),
    "too_few_ratings": Reason("fewer than min_ratings_per_rater ratings: statistics not computed, rater kept",
                              ("mos",)),
}


def reasons_of(stage: str, *, codes: tuple[str, ...] | None = None) -> dict[str, str]:
    """code -> sentence of every reason ``stage`` writes (in registry order), or of ``codes`` in that order, each
    of which must be one that ``stage`` writes (ValueError otherwise).

    >>> list(reasons_of("build"))
    ['not_public', 'licence_not_allowed', 'no_mos', 'low_confidence', 'no_image']
    """
    if codes is not None:
        foreign = [code for code in codes if stage not in REASONS[code].stages]
        if foreign:
            raise ValueError(f"reason(s) {foreign} are not registered for the stage {stage!r}")
        return {code: REASONS[code].sentence for code in codes}
    return {code: reason.sentence for code, reason in REASONS.items() if stage in reason.stages}


def sentence(code: str) -> str:
    """The sentence of one code; KeyError names a code that is not registered."""
    return REASONS[code].sentence


EMPTY_FILE = "empty_file"
NOT_AN_IMAGE = "not_an_image"
TRUNCATED = "truncated"
TOO_SMALL = "too_small"
DECOMPRESSION_BOMB = "decompression_bomb"
UNSUPPORTED = "unsupported"
OUTSIDE_ROOT = "outside_root"
MISSING = "missing"
UNREADABLE = "unreadable"
DECODE_FAILED = "decode_failed"

#: The codes of files that cannot be used as images (scan and harmony-score), code -> sentence.
REJECT_REASONS: dict[str, str] = reasons_of("scan")


#: The popularity flags of fuse that are also reasons: with ``on_missing_popularity="drop"`` fuse rejects such a row.
UNUSABLE_POPULARITY = ("zero_views", "no_popularity", "no_photo_id", "photo_not_found", "crawl_failed")
#: Closed set of row flags: what fuse knew of each image (the unusable-popularity ones are also reasons of the
#: registry, with which ``on_missing_popularity="drop"`` rejects a row).
FUSE_FLAGS: dict[str, str] = {
    "ok": "harmony and popularity both usable",
    "harmony_only": "no popularity table was given: scored from harmony alone, as asked",
    **reasons_of("fuse", codes=UNUSABLE_POPULARITY),
    "no_harmony": "the harmony score is missing: scored from popularity alone",
}
