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

import cv2
import numpy as np

from icaa.pipeline.categories import HUE_FAMILIES, ICAA17K_CATEGORIES, pair_category
from icaa.pipeline.colour.colourfulness import colourfulness_HaslerSusstrunk2003
from icaa.pipeline.colour.conversion import (
    area_resize_long_side, as_rgb_float32, oklab_hue_deg, srgb_to_hsv, srgb_to_lab,
)
from icaa.pipeline.colour.harmony import harmony_OuLuo2006
from icaa.pipeline.colour.naming import (
    ACHROMATIC_INDEX, ACHROMATIC_LEVELS, FAMILY_UPPER_DEG, TONE_FAMILY, TONE_NAMES, achromatic_level, hue_family,
    hue_mode_families, is_achromatic, olive_as_green, tone_class, tone_index,
)
from icaa.pipeline.colour.templates import TEMPLATES, fit_hue_templates
from icaa.pipeline.colour.wheel import ryb12_index

__all__ = ["FAMILY_FROM", "ColourAnalysis", "figure_weights", "analyse_colours"]

#: What names a chromatic pixel's family in ``analyse_colours``: its hue mode, or its own hue.
FAMILY_FROM = ("hue_mode", "pixel")


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
    family_shares: dict[str, float] = field(default_factory=dict)
    template: str = "N"
    template_rotation_deg: float = float("nan")
    template_distance_deg: float = float("nan")
    harmony_template_score: float = float("nan")
    template_distances_deg: dict[str, float] = field(default_factory=dict)
    harmony_ou_luo: float = float("nan")
    colourfulness: float = float("nan")


def figure_weights(lab: np.ndarray, chroma: np.ndarray, *, border_fraction: float = 0.04,
                   background_delta_e: float = 14.0, background_max_chroma: float = 18.0,
                   background_weight: float = 0.25, background_min_fraction: float = 0.15,
                   background_max_fraction: float = 0.92, mask_long_side_px: int = 96) -> tuple[np.ndarray, float]:
    """Per-pixel weights that down-weight a plain, near-neutral background touching the border.

    ``lab`` is a CIELAB image ``(H, W, 3)`` and ``chroma`` its C*ab ``(H, W)``. A pixel is background
    when it is within ``background_delta_e`` (CIE76) of the median colour of one of the four border
    strips, has C* below ``background_max_chroma``, and belongs to a region of such pixels connected to
    the border. It is applied only when that region covers between ``background_min_fraction`` and
    ``background_max_fraction`` of the image (otherwise there is no figure to favour). Returns
    (weights in (0, 1], background fraction).
    """
    full_height, full_width = lab.shape[:2]
    scale = min(1.0, mask_long_side_px / max(full_height, full_width))
    if scale < 1.0:  # the backdrop is a large region: find it at low resolution, then upsample the mask
        size = (max(8, round(full_width * scale)), max(8, round(full_height * scale)))
        lab = cv2.resize(lab, size, interpolation=cv2.INTER_AREA)
        chroma = cv2.resize(np.ascontiguousarray(chroma, np.float32), size, interpolation=cv2.INTER_NEAREST)
    height, width = lab.shape[:2]
    ring = max(1, int(round(border_fraction * min(height, width))))
    rows = np.stack([lab[:ring].reshape(-1, 3), lab[-ring:].reshape(-1, 3)])
    columns = np.stack([lab[:, :ring].reshape(-1, 3), lab[:, -ring:].reshape(-1, 3)])
    references = np.concatenate([np.median(rows, axis=1), np.median(columns, axis=1)])  # top, bottom, left, right
    pixels = lab.reshape(-1, 3)
    # |x - r|^2 = |x|^2 - 2 x.r + |r|^2, nearest of the four references for every pixel at once.
    references = references.astype(np.float32)
    nearest = (np.einsum("ij,ij->i", references, references)[:, None] - 2.0 * (references @ pixels.T)).min(axis=0)
    squared = (nearest + np.einsum("ij,ij->i", pixels, pixels)).reshape(height, width)
    candidate = ((squared < background_delta_e ** 2) & (chroma < background_max_chroma)).astype(np.uint8)
    count, labels = cv2.connectedComponents(candidate, connectivity=4)
    touches_border = np.zeros(count, bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        touches_border[edge] = True
    touches_border[0] = False  # label 0 is the non-candidate pixels
    background = touches_border[labels]
    if scale < 1.0:
        background = cv2.resize(background.view(np.uint8), (full_width, full_height),
                                interpolation=cv2.INTER_NEAREST).view(bool)
    fraction = float(np.count_nonzero(background)) / background.size
    weights = np.ones((full_height, full_width), np.float32)
    if background_min_fraction <= fraction <= background_max_fraction:
        weights[background] = background_weight
        return weights, fraction
    return weights, 0.0


def spectral_residual_saliency(lightness: np.ndarray, *, width_px: int = 64, blur_sigma_px: float = 3.0) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007) of a lightness image, scaled to 0..1.

    The log-amplitude spectrum minus its 3x3 local mean keeps what is unexpected in the image; its
    inverse transform, squared and blurred, marks small distinct objects on a uniform surround.
    """
    height, width = lightness.shape
    small_height = max(8, round(height * width_px / width))
    small = cv2.resize(lightness.astype(np.float32), (width_px, small_height), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amplitude - cv2.blur(log_amplitude.astype(np.float32), (3, 3))
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), blur_sigma_px)
    saliency = cv2.resize(saliency, (width, height), interpolation=cv2.INTER_LINEAR)
    top = float(saliency.max())
    return saliency / top if top > 0 else np.zeros_like(saliency)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order[np.searchsorted(cumulative, cumulative[-1] / 2.0)]])


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
    """Dominant/auxiliary colours, ICAA17K class, class scores and harmony scores of one image.

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
        A plain near-neutral ground touching the border (see ``figure_weights``, whose thresholds the
        ``background_*`` arguments are) is down-weighted to
        ``background_weight`` when it is a white (L* >= backdrop_min_lightness) or black
        (L* <= backdrop_max_lightness) backdrop and the rest of the image is clearly coloured (mean
        chroma credit >= figure_min_chroma_credit): a red tool on a white table is a red photo, a grey
        clock on a grey wall stays grey.
    achromatic_auxiliary_min_share
        With a single hue family, the share of (figure-weighted) pixels that are achromatic at one of
        ``achromatic_auxiliary_levels`` needed to call achromatic the auxiliary colour.
    chromatic_auxiliary_min_fraction
        For black/gray/white images, the chromatic share needed to name a hue family auxiliary.
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

    Example: a half red, half blue image is ``complementary/red_blue``.

    >>> rgb = np.zeros((8, 8, 3), np.float32); rgb[:, :4, 0] = 1; rgb[:, 4:, 2] = 1
    >>> analyse_colours(rgb).category
    'complementary/red_blue'
    """
    if family_from not in FAMILY_FROM:
        raise ValueError(f"expected family_from of {FAMILY_FROM}, got {family_from!r}")
    if family_hue not in FAMILY_UPPER_DEG:
        raise ValueError(f"expected family_hue of {sorted(FAMILY_UPPER_DEG)}, got {family_hue!r}")
    rgb = as_rgb_float32(rgb)
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an image of shape (H, W, 3), got {rgb.shape}")
    rgb = area_resize_long_side(rgb, analysis_long_side_px)
    lab_image = srgb_to_lab(rgb)
    hsv = srgb_to_hsv(rgb).reshape(-1, 3)
    chroma_image = np.hypot(lab_image[..., 1], lab_image[..., 2])
    lab, chroma = lab_image.reshape(-1, 3), chroma_image.reshape(-1)
    lightness, hue, saturation = lab[:, 0], hsv[:, 0], hsv[:, 1]
    chromatic = ~is_achromatic(lightness, chroma, achromatic_chroma=achromatic_chroma,
                               black_lightness_any_chroma=black_lightness_any_chroma)
    # The hue naming a family is needed for coloured pixels only (the OkLCh one costs a conversion).
    chromatic_hue = hue[chromatic] if family_hue == "hsv" else oklab_hue_deg(rgb.reshape(-1, 3)[chromatic])
    classes = np.full(len(chromatic), ACHROMATIC_INDEX, np.int64)
    if family_from == "pixel":
        classes[chromatic] = olive_as_green(hue_family(chromatic_hue, family_upper_deg, hue_space=family_hue),
                                            lightness[chromatic], olive_below_lightness=olive_below_lightness)
    chroma_credit = np.minimum(chroma * (1.0 / chroma_full_credit), 1.0)
    chroma_credit[~chromatic] = 0.0

    weights, background_fraction = np.ones(len(classes), np.float32), 0.0
    if suppress_background and min(rgb.shape[:2]) >= 8:
        candidate_weights, candidate_fraction = figure_weights(
            lab_image, chroma_image, border_fraction=background_border_fraction,
            background_delta_e=background_delta_e, background_max_chroma=background_max_chroma,
            background_weight=background_weight, background_min_fraction=background_min_fraction,
            background_max_fraction=background_max_fraction)
        candidate_weights = candidate_weights.reshape(-1)
        if candidate_fraction > 0:
            figure = candidate_weights == 1.0
            # Only a clearly coloured figure is favoured over its plain ground; a grey object on a grey
            # wall stays a grey photo.
            background_lightness = float(np.median(lightness[~figure])) if not figure.all() else 50.0
            studio_ground = background_lightness >= backdrop_min_lightness or \
                background_lightness <= backdrop_max_lightness
            if studio_ground and figure.any() and chroma_credit[figure].mean() >= figure_min_chroma_credit:
                weights, background_fraction = candidate_weights, candidate_fraction
    if saliency_strength > 0:
        saliency = spectral_residual_saliency(lab_image[..., 0]).reshape(-1)
        weights = weights * ((1.0 - saliency_strength) + saliency_strength * saliency)

    if family_from == "hue_mode" and chromatic.any():
        classes[chromatic] = hue_mode_families(
            chromatic_hue, (chroma_credit * weights)[chromatic], upper_deg=family_upper_deg,
            hue_space=family_hue, bin_deg=hue_mode_bin_deg, smoothing_deg=hue_mode_smoothing_deg,
            valley_ratio=hue_mode_valley_ratio, max_spread_deg=hue_mode_max_spread_deg,
            lightness=lightness[chromatic], olive_below_lightness=olive_below_lightness)
    # A weakly coloured pixel is partly colour, partly grey: its chroma credit goes to its family and the
    # rest to the achromatic mass (so a beige floor reads as grey-ish, not as a yellow photo).
    credit = np.where(chromatic, chroma_credit, 1.0) * weights
    family_count = ACHROMATIC_INDEX + 1
    masses = np.bincount(classes, weights=credit, minlength=family_count)
    masses[ACHROMATIC_INDEX] += float(np.dot(weights, np.where(chromatic, 1.0 - chroma_credit, 0.0)))
    total_mass = masses.sum()
    chromatic_mass = masses[:ACHROMATIC_INDEX].sum()
    chromatic_fraction = float(chromatic_mass / total_mass) if total_mass > 0 else 0.0
    chromatic_shares = masses[:ACHROMATIC_INDEX] / chromatic_mass if chromatic_mass > 0 else np.zeros(ACHROMATIC_INDEX)
    all_shares = masses / total_mass if total_mass > 0 else np.zeros(family_count)

    # Tone of every chromatic pixel (its monochromatic class) and the achromatic levels, as credit shares.
    thresholds = tone_thresholds or {}
    tones = tone_index(np.where(chromatic, classes, 0), lightness, chroma, **thresholds)
    tone_mass = np.bincount(tones[chromatic], weights=credit[chromatic], minlength=len(TONE_NAMES))
    family_credit = np.bincount(TONE_FAMILY, weights=tone_mass, minlength=ACHROMATIC_INDEX)[TONE_FAMILY]
    tone_fractions = np.divide(tone_mass, family_credit, out=np.zeros(len(TONE_NAMES)), where=family_credit > 0)
    levels = achromatic_level(lightness, black_below_lightness=black_below_lightness,
                              white_above_lightness=white_above_lightness)
    level_fractions = np.bincount(levels[~chromatic], weights=weights[~chromatic], minlength=3)
    level_fractions = level_fractions / level_fractions.sum() if level_fractions.sum() > 0 else np.zeros(3)

    # Soft scores for all 30 classes.
    scores = dict.fromkeys(ICAA17K_CATEGORIES, 0.0)
    for a in range(len(HUE_FAMILIES)):
        for b in range(a + 1, len(HUE_FAMILIES)):
            smaller = min(chromatic_shares[a], chromatic_shares[b])
            scores[pair_category(HUE_FAMILIES[a], HUE_FAMILIES[b])] = chromatic_fraction * min(
                1.0, smaller / auxiliary_min_share) * float(chromatic_shares[a] + chromatic_shares[b])
    ranked_shares = np.sort(chromatic_shares)
    for tone, name in enumerate(TONE_NAMES):
        family = TONE_FAMILY[tone]
        largest_other = ranked_shares[-2] if chromatic_shares[family] == ranked_shares[-1] else ranked_shares[-1]
        alone = max(0.0, 1.0 - float(largest_other) / auxiliary_min_share)
        scores[f"monochromatic/{name}"] = chromatic_fraction * float(chromatic_shares[family]) * alone * \
            float(tone_fractions[tone])
    for level_index, level in enumerate(ACHROMATIC_LEVELS):
        scores[f"monochromatic/{level}"] = (1.0 - chromatic_fraction) * float(level_fractions[level_index])

    # The decision rule.
    order = np.argsort(-chromatic_shares, kind="stable")
    first, second = int(order[0]), int(order[1])
    if chromatic_fraction < min_chromatic_fraction:
        level = ACHROMATIC_LEVELS[int(np.argmax(level_fractions))]
        category, dominant = f"monochromatic/{level}", "achromatic"
        auxiliary = HUE_FAMILIES[first] if chromatic_fraction >= chromatic_auxiliary_min_fraction else None
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
            category = f"monochromatic/{tone_class(dominant, median_lightness, median_chroma, **thresholds)}"
            visible_levels = [ACHROMATIC_LEVELS.index(name) for name in achromatic_auxiliary_levels]
            visible_grey = ~chromatic & np.isin(levels, visible_levels)
            grey_fraction = float(weights[visible_grey].sum() / weights.sum())
            auxiliary = "achromatic" if grey_fraction >= achromatic_auxiliary_min_share else None
    auxiliary_index = None if auxiliary is None else (
        ACHROMATIC_INDEX if auxiliary == "achromatic" else HUE_FAMILIES.index(auxiliary))
    auxiliary_share = float(all_shares[auxiliary_index]) if auxiliary_index is not None else 0.0
    score_total = sum(scores.values())
    confidence = scores[category] / score_total if score_total > 0 else 0.0

    dominant_index = ACHROMATIC_INDEX if dominant == "achromatic" else HUE_FAMILIES.index(dominant)

    # Representative colour of each group: its credit-weighted mean CIELAB colour.
    group_credit = credit + 1e-12
    pixel_counts = np.bincount(classes, minlength=family_count)
    credit_sums = np.bincount(classes, weights=group_credit, minlength=family_count)
    lab_sums = np.stack([np.bincount(classes, weights=group_credit * lab[:, channel], minlength=family_count)
                         for channel in range(3)], axis=-1)

    def mean_lab(index: int) -> tuple[float, float, float] | None:
        if pixel_counts[index] == 0:
            return None
        return tuple(float(v) for v in lab_sums[index] / credit_sums[index])

    def family_ryb(index: int | None) -> int | None:
        if index is None or index == ACHROMATIC_INDEX:
            return None
        members = classes == index
        return int(ryb12_index(_circular_mean_deg(hue[members], credit[members])))

    dominant_lab = mean_lab(dominant_index)
    # Ou-Luo needs two colours: the auxiliary, else the next-largest colour group present.
    partner = auxiliary_index
    if partner is None:
        ranked = [int(i) for i in np.argsort(-masses, kind="stable")
                  if i != dominant_index and masses[i] > 0 and pixel_counts[i] > 0]
        partner = ranked[0] if ranked else None
    partner_lab = mean_lab(partner) if partner is not None else None
    ou_luo = float(harmony_OuLuo2006(np.array(dominant_lab), np.array(partner_lab))) \
        if partner_lab and dominant_lab else float("nan")
    fit = fit_hue_templates(hue, saturation, grey_mean_saturation=grey_mean_saturation)
    return ColourAnalysis(
        category=category, category_confidence=float(confidence), dominant=dominant, auxiliary=auxiliary,
        dominant_share=dominant_share, auxiliary_share=auxiliary_share, chromatic_fraction=chromatic_fraction,
        background_fraction=background_fraction, ryb12_dominant=family_ryb(dominant_index),
        ryb12_auxiliary=family_ryb(auxiliary_index), dominant_lab=dominant_lab,
        auxiliary_lab=mean_lab(auxiliary_index) if auxiliary_index is not None else None,
        class_scores=scores,
        family_shares={name: float(all_shares[i]) for i, name in enumerate(HUE_FAMILIES + ("achromatic",))},
        template=fit.template, template_rotation_deg=fit.rotation_deg, template_distance_deg=fit.distance_deg,
        harmony_template_score=fit.score, template_distances_deg=fit.distances_deg, harmony_ou_luo=ou_luo,
        colourfulness=colourfulness_HaslerSusstrunk2003(rgb),
    )
