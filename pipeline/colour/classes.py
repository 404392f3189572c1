"""Steps 3 to 6 of ``analyse_colours``: families, colour masses, achromatic levels, class scores, the class
decision and the representative colour of each family.

A pixel is achromatic or one of six hue families, the family of its mode of the hue histogram (one colour whose
shades straddle a family border stays one colour); a family's mass is the sum over its pixels of (figure weight x
chroma credit; the rest of a weakly coloured pixel counts as grey). Below ``min_chromatic_fraction`` of chromatic
mass the photo is black/gray/white; otherwise the runner-up family becomes the auxiliary colour when its share of
the chromatic mass reaches ``auxiliary_min_share`` (a complementary class), else the dominant family's tone (from
weighted-median L*, C*) names a monochromatic class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from icaa.pipeline.categories import HUE_FAMILIES, ICAA17K_CATEGORIES, pair_category
from icaa.pipeline.colour.naming import (
    ACHROMATIC_INDEX, ACHROMATIC_LEVELS, TONE_FAMILY, TONE_NAMES, achromatic_level, hue_family, hue_mode_families,
    olive_as_green, tone_class, tone_index,
)
from icaa.pipeline.colour.pixels import PixelColours

__all__ = ["FAMILY_FROM", "pixel_families", "ColourMasses", "colour_masses", "AchromaticLevels", "achromatic_levels",
           "class_scores", "ClassDecision", "decide_class", "distinct_colour", "representative_colours"]

#: What names a chromatic pixel's family in ``analyse_colours``: its hue mode, or its own hue.
FAMILY_FROM = ("hue_mode", "pixel")


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted median of float32 L* or C* values (negative ones count as 0 in the ordering)."""
    # Non-negative floats' bit patterns sort as the floats do: one integer sort of (bits, position) keys
    # beats an argsort.
    bits = np.maximum(values, np.float32(0.0)).view(np.int32).astype(np.int64)
    keys = np.sort((bits << 32) | np.arange(len(values), dtype=np.int64))
    order = keys & 0xFFFFFFFF
    cumulative = np.cumsum(weights[order])
    return float(values[order[np.searchsorted(cumulative, cumulative[-1] / 2.0)]])


def pixel_families(pixels: PixelColours, weights: np.ndarray, *, family_from: str = "hue_mode",
                   family_upper_deg: dict[str, float] | None = None, family_hue: str = "oklch",
                   hue_mode_bin_deg: float = 5.0, hue_mode_smoothing_deg: float = 5.0,
                   hue_mode_valley_ratio: float = 0.5, hue_mode_max_spread_deg: float = 45.0,
                   olive_below_lightness: float = 45.0) -> np.ndarray:
    """Step 3: each pixel's family, an index into ``HUE_FAMILIES`` or ``ACHROMATIC_INDEX`` (N,).

    "hue_mode": a chromatic pixel takes the family of its mode of the (figure-weighted, chroma-credited)
    hue histogram (``naming.hue_mode_families``); "pixel": its own hue. Dark yellows are olive, named green.

    >>> from icaa.pipeline.colour.pixels import pixel_colours
    >>> rgb = np.zeros((4, 4, 3), np.float32); rgb[:, :2, 0] = 1.0
    >>> pixels = pixel_colours(rgb)
    >>> np.unique(pixel_families(pixels, np.ones(16))).tolist()   # red and (black) achromatic
    [0, 6]
    """
    if family_from not in FAMILY_FROM:
        raise ValueError(f"expected family_from of {FAMILY_FROM}, got {family_from!r}")
    chromatic, lightness = pixels.chromatic, pixels.lightness
    classes = np.full(len(chromatic), ACHROMATIC_INDEX, np.int64)
    if family_from == "pixel":
        classes[chromatic] = olive_as_green(hue_family(pixels.chromatic_hue, family_upper_deg, hue_space=family_hue),
                                            lightness[chromatic], olive_below_lightness=olive_below_lightness)
    elif chromatic.any():
        classes[chromatic] = hue_mode_families(
            pixels.chromatic_hue, (pixels.chroma_credit * weights)[chromatic], upper_deg=family_upper_deg,
            hue_space=family_hue, bin_deg=hue_mode_bin_deg, smoothing_deg=hue_mode_smoothing_deg,
            valley_ratio=hue_mode_valley_ratio, max_spread_deg=hue_mode_max_spread_deg,
            lightness=lightness[chromatic], olive_below_lightness=olive_below_lightness)
    return classes


@dataclass
class ColourMasses:
    """How much of the image each family holds (step 4)."""

    classes: np.ndarray            # (N,) family index of every pixel
    credit: np.ndarray             # (N,) what each pixel adds to its family's mass
    masses: np.ndarray             # (7,) six families then achromatic
    chromatic_fraction: float      # chromatic share of the total mass
    chromatic_shares: np.ndarray   # (6,) shares of the chromatic mass
    all_shares: np.ndarray         # (7,) shares of the total mass


def colour_masses(pixels: PixelColours, weights: np.ndarray, classes: np.ndarray) -> ColourMasses:
    """Step 4: family masses. A pixel adds (figure weight x chroma credit) to its family; the rest of a
    weakly coloured pixel adds to the achromatic mass (so a beige floor reads as grey-ish, not yellow).

    >>> from icaa.pipeline.colour.pixels import pixel_colours
    >>> rgb = np.zeros((4, 4, 3), np.float32); rgb[:, :2, 0] = 1.0; rgb[:, 2:] = 0.5
    >>> pixels = pixel_colours(rgb)
    >>> round(colour_masses(pixels, np.ones(16), pixel_families(pixels, np.ones(16))).chromatic_fraction, 2)
    0.5
    """
    chromatic, chroma_credit = pixels.chromatic, pixels.chroma_credit
    credit = np.where(chromatic, chroma_credit, 1.0) * weights
    family_count = ACHROMATIC_INDEX + 1
    masses = np.bincount(classes, weights=credit, minlength=family_count)
    masses[ACHROMATIC_INDEX] += float(np.dot(weights, np.where(chromatic, 1.0 - chroma_credit, 0.0)))
    total_mass = masses.sum()
    chromatic_mass = masses[:ACHROMATIC_INDEX].sum()
    chromatic_fraction = float(chromatic_mass / total_mass) if total_mass > 0 else 0.0
    chromatic_shares = masses[:ACHROMATIC_INDEX] / chromatic_mass if chromatic_mass > 0 else np.zeros(ACHROMATIC_INDEX)
    all_shares = masses / total_mass if total_mass > 0 else np.zeros(family_count)
    return ColourMasses(classes, credit, masses, chromatic_fraction, chromatic_shares, all_shares)


@dataclass
class AchromaticLevels:
    """Black, gray or white for every pixel, and the levels' weighted shares among the achromatic pixels."""

    levels: np.ndarray             # (N,) 0 black, 1 gray, 2 white (by L*, whatever the pixel's chroma)
    fractions: np.ndarray          # (3,) shares of the achromatic pixels' weight; zeros when there are none


def achromatic_levels(pixels: PixelColours, weights: np.ndarray, *, black_below_lightness: float = 20.0,
                      white_above_lightness: float = 88.0) -> AchromaticLevels:
    """Step 4b: the achromatic level of every pixel by L*, and their shares among the achromatic pixels.

    >>> from icaa.pipeline.colour.pixels import pixel_colours
    >>> rgb = np.zeros((2, 4, 3), np.float32); rgb[:, 2:] = 1.0
    >>> achromatic_levels(pixel_colours(rgb), np.ones(8)).fractions.tolist()
    [0.5, 0.0, 0.5]
    """
    chromatic = pixels.chromatic
    levels = achromatic_level(pixels.lightness, black_below_lightness=black_below_lightness,
                              white_above_lightness=white_above_lightness)
    level_fractions = np.bincount(levels[~chromatic], weights=weights[~chromatic], minlength=3)
    level_fractions = level_fractions / level_fractions.sum() if level_fractions.sum() > 0 else np.zeros(3)
    return AchromaticLevels(levels, level_fractions)


def class_scores(pixels: PixelColours, masses: ColourMasses, levels: AchromaticLevels, *,
                 auxiliary_min_share: float = 0.2, tone_thresholds: dict[str, float] | None = None
                 ) -> dict[str, float]:
    """Step 5: a soft score in 0..1 for each of the 30 ICAA17K classes.

    A pair class scores the chromatic fraction x the pair's share of the chromatic mass, scaled down
    while the smaller of the two is below ``auxiliary_min_share``; a monochromatic tone class its
    family's share x the share of that family's credit in this tone x how alone the family is; black,
    gray and white share the achromatic fraction by their pixel weights.

    >>> from icaa.pipeline.colour.pixels import pixel_colours
    >>> rgb = np.zeros((4, 4, 3), np.float32); rgb[:, :2, 0] = 1.0; rgb[:, 2:, 2] = 1.0
    >>> pixels = pixel_colours(rgb); weights = np.ones(16)
    >>> masses = colour_masses(pixels, weights, pixel_families(pixels, weights))
    >>> scores = class_scores(pixels, masses, achromatic_levels(pixels, weights))
    >>> max(scores, key=scores.get)
    'complementary/red_blue'
    """
    chromatic, chromatic_fraction, chromatic_shares = pixels.chromatic, masses.chromatic_fraction, \
        masses.chromatic_shares
    thresholds = tone_thresholds or {}
    tones = tone_index(np.where(chromatic, masses.classes, 0), pixels.lightness, pixels.chroma, **thresholds)
    tone_mass = np.bincount(tones[chromatic], weights=masses.credit[chromatic], minlength=len(TONE_NAMES))
    family_credit = np.bincount(TONE_FAMILY, weights=tone_mass, minlength=ACHROMATIC_INDEX)[TONE_FAMILY]
    tone_fractions = np.divide(tone_mass, family_credit, out=np.zeros(len(TONE_NAMES)), where=family_credit > 0)
    level_fractions = levels.fractions.tolist()
    shares = chromatic_shares.tolist()  # Python floats: a few dozen scalar steps are faster outside numpy
    scores = dict.fromkeys(ICAA17K_CATEGORIES, 0.0)
    for (a, b), category in _PAIR_CATEGORIES.items():
        smaller = min(shares[a], shares[b])
        scores[category] = chromatic_fraction * min(1.0, smaller / auxiliary_min_share) * (shares[a] + shares[b])
    ranked_shares = sorted(shares)
    for tone, category in enumerate(_TONE_CATEGORIES):
        family = _TONE_FAMILY_LIST[tone]
        largest_other = ranked_shares[-2] if shares[family] == ranked_shares[-1] else ranked_shares[-1]
        alone = max(0.0, 1.0 - largest_other / auxiliary_min_share)
        scores[category] = chromatic_fraction * shares[family] * alone * float(tone_fractions[tone])
    for level_index, level in enumerate(ACHROMATIC_LEVELS):
        scores[f"monochromatic/{level}"] = (1.0 - chromatic_fraction) * level_fractions[level_index]
    return scores


_PAIR_CATEGORIES = {(a, b): pair_category(HUE_FAMILIES[a], HUE_FAMILIES[b])
                    for a in range(len(HUE_FAMILIES)) for b in range(a + 1, len(HUE_FAMILIES))}
_TONE_CATEGORIES = tuple(f"monochromatic/{name}" for name in TONE_NAMES)
_TONE_FAMILY_LIST = TONE_FAMILY.tolist()


@dataclass
class ClassDecision:
    """The ICAA17K class of an image and the colours that name it (step 6)."""

    category: str
    dominant: str                 # a hue family or "achromatic"
    auxiliary: str | None         # a hue family, "achromatic", or None
    dominant_share: float
    dominant_index: int           # index into HUE_FAMILIES, or ACHROMATIC_INDEX
    auxiliary_index: int | None


def decide_class(pixels: PixelColours, weights: np.ndarray, masses: ColourMasses, levels: AchromaticLevels, *,
                 min_chromatic_fraction: float = 0.2, auxiliary_min_share: float = 0.2,
                 achromatic_auxiliary_min_share: float = 0.25,
                 achromatic_auxiliary_levels: tuple[str, ...] = ("gray", "white"),
                 chromatic_auxiliary_min_fraction: float = 0.2, distinct_colour_min_chroma: float = 17.0,
                 distinct_colour_min_area: float = 0.01, tone_thresholds: dict[str, float] | None = None
                 ) -> ClassDecision:
    """Step 6: the decision rule. Below ``min_chromatic_fraction`` of chromatic mass the photo is black,
    gray or white, with a hue family auxiliary when its chromatic fraction reaches
    ``chromatic_auxiliary_min_fraction`` or else when it holds a distinct colour (``distinct_colour``);
    otherwise the runner-up family is the auxiliary colour when its share of the chromatic
    mass reaches ``auxiliary_min_share`` (a pair class), else the dominant family's tone (weighted-median
    L*, C*) names a monochromatic class, with achromatic auxiliary when enough gray/white pixels stand by.

    >>> from icaa.pipeline.colour.pixels import pixel_colours
    >>> rgb = np.zeros((4, 4, 3), np.float32); rgb[:, :2, 0] = 1.0; rgb[:, 2:, 2] = 1.0
    >>> pixels = pixel_colours(rgb); weights = np.ones(16)
    >>> masses = colour_masses(pixels, weights, pixel_families(pixels, weights))
    >>> decide_class(pixels, weights, masses, achromatic_levels(pixels, weights)).category
    'complementary/red_blue'
    """
    unknown_levels = sorted(set(achromatic_auxiliary_levels) - set(ACHROMATIC_LEVELS))
    if unknown_levels:
        raise ValueError(f"achromatic_auxiliary_levels: unknown level(s) {unknown_levels}, expected some of "
                         f"{list(ACHROMATIC_LEVELS)}")
    chromatic, lightness, chroma = pixels.chromatic, pixels.lightness, pixels.chroma
    classes, credit = masses.classes, masses.credit
    chromatic_shares, all_shares = masses.chromatic_shares, masses.all_shares
    level_fractions = levels.fractions
    order = np.argsort(-chromatic_shares, kind="stable")
    first, second = int(order[0]), int(order[1])
    if masses.chromatic_fraction < min_chromatic_fraction:
        level = ACHROMATIC_LEVELS[int(np.argmax(level_fractions))]
        category, dominant = f"monochromatic/{level}", "achromatic"
        if masses.chromatic_fraction >= chromatic_auxiliary_min_fraction:
            auxiliary = HUE_FAMILIES[first]
        else:
            auxiliary = distinct_colour(pixels, weights, classes, min_chroma=distinct_colour_min_chroma,
                                        min_area=distinct_colour_min_area)
        dominant_share = float(all_shares[ACHROMATIC_INDEX])
    else:
        dominant = HUE_FAMILIES[first]
        dominant_share = float(all_shares[first])
        if chromatic_shares[second] >= auxiliary_min_share:
            auxiliary = HUE_FAMILIES[second]
            category = pair_category(dominant, auxiliary)
        else:
            members = classes == first
            median_lightness = _weighted_median(lightness[members], credit[members])
            median_chroma = _weighted_median(chroma[members], credit[members])
            tone = tone_class(dominant, median_lightness, median_chroma, **(tone_thresholds or {}))
            category = f"monochromatic/{tone}"
            visible_level = np.array([level in achromatic_auxiliary_levels for level in ACHROMATIC_LEVELS])
            visible_grey = ~chromatic & visible_level[levels.levels]
            grey_fraction = float(weights[visible_grey].sum() / weights.sum())
            auxiliary = "achromatic" if grey_fraction >= achromatic_auxiliary_min_share else None
    auxiliary_index = None if auxiliary is None else (
        ACHROMATIC_INDEX if auxiliary == "achromatic" else HUE_FAMILIES.index(auxiliary))
    dominant_index = ACHROMATIC_INDEX if dominant == "achromatic" else HUE_FAMILIES.index(dominant)
    return ClassDecision(category, dominant, auxiliary, dominant_share, dominant_index, auxiliary_index)


def distinct_colour(pixels: PixelColours, weights: np.ndarray, classes: np.ndarray, *, min_chroma: float = 17.0,
                    min_area: float = 0.01) -> str | None:
    """The hue family of the largest distinct colour of an image, or None when it has none.

    A pixel is distinctly coloured when its C*ab reaches ``min_chroma``: the XKCD survey's colours named
    grey reach C* 17 (90th percentile, ``notes/colour-science.md`` 1.3), so a weaker colour may be a
    tinted grey, and people file near-neutral greys with a faint tint under achromatic. A colour counts
    when its pixels hold at least ``min_area`` of the (figure-weighted) image: in a grey photo a patch of
    colour stands out whatever its size (colour pops out), down to a patch about a tenth of the image
    across (1 % of the area).

    >>> from icaa.pipeline.colour.pixels import pixel_colours
    >>> rgb = np.full((10, 10, 3), 0.5, np.float32); rgb[:2, :2] = (0.1, 0.6, 0.1)
    >>> pixels = pixel_colours(rgb); weights = np.ones(100)
    >>> distinct_colour(pixels, weights, pixel_families(pixels, weights))
    'green'
    """
    distinct = pixels.chromatic & (pixels.chroma >= min_chroma)
    area = np.bincount(classes[distinct], weights=weights[distinct], minlength=ACHROMATIC_INDEX + 1)
    area = area[:ACHROMATIC_INDEX] / max(float(weights.sum()), 1e-12)
    largest = int(np.argmax(area))
    return HUE_FAMILIES[largest] if area[largest] >= min_area and area[largest] > 0 else None


def representative_colours(pixels: PixelColours, masses: ColourMasses) -> dict[int, tuple[float, float, float]]:
    """Family index -> its credit-weighted mean CIELAB colour, for every family with at least one pixel.

    >>> from icaa.pipeline.colour.pixels import pixel_colours
    >>> rgb = np.zeros((4, 4, 3), np.float32); rgb[..., 0] = 1.0
    >>> pixels = pixel_colours(rgb); weights = np.ones(16)
    >>> [round(v) for v in representative_colours(pixels, colour_masses(pixels, weights,
    ...     pixel_families(pixels, weights)))[0]]
    [53, 80, 67]
    """
    classes, group_credit = masses.classes, masses.credit + 1e-12
    family_count = ACHROMATIC_INDEX + 1
    pixel_counts = np.bincount(classes, minlength=family_count)
    credit_sums = np.bincount(classes, weights=group_credit, minlength=family_count)
    lab_sums = np.stack([np.bincount(classes, weights=group_credit * pixels.lab[:, channel], minlength=family_count)
                         for channel in range(3)], axis=-1)
    means = (lab_sums / np.where(pixel_counts > 0, credit_sums, 1.0)[:, None]).tolist()
    return {index: tuple(means[index]) for index in range(family_count) if pixel_counts[index] > 0}
