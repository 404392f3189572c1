"""Which licences a published dataset may ship: Flickr licence ids, their names, and the licence filter.

Flickr names each photo's licence by a number (``flickr.photos.licenses.getInfo``). The default filter,
:data:`REDISTRIBUTABLE_LICENCES`, admits the ids whose terms allow anyone to redistribute the image in a
dataset, for any use, with attribution at most: CC BY 2.0 (4), CC BY-SA 2.0 (5), no known copyright
restrictions (7, Flickr Commons), United States Government Work (8), CC0 1.0 (9) and the Public Domain
Mark 1.0 (10). It leaves out All Rights Reserved (0), the non-commercial licences (1, 2, 3: the dataset
could not be used commercially), CC BY-ND (6: no adapted copies, and the crawl downloads resized
renditions) and any id not listed here (Flickr added CC 4.0 licences with ids we have not confirmed:
an unknown id is never guessed).

Photos from elsewhere (the demo's packaged wallpapers) carry a licence *name* instead (e.g.
``GPL-2+``, from an attribution table). A filter is a list of tokens: a number admits that Flickr id,
any other token admits the licence of that exact name, and ``any`` turns the filter off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from icaa.common.errors import IcaaError

__all__ = ["LICENCE_NAMES", "REDISTRIBUTABLE_LICENCES", "SPDX_TO_FLICKR", "LicenceFilter", "parse_licence_filter",
           "licence_name"]

#: Flickr licence id -> licence name (``flickr.photos.licenses.getInfo``).
LICENCE_NAMES: dict[int, str] = {
    0: "All Rights Reserved", 1: "CC BY-NC-SA 2.0", 2: "CC BY-NC 2.0", 3: "CC BY-NC-ND 2.0", 4: "CC BY 2.0",
    5: "CC BY-SA 2.0", 6: "CC BY-ND 2.0", 7: "No known copyright restrictions", 8: "United States Government Work",
    9: "CC0 1.0", 10: "Public Domain Mark 1.0"}
#: The default filter of ``crawl search`` and ``build``: ids that allow redistribution in a dataset.
REDISTRIBUTABLE_LICENCES: tuple[int, ...] = (4, 5, 7, 8, 9, 10)
#: SPDX identifiers that name exactly one Flickr licence.
SPDX_TO_FLICKR: dict[str, int] = {"CC-BY-NC-SA-2.0": 1, "CC-BY-NC-2.0": 2, "CC-BY-NC-ND-2.0": 3, "CC-BY-2.0": 4,
                                  "CC-BY-SA-2.0": 5, "CC-BY-ND-2.0": 6, "CC0-1.0": 9}


def licence_name(licence_id: object) -> str | None:
    """Flickr's name of a licence id (``None`` for a missing or unknown id)."""
    if licence_id is None or pd.isna(licence_id):
        return None
    try:
        return LICENCE_NAMES.get(int(licence_id))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class LicenceFilter:
    """Flickr ids and licence names a dataset may ship; ``admit_all`` when the filter is off (``any``)."""

    ids: frozenset[int]
    names: frozenset[str] = frozenset()
    admit_all: bool = False

    def describe(self) -> str:
        if self.admit_all:
            return "any (filter off)"
        return ", ".join([f"{i} ({LICENCE_NAMES.get(i, 'unknown id')})" for i in sorted(self.ids)]
                         + sorted(self.names))

    def admits(self, licence_ids: pd.Series, licence_names: pd.Series) -> pd.Series:
        """Per row: the Flickr id is admitted, or the licence name is. Rows with neither are not admitted."""
        if self.admit_all:
            return pd.Series(True, index=licence_ids.index)
        ids = pd.to_numeric(licence_ids, errors="coerce")
        by_id = ids.isin(list(self.ids))
        by_name = licence_names.map(lambda v: isinstance(v, str) and v in self.names)
        return (by_id | by_name).astype(bool)


def parse_licence_filter(tokens: str | Iterable[object] | None) -> LicenceFilter:
    """A filter from ``"4,5,9,GPL-2+"``, a list of tokens, ``"any"``, or None (the default).

    >>> parse_licence_filter("4,9,GPL-2+").describe()
    '4 (CC BY 2.0), 9 (CC0 1.0), GPL-2+'
    """
    if tokens is None:
        return LicenceFilter(frozenset(REDISTRIBUTABLE_LICENCES))
    parts = [p.strip() for p in tokens.split(",")] if isinstance(tokens, str) else [str(t).strip() for t in tokens]
    parts = [p for p in parts if p]
    if not parts:
        raise IcaaError("the licence filter is empty: give Flickr licence ids and/or licence names, e.g. 4,5,9,10, "
                        "or 'any' to ship every licence")
    if any(p.lower() == "any" for p in parts):
        if len(parts) > 1:
            raise IcaaError(f"licence filter {','.join(parts)!r}: 'any' turns the filter off and takes no other "
                            "licence")
        return LicenceFilter(frozenset(), admit_all=True)
    ids = {int(p) for p in parts if p.isdigit()}
    return LicenceFilter(frozenset(ids), frozenset(p for p in parts if not p.isdigit()))
