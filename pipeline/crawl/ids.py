"""What to fetch: Flickr photo ids from a manifest column or from ICAA17K-style file names.

ICAA17K names its files ``<owner><photo id>.jpg``: the owner is either an NSID such as
``140585134@N07`` (digits, ``@N``, two digits) or a plain username/path alias such as ``juiedesai``.
An NSID ends the owner unambiguously. A username may itself end in digits (``massy1970``), so the
split between its digits and the photo id's is a choice: we take the longest digit run that is a
valid photo id (no leading zero, at most ``max_photo_id``). Flickr's ids grow with upload time and
passed 5.4e10 in 2025, so an 11-digit run starting with 6-9 cannot be an id yet; that rule alone
splits ``massy19702990610207`` into ``massy1970`` + ``2990610207``. Such splits are marked
``ambiguous`` (the owner ends in a digit): a manifest column ``photo_id`` always wins over a parse.

Only names that look like Flickr names are read: the stem holds nothing but letters, digits, ``@``, ``_`` and
``-``, and the photo id has at least ``MIN_PHOTO_ID_DIGITS`` (9) digits; ids passed 100,000,000 in 2006 and
every ICAA17K name has 9 to 11. So ``scratch_route66.jpg``, ``IMG_1234.jpg`` or ``my photo 2.png`` hold no
photo id (failure ``not_a_flickr_name``), and are never fetched as someone else's photo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

from icaa.common.errors import IcaaError

__all__ = [
    "MAX_PHOTO_ID",
    "MIN_PHOTO_ID_DIGITS",
    "PARSE_FAILURES",
    "ParsedName",
    "parse_photo_name",
    "alternative_splits",
    "photo_ids_for",
]

#: Largest photo id accepted by the name parser (Flickr's newest ids are about 5.5e10 in 2025-26).
MAX_PHOTO_ID = 69_999_999_999

#: Fewest digits read as a photo id from a file name (Flickr's ids reached 9 digits in 2006).
MIN_PHOTO_ID_DIGITS = 9

#: Closed set of reasons a file name does not parse.
PARSE_FAILURES: dict[str, str] = {
    "no_trailing_digits": "the file name does not end in digits, so it holds no photo id",
    "no_valid_photo_id": "no suffix of the trailing digits is a valid photo id (leading zero or too large)",
    "no_owner": "nothing is left for the owner once the photo id is taken",
    "not_a_flickr_name": "the name is not <owner><photo id>: characters other than letters, digits, @, _ and -, "
                         f"or fewer than {MIN_PHOTO_ID_DIGITS} digits for the photo id",
}

_NSID_NAME = re.compile(r"^(?P<owner>\d+@N\d{2})(?P<photo_id>\d+)$")
_TRAILING_DIGITS = re.compile(r"^(?P<head>.*?)(?P<digits>\d+)$")
_FLICKR_NAME_CHARACTERS = re.compile(r"^[A-Za-z0-9@_-]+$")


@dataclass(frozen=True)
class ParsedName:
    """Owner and photo id read from a file name, or the reason they could not be read."""

    owner: str | None
    photo_id: str | None
    owner_kind: str | None  # "nsid" or "username"
    ambiguous: bool = False
    failure: str | None = None  # a key of PARSE_FAILURES

    @property
    def ok(self) -> bool:
        return self.failure is None


def _valid_photo_id(digits: str, max_photo_id: int) -> bool:
    return bool(digits) and digits[0] != "0" and int(digits) <= max_photo_id


def parse_photo_name(name: str, *, max_photo_id: int = MAX_PHOTO_ID) -> ParsedName:
    """Split an ICAA17K-style file name ``<owner><photo id>.<ext>`` into owner and photo id.

    Parameters
    ----------
    name
        A file name or a relative path (only the last component is read), with or without extension.
    max_photo_id
        Largest value accepted as a photo id.

    Returns
    -------
    ParsedName
        ``owner_kind`` is ``"nsid"`` for ``123@N07``-style owners, else ``"username"``; ``ambiguous``
        is true when the username ends in a digit (the owner/id border is a guess).

    Examples
    --------
    >>> parsed = parse_photo_name("complementary/orange_blue/140585134@N0737498238334.jpg")
    >>> parsed.owner, parsed.photo_id, parsed.owner_kind
    ('140585134@N07', '37498238334', 'nsid')
    >>> parsed = parse_photo_name("massy19702990610207.jpg")
    >>> parsed.owner, parsed.photo_id, parsed.ambiguous
    ('massy1970', '2990610207', True)
    """
    stem = PurePosixPath(name.replace("\\", "/")).name
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    if not _FLICKR_NAME_CHARACTERS.match(stem):
        return ParsedName(None, None, None, failure="not_a_flickr_name")
    nsid = _NSID_NAME.match(stem)
    if nsid and _valid_photo_id(nsid["photo_id"], max_photo_id):
        return ParsedName(nsid["owner"], nsid["photo_id"], "nsid")
    trailing = _TRAILING_DIGITS.match(stem)
    if not trailing:
        return ParsedName(None, None, None, failure="no_trailing_digits")
    head, digits = trailing["head"], trailing["digits"]
    if len(digits) < MIN_PHOTO_ID_DIGITS:
        return ParsedName(None, None, None, failure="not_a_flickr_name")
    for length in range(min(len(digits), len(str(max_photo_id))), MIN_PHOTO_ID_DIGITS - 1, -1):
        candidate = digits[-length:]
        if not _valid_photo_id(candidate, max_photo_id):
            continue
        owner = head + digits[:-length]
        if not owner:
            return ParsedName(None, None, None, failure="no_owner")
        return ParsedName(owner, candidate, "username", ambiguous=owner[-1].isdigit())
    return ParsedName(None, None, None, failure="no_valid_photo_id")


def alternative_splits(name: str, *, max_photo_id: int = MAX_PHOTO_ID,
                       min_digits: int = MIN_PHOTO_ID_DIGITS) -> list[tuple[str, str]]:
    """The other ``(owner, photo_id)`` readings of a username-style name, longest id first.

    A username may end in digits, so every name ``<username><digits>`` has other readings. They
    are tried, in this order, only when the first reading's photo does not exist: ``massy19702990610207`` reads first as
    ``massy1970`` + ``2990610207``, then ``massy19702`` + ``990610207``, ...

    >>> parse_photo_name("ab1234567890123.jpg").photo_id
    '34567890123'
    >>> alternative_splits("ab1234567890123.jpg")[:2]
    [('ab123', '4567890123'), ('ab1234', '567890123')]
    """
    parsed = parse_photo_name(name, max_photo_id=max_photo_id)
    if not parsed.ok or parsed.owner_kind != "username":  # an NSID ends unambiguously
        return []
    stem = parsed.owner + parsed.photo_id
    readings = []
    for length in range(len(parsed.photo_id) - 1, min_digits - 1, -1):
        owner, photo_id = stem[:-length], stem[-length:]
        if _valid_photo_id(photo_id, max_photo_id):
            readings.append((owner, photo_id))
    return readings


def photo_ids_for(images: pd.DataFrame, *, photo_id_column: str = "photo_id",
                  max_photo_id: int = MAX_PHOTO_ID) -> pd.DataFrame:
    """The photo to fetch for every image: a manifest column wins, else the file name is parsed.

    Parameters
    ----------
    images
        A table with ``image_id`` (relative path) and optionally ``photo_id_column`` and ``owner``.

    Returns
    -------
    DataFrame
        ``image_id, photo_id, owner, id_source, parse_failure`` in input order; ``id_source`` is
        ``manifest``, ``file_name`` or ``none`` (then ``parse_failure`` names the reason).
    """
    if "image_id" not in images.columns:
        raise IcaaError(f"the image table has no image_id column; found {', '.join(map(str, images.columns))}")
    duplicated = images["image_id"][images["image_id"].duplicated()]
    if len(duplicated):
        raise IcaaError(f"{len(duplicated)} image_id(s) appear twice in the image table, e.g. "
                        f"{', '.join(map(str, duplicated.head(3)))}; give each image one row")
    manifest_ids = images[photo_id_column] if photo_id_column in images.columns else None
    manifest_owner = images["owner"] if "owner" in images.columns else None
    rows = []
    for position, image_id in enumerate(images["image_id"].astype(str)):
        parsed = parse_photo_name(image_id, max_photo_id=max_photo_id)
        raw = manifest_ids.iloc[position] if manifest_ids is not None else None
        if raw is not None and not pd.isna(raw) and str(raw).strip():
            photo_id = str(raw).strip()
            if photo_id.endswith(".0"):  # a CSV column read as float
                photo_id = photo_id[:-2]
            if not photo_id.isdigit():
                raise IcaaError(f"image {image_id!r}: {photo_id_column}={raw!r} is not a Flickr photo id "
                                "(expected digits only)")
            owner = manifest_owner.iloc[position] if manifest_owner is not None else None
            if owner is None or pd.isna(owner):
                owner = parsed.owner if parsed.photo_id == photo_id else None
            rows.append((image_id, photo_id, owner, "manifest", None))
        elif parsed.ok:
            rows.append((image_id, parsed.photo_id, parsed.owner, "file_name", None))
        else:
            rows.append((image_id, None, None, "none", parsed.failure))
    return pd.DataFrame(rows, columns=["image_id", "photo_id", "owner", "id_source", "parse_failure"], dtype=object)
