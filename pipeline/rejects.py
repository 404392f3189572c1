"""The closed set of reasons a stage rejects a row, shared by every stage that reads images.

Each rejected row goes to a ``rejects`` table (schema ``icaa.pipeline.schemas.REJECTS``) with one
of these codes; stage metrics count rows per code. Add a code here, with its meaning, before using it.
"""

from __future__ import annotations

__all__ = [
    "EMPTY_FILE", "NOT_AN_IMAGE", "TRUNCATED", "TOO_SMALL", "DECOMPRESSION_BOMB", "UNSUPPORTED",
    "OUTSIDE_ROOT", "MISSING", "UNREADABLE", "DECODE_FAILED", "REJECT_REASONS",
]

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

#: code -> meaning
REJECT_REASONS: dict[str, str] = {
    EMPTY_FILE: "the file has zero bytes",
    NOT_AN_IMAGE: "no image decoder recognises the file (e.g. a text file named .jpg)",
    TRUNCATED: "the image data ends early or is corrupt",
    TOO_SMALL: "the shorter side is below the stage's min_side_px",
    DECOMPRESSION_BOMB: "width x height exceeds the stage's max_pixels",
    UNSUPPORTED: "an image format or mode this stage cannot convert to RGB",
    OUTSIDE_ROOT: "the path resolves outside the image root (e.g. ../../x.jpg or a symlink out)",
    MISSING: "a manifest names a file that does not exist",
    UNREADABLE: "the file exists but cannot be read (permissions, I/O error)",
    DECODE_FAILED: "the decoder failed for another reason (the detail column has its message)",
}
