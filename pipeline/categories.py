"""The 30 ICAA17K colour classes, spelled exactly as the release's folders are.

Complementary classes are unordered pairs of six hue families in the canonical order
red < orange < yellow < green < blue < violet, except for ICAA17K's own spellings, which we keep
verbatim (``orange_yellow``, ``yellow_green``, ``green_blue`` follow that order; the release has
no exceptions to it).
"""

from __future__ import annotations

__all__ = [
    "HUE_FAMILIES",
    "ACHROMATIC",
    "FAMILIES",
    "COMPLEMENTARY_CLASSES",
    "MONOCHROMATIC_CLASSES",
    "ICAA17K_CATEGORIES",
    "class_score_column",
    "CLASS_SCORE_COLUMNS",
    "category_kind",
    "pair_category",
]

HUE_FAMILIES: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "violet")
ACHROMATIC = "achromatic"
FAMILIES: tuple[str, ...] = HUE_FAMILIES + (ACHROMATIC,)

COMPLEMENTARY_CLASSES: tuple[str, ...] = (
    "red_orange", "red_yellow", "red_green", "red_blue", "red_violet",
    "orange_yellow", "orange_green", "orange_blue", "orange_violet",
    "yellow_green", "yellow_blue", "yellow_violet",
    "green_blue", "green_violet",
    "blue_violet",
)
MONOCHROMATIC_CLASSES: tuple[str, ...] = (
    "black", "blue", "darkgreen", "darkorange", "darkyellow", "gray", "green", "lightblue",
    "lightpink", "orange", "pink", "red", "violet", "white", "yellow",
)
ICAA17K_CATEGORIES: tuple[str, ...] = tuple(
    [f"complementary/{name}" for name in COMPLEMENTARY_CLASSES]
    + [f"monochromatic/{name}" for name in MONOCHROMATIC_CLASSES]
)


def class_score_column(category: str) -> str:
    """Column name holding the score of one class, e.g. ``class_score_complementary_red_blue``."""
    if category not in ICAA17K_CATEGORIES:
        raise ValueError(f"expected one of the 30 ICAA17K categories, got {category!r}")
    return "class_score_" + category.replace("/", "_")


CLASS_SCORE_COLUMNS: tuple[str, ...] = tuple(class_score_column(c) for c in ICAA17K_CATEGORIES)


def category_kind(category: str) -> str:
    """``complementary`` or ``monochromatic``."""
    if category not in ICAA17K_CATEGORIES:
        raise ValueError(f"expected one of the 30 ICAA17K categories, got {category!r}")
    return category.split("/", 1)[0]


def pair_category(family_a: str, family_b: str) -> str:
    """The complementary class of two distinct hue families, in canonical order.

    >>> pair_category("blue", "red")
    'complementary/red_blue'
    """
    if family_a not in HUE_FAMILIES or family_b not in HUE_FAMILIES or family_a == family_b:
        raise ValueError(f"expected two distinct hue families of {HUE_FAMILIES}, got {family_a!r}, {family_b!r}")
    first, second = sorted((family_a, family_b), key=HUE_FAMILIES.index)
    return f"complementary/{first}_{second}"
