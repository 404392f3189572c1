"""Dominant and auxiliary colour of a photo, and its ICAA17K class with a score for all 30 classes.

Method (``notes/colour-science.md`` 2.2, every number a keyword argument): each pixel is achromatic or
one of six hue families, the family of its mode of the hue histogram (one colour whose shades straddle a
family border stays one colour); a family's mass is the sum over its pixels of (figure weight x chroma
credit min(C*/30, 1); the rest of a weakly coloured pixel counts as grey). Plain, near-neutral backgrounds
connected to the image border are down-weighted, because people judge figure against ground: a red tool
on a white table is a red photo. Below
``min_chromatic_fraction`` of chromatic mass the photo is black/gray/white; otherwise the runner-up
family becomes the auxiliary colour when its share of the chromatic mass reaches ``auxiliary_min_share``
(a complementary class), else the dominant family's tone (from weighted-median L*, C*) names a
monochromatic class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from icaa.pipeline.colour.classes import (
    FAMILY_FROM, AchromaticLevels, ClassDecision, ColourMasses, achromatic_levels, class_scores, colour_masses,
    decide_class, distinct_colour, pixel_families, representative_colours,
)
from icaa.pipeline.colour.figure_ground import figure_ground_weights, figure_weights
from icaa.pipeline.colour.measures import MeasureInput, harmony_measures
from icaa.pipeline.colour.naming import ACHROMATIC_INDEX
from icaa.pipeline.colour.pixels import PixelColours, pixel_colours
from icaa.pipeline.colour.wheel import ryb12_index

# The steps are re-exported: ``analyse_colours`` and its steps are read together.
__all__ = ["FAMILY_FROM", "ColourAnalysis", "PixelColours", "ColourMasses", "ClassDecision", "AchromaticLevels",
           "pixel_colours", "figure_weights", "figure_ground_weights", "pixel_families", "colour_masses",
           "achromatic_levels", "class_scores", "decide_class", "distinct_colour", "representative_colours",
           "analyse_colours"]


@dataclass
class ColourAnalysis:
    """Everything harmony-score records about one image's colours."""

    category: str
    category_confidence: float
    dominant: str                      # a hue family or "achromatic"
    auxiliary: str | None              # a hue family, "achromatic", or None
    dominant_share: float              # share of the total (figure-weighted, chroma-credited) colour mass
    auxiliary_share: float
    chromatic_fraction: float
    background_fraction: float         # share of pixels treated as plain background
    ryb12_dominant: int | None
    ryb12_auxiliary: int | None
    dominant_lab: tuple[float, float, float]
    auxiliary_lab: tuple[float, float, float] | None
    class_scores: dict[str, float] = field(default_factory=dict)
    #: Every column of the registered harmony measures (``measures.HARMONY_COLUMNS``).
    harmony: dict[str, object] = field(default_factory=dict)


def _circular_mean_deg(hue_deg: np.ndarray, weights: np.ndarray) -> float:
    radians = np.radians(hue_deg)
    return float(np.degrees(np.arctan2((weights * np.sin(radians)).sum(), (weights * np.cos(radians)).sum())) % 360)


def analyse_colours(
    rgb: np.ndarray,
    *,
    analysis_long_side_px: int = 96,
    chroma_full_credit: float = 30.0,
    achromatic_chroma: float = 10.0,
    black_lightness_any_chroma: float = 8.0,
    black_below_lightness: float = 20.0,
    white_above_lightness: float = 88.0,
    min_chromatic_fraction: float = 0.2,
    auxiliary_min_share: float = 0.2,
    achromatic_auxiliary_min_share: float = 0.25,
    achromatic_auxiliary_levels: tuple[str, ...] = ("gray", "white"),
    chromatic_auxiliary_min_fraction: float = 0.2,
    distinct_colour_min_chroma: float = 17.0,
    distinct_colour_min_area: float = 0.01,
    suppress_background: bool = True,
    background_delta_e: float = 14.0,
    background_max_chroma: float = 18.0,
    background_weight: float = 0.25,
    background_border_fraction: float = 0.04,
    background_min_fraction: float = 0.15,
    background_max_fraction: float = 0.92,
    figure_min_chroma_credit: float = 0.5,
    backdrop_min_lightness: float = 80.0,
    backdrop_max_lightness: float = 20.0,
    grey_mean_saturation: float = 0.10,
    saliency_strength: float = 0.0,
    family_upper_deg: dict[str, float] | None = None,
    family_hue: str = "oklch",
    tone_thresholds: dict[str, float] | None = None,
    family_from: str = "hue_mode",
    hue_mode_bin_deg: float = 5.0,
    hue_mode_smoothing_deg: float = 5.0,
    hue_mode_valley_ratio: float = 0.5,
    hue_mode_max_spread_deg: float = 45.0,
    olive_below_lightness: float = 45.0,
) -> ColourAnalysis:
    """Dominant/auxiliary colours, ICAA17K class, class scores and harmony measures of one image.

    The steps, each a pure function of its own: ``pixel_colours`` (conversion, achromatic pixels, chroma
    credit), ``figure_ground_weights``, ``pixel_families``, ``colour_masses``, ``achromatic_levels``,
    ``class_scores``, ``decide_class``, ``representative_colours``, then every measure of
    ``measures.HARMONY_MEASURES``.
    The keyword arguments are the thresholds of those steps (see each for its meaning); they live in
    ``params.yaml`` under ``harmony-score.analysis``.

    Parameters
    ----------
    rgb
        sRGB image ``(H, W, 3)``, float in [0, 1] or uint8.
    analysis_long_side_px
        Larger images are first area-averaged to this long side: colour shares, tones and hue
        histograms of a photo are stable well below it, and every later step is per pixel.
    min_chromatic_fraction
        Below this share of chromatic mass the image is black, gray or white.
    auxiliary_min_share
        Share of the chromatic mass the runner-up family needs to be the auxiliary colour (tau_aux).
    suppress_background, figure_min_chroma_credit, backdrop_min_lightness, backdrop_max_lightness
        Figure against ground (``figure_ground_weights``; the ``background_*`` arguments are the
        thresholds of ``figure_weights``).
    achromatic_auxiliary_min_share
        With a single hue family, the share of (figure-weighted) pixels that are achromatic at one of
        ``achromatic_auxiliary_levels`` needed to call achromatic the auxiliary colour.
    chromatic_auxiliary_min_fraction, distinct_colour_min_chroma, distinct_colour_min_area
        For black/gray/white images, the chromatic share that names the largest hue family auxiliary;
        below it, a distinct colour (C* at least ``distinct_colour_min_chroma`` over at least
        ``distinct_colour_min_area`` of the image, ``classes.distinct_colour``) is the auxiliary.
    family_hue, family_upper_deg
        The hue angle that names a pixel's family, "oklch" (default: Oklab is built to be hue-linear, and
        its borders name the XKCD colours best) or "hsv"; and borders replacing those of ``FAMILY_UPPER_DEG``.
    family_from, hue_mode_bin_deg, hue_mode_smoothing_deg, hue_mode_valley_ratio, hue_mode_max_spread_deg
        "hue_mode" (default): a chromatic pixel takes the family of its mode of the (figure-weighted,
        chroma-credited) hue histogram, so that one colour whose shades straddle a family border stays one
        colour (see ``naming.hue_modes`` for the histogram options); a mode spread wider than
        ``hue_mode_max_spread_deg`` is no one colour and keeps per-pixel names. "pixel": every pixel by
        its own hue angle.
    olive_below_lightness
        A yellow colour (a hue mode's, or with ``family_from="pixel"`` a pixel's) darker than this CIELAB
        L* is named green: dark yellows are olive (``naming.olive_as_green``). 0 turns it off.
    grey_mean_saturation
        Below this mean HSV saturation the hue templates report "N" (``templates.fit_hue_templates``).

    Example: a half red, half blue image is ``complementary/red_blue``.

    >>> rgb = np.zeros((8, 8, 3), np.float32); rgb[:, :4, 0] = 1; rgb[:, 4:, 2] = 1
    >>> analyse_colours(rgb).category
    'complementary/red_blue'
    """
    pixels = pixel_colours(rgb, analysis_long_side_px=analysis_long_side_px, achromatic_chroma=achromatic_chroma,
                           black_lightness_any_chroma=black_lightness_any_chroma,
                           chroma_full_credit=chroma_full_credit, family_hue=family_hue)
    weights, background_fraction = figure_ground_weights(
        pixels, suppress_background=suppress_background, background_delta_e=background_delta_e,
        background_max_chroma=background_max_chroma, background_weight=background_weight,
        background_border_fraction=background_border_fraction, background_min_fraction=background_min_fraction,
        background_max_fraction=background_max_fraction, figure_min_chroma_credit=figure_min_chroma_credit,
        backdrop_min_lightness=backdrop_min_lightness, backdrop_max_lightness=backdrop_max_lightness,
        saliency_strength=saliency_strength)
    classes = pixel_families(pixels, weights, family_from=family_from, family_upper_deg=family_upper_deg,
                             family_hue=family_hue, hue_mode_bin_deg=hue_mode_bin_deg,
                             hue_mode_smoothing_deg=hue_mode_smoothing_deg, hue_mode_valley_ratio=hue_mode_valley_ratio,
                             hue_mode_max_spread_deg=hue_mode_max_spread_deg,
                             olive_below_lightness=olive_below_lightness)
    masses = colour_masses(pixels, weights, classes)
    levels = achromatic_levels(pixels, weights, black_below_lightness=black_below_lightness,
                               white_above_lightness=white_above_lightness)
    scores = class_scores(pixels, masses, levels, auxiliary_min_share=auxiliary_min_share,
                          tone_thresholds=tone_thresholds)
    decision = decide_class(pixels, weights, masses, levels, min_chromatic_fraction=min_chromatic_fraction,
                            auxiliary_min_share=auxiliary_min_share,
                            achromatic_auxiliary_min_share=achromatic_auxiliary_min_share,
                            achromatic_auxiliary_levels=achromatic_auxiliary_levels,
                            chromatic_auxiliary_min_fraction=chromatic_auxiliary_min_fraction,
                            distinct_colour_min_chroma=distinct_colour_min_chroma,
                            distinct_colour_min_area=distinct_colour_min_area, tone_thresholds=tone_thresholds)
    score_total = sum(scores.values())
    confidence = scores[decision.category] / score_total if score_total > 0 else 0.0
    colours = representative_colours(pixels, masses)

    def family_ryb(index: int | None) -> int | None:
        if index is None or index == ACHROMATIC_INDEX:
            return None
        members = classes == index
        return int(ryb12_index(_circular_mean_deg(pixels.hue[members], masses.credit[members])))

    # Ou-Luo needs two colours: the auxiliary, else the next-largest colour group present.
    partner = decision.auxiliary_index
    if partner is None:
        ranked = [int(i) for i in np.argsort(-masses.masses, kind="stable")
                  if i != decision.dominant_index and masses.masses[i] > 0 and i in colours]
        partner = ranked[0] if ranked else None
    dominant_lab = colours.get(decision.dominant_index)
    measures = harmony_measures(MeasureInput(
        pixels.rgb, pixels.hue, pixels.saturation, dominant_lab,
        colours.get(partner) if partner is not None else None, grey_mean_saturation=grey_mean_saturation))
    auxiliary_index = decision.auxiliary_index
    return ColourAnalysis(
        category=decision.category, category_confidence=float(confidence), dominant=decision.dominant,
        auxiliary=decision.auxiliary, dominant_share=decision.dominant_share,
        auxiliary_share=float(masses.all_shares[auxiliary_index]) if auxiliary_index is not None else 0.0,
        chromatic_fraction=masses.chromatic_fraction, background_fraction=background_fraction,
        ryb12_dominant=family_ryb(decision.dominant_index), ryb12_auxiliary=family_ryb(auxiliary_index),
        dominant_lab=dominant_lab, auxiliary_lab=colours.get(auxiliary_index) if auxiliary_index is not None else None,
        class_scores=scores, harmony=measures,
    )
