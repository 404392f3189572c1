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
from icaa.pipeline.colour.conversion import (
    area_resize_long_side, as_rgb_float32, oklab_hue_deg, srgb_to_hsv, srgb_to_lab,
)
from icaa.pipeline.colour.measures import MeasureInput, harmony_measures
from icaa.pipeline.colour.naming import (
    ACHROMATIC_INDEX, ACHROMATIC_LEVELS, FAMILY_UPPER_DEG, TONE_FAMILY, TONE_NAMES, achromatic_level, hue_family,
    hue_mode_families, is_achromatic, olive_as_green, tone_class, tone_index,
)
from icaa.pipeline.colour.wheel import ryb12_index

__all__ = ["FAMILY_FROM", "ColourAnalysis", "PixelColours", "ColourMasses", "ClassDecision", "AchromaticLevels",
           "pixel_colours",
           "figure_weights", "figure_ground_weights", "pixel_families", "colour_masses", "achromatic_levels",
           "class_scores",
           "decide_class", "representative_colours", "analyse_colours"]

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
    #: Every column of the registered harmony measures (``measures.HARMONY_COLUMNS``).
    harmony: dict[str, object] = field(default_factory=dict)


def figure_weights(lab: np.ndarray, chroma: np.ndarray, *, border_fraction: float = 0.04,
                   background_delta_e: float = 14.0, background_max_chroma: float = 18.0,
                   background_weight: float = 0.25, background_min_fraction: float = 0.15,
                   background_max_fraction: float = 0.92, mask_long_side_px: int = 96,
                   backdrop_lightness: tuple[float, float] | None = None) -> tuple[np.ndarray, float]:
    """Per-pixel weights that down-weight a plain, near-neutral background touching the border.

    ``lab`` is a CIELAB image ``(H, W, 3)`` and ``chroma`` its C*ab ``(H, W)``. A pixel is background
    when it is within ``background_delta_e`` (CIE76) of the median colour of one of the four border
    strips, has C* below ``background_max_chroma``, and belongs to a region of such pixels connected to
    the border. It is applied only when that region covers between ``background_min_fraction`` and
    ``background_max_fraction`` of the image (otherwise there is no figure to favour). Returns
    (weights in (0, 1], background fraction).

    ``backdrop_lightness`` as ``(max_dark, min_light)``: only
    a ground whose pixels may reach L* <= max_dark or L* >= min_light is wanted, so when every border colour
    is more than ``background_delta_e`` from both (no pixel near it can be that dark or light), the search
    ends at once with no background. Only at the mask size itself, where that bound is exact.
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
    references = np.concatenate([_medians(rows), _medians(columns)])  # top, bottom, left, right
    if backdrop_lightness is not None and scale == 1.0:
        max_dark, min_light = backdrop_lightness
        border_lightness, reach = references[:, 0], background_delta_e + 1.0  # 1 for float32 rounding
        if not ((border_lightness < max_dark + reach) | (border_lightness > min_light - reach)).any():
            return np.ones((full_height, full_width), np.float32), 0.0
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


def _medians(samples: np.ndarray) -> np.ndarray:
    """``np.median(samples, axis=1)`` of finite values (the same numbers), without its generic overhead."""
    count = samples.shape[1]
    half = count // 2
    if count % 2:
        return np.partition(samples, half, axis=1)[:, half]
    ordered = np.partition(samples, [half - 1, half], axis=1)
    return (ordered[:, half - 1] + ordered[:, half]) / 2


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
    """Weighted median of float32 L* or C* values (negative ones count as 0 in the ordering)."""
    # Non-negative floats' bit patterns sort as the floats do: one integer sort of (bits, position) keys
    # beats an argsort.
    bits = np.maximum(values, np.float32(0.0)).view(np.int32).astype(np.int64)
    keys = np.sort((bits << 32) | np.arange(len(values), dtype=np.int64))
    order = keys & 0xFFFFFFFF
    cumulative = np.cumsum(weights[order])
    return float(values[order[np.searchsorted(cumulative, cumulative[-1] / 2.0)]])


def _circular_mean_deg(hue_deg: np.ndarray, weights: np.ndarray) -> float:
    radians = np.radians(hue_deg)
    return float(np.degrees(np.arctan2((weights * np.sin(radians)).sum(), (weights * np.cos(radians)).sum())) % 360)


@dataclass
class PixelColours:
    """Per-pixel colour quantities of an image at the analysis size (flat arrays of its N pixels)."""

    rgb: np.ndarray               # sRGB (H, W, 3) in [0, 1]
    lab_image: np.ndarray         # CIELAB (H, W, 3)
    chroma_image: np.ndarray      # C*ab (H, W)
    lab: np.ndarray               # (N, 3)
    chroma: np.ndarray            # (N,)
    hue: np.ndarray               # HSV hue, degrees (N,)
    saturation: np.ndarray        # HSV saturation, 0..1 (N,)
    chromatic: np.ndarray         # bool (N,): not black, gray or white
    chromatic_hue: np.ndarray     # the hue naming a family, for the chromatic pixels only
    chroma_credit: np.ndarray     # min(C* / chroma_full_credit, 1) for chromatic pixels, 0 otherwise

    @property
    def lightness(self) -> np.ndarray:
        return self.lab[:, 0]


def pixel_colours(rgb: np.ndarray, *, analysis_long_side_px: int = 96, achromatic_chroma: float = 10.0,
                  black_lightness_any_chroma: float = 8.0, chroma_full_credit: float = 30.0,
                  family_hue: str = "oklch") -> PixelColours:
    """Step 1: the image area-averaged to ``analysis_long_side_px`` and each pixel's colour quantities.

    ``rgb`` is sRGB ``(H, W, 3)``, float in [0, 1] or uint8. A pixel is chromatic unless
    ``naming.is_achromatic``; its chroma credit ``min(C*/chroma_full_credit, 1)`` is the share of it that
    counts as colour. ``family_hue`` ("oklch" or "hsv") chooses the hue angle that names families.

    >>> pixels = pixel_colours(np.full((4, 4, 3), 0.5, np.float32))
    >>> bool(pixels.chromatic.any()), float(pixels.chroma_credit.max())
    (False, 0.0)
    """
    if family_hue not in FAMILY_UPPER_DEG:
        raise ValueError(f"expected family_hue of {sorted(FAMILY_UPPER_DEG)}, got {family_hue!r}")
    rgb = as_rgb_float32(rgb)
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an image of shape (H, W, 3), got {rgb.shape}")
    rgb = area_resize_long_side(rgb, analysis_long_side_px)
    lab_image = srgb_to_lab(rgb, validated=True)
    hsv = srgb_to_hsv(rgb, validated=True).reshape(-1, 3)
    chroma_image = np.hypot(lab_image[..., 1], lab_image[..., 2])
    lab, chroma = lab_image.reshape(-1, 3), chroma_image.reshape(-1)
    hue, saturation = hsv[:, 0], hsv[:, 1]
    chromatic = ~is_achromatic(lab[:, 0], chroma, achromatic_chroma=achromatic_chroma,
                               black_lightness_any_chroma=black_lightness_any_chroma)
    # The hue naming a family is needed for coloured pixels only (the OkLCh one costs a conversion).
    chromatic_hue = hue[chromatic] if family_hue == "hsv" else oklab_hue_deg(rgb.reshape(-1, 3)[chromatic])
    chroma_credit = np.minimum(chroma * (1.0 / chroma_full_credit), 1.0)
    chroma_credit[~chromatic] = 0.0
    return PixelColours(rgb, lab_image, chroma_image, lab, chroma, hue, saturation, chromatic, chromatic_hue,
                        chroma_credit)


def figure_ground_weights(pixels: PixelColours, *, suppress_background: bool = True,
                          background_delta_e: float = 14.0, background_max_chroma: float = 18.0,
                          background_weight: float = 0.25, background_border_fraction: float = 0.04,
                          background_min_fraction: float = 0.15, background_max_fraction: float = 0.92,
                          figure_min_chroma_credit: float = 0.5, backdrop_min_lightness: float = 80.0,
                          backdrop_max_lightness: float = 20.0, saliency_strength: float = 0.0
                          ) -> tuple[np.ndarray, float]:
    """Step 2: per-pixel figure/ground weights (N,) and the share of pixels treated as backdrop.

    A plain ground found by ``figure_weights`` is down-weighted only when it is a white (L* >=
    ``backdrop_min_lightness``) or black (L* <= ``backdrop_max_lightness``) backdrop and the rest of the
    image is clearly coloured (mean chroma credit >= ``figure_min_chroma_credit``): a red tool on a white
    table is a red photo, a grey clock on a grey wall stays grey. ``saliency_strength`` blends in
    spectral-residual saliency.

    >>> rgb = np.ones((32, 32, 3), np.float32); rgb[8:24, 8:24] = (1.0, 0.0, 0.0)
    >>> weights, fraction = figure_ground_weights(pixel_colours(rgb))
    >>> float(weights.min()), round(fraction, 2)
    (0.25, 0.75)
    """
    lightness, chroma_credit = pixels.lightness, pixels.chroma_credit
    weights, background_fraction = np.ones(len(lightness), np.float32), 0.0
    if suppress_background and min(pixels.rgb.shape[:2]) >= 8:
        candidate_weights, candidate_fraction = figure_weights(
            pixels.lab_image, pixels.chroma_image, border_fraction=background_border_fraction,
            background_delta_e=background_delta_e, background_max_chroma=background_max_chroma,
            background_weight=background_weight, background_min_fraction=background_min_fraction,
            background_max_fraction=background_max_fraction,
            backdrop_lightness=(backdrop_max_lightness, backdrop_min_lightness))
        candidate_weights = candidate_weights.reshape(-1)
        if candidate_fraction > 0:
            figure = candidate_weights == 1.0
            background_lightness = float(np.median(lightness[~figure])) if not figure.all() else 50.0
            studio_ground = background_lightness >= backdrop_min_lightness or \
                background_lightness <= backdrop_max_lightness
            if studio_ground and figure.any() and chroma_credit[figure].mean() >= figure_min_chroma_credit:
                weights, background_fraction = candidate_weights, candidate_fraction
    if saliency_strength > 0:
        saliency = spectral_residual_saliency(pixels.lab_image[..., 0]).reshape(-1)
        weights = weights * ((1.0 - saliency_strength) + saliency_strength * saliency)
    return weights, background_fraction


def pixel_families(pixels: PixelColours, weights: np.ndarray, *, family_from: str = "hue_mode",
                   family_upper_deg: dict[str, float] | None = None, family_hue: str = "oklch",
                   hue_mode_bin_deg: float = 5.0, hue_mode_smoothing_deg: float = 5.0,
                   hue_mode_valley_ratio: float = 0.5, hue_mode_max_spread_deg: float = 45.0,
                   olive_below_lightness: float = 45.0) -> np.ndarray:
    """Step 3: each pixel's family, an index into ``HUE_FAMILIES`` or ``ACHROMATIC_INDEX`` (N,).

    "hue_mode": a chromatic pixel takes the family of its mode of the (figure-weighted, chroma-credited)
    hue histogram (``naming.hue_mode_families``); "pixel": its own hue. Dark yellows are olive, named green.

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
                 chromatic_auxiliary_min_fraction: float = 0.2, tone_thresholds: dict[str, float] | None = None
                 ) -> ClassDecision:
    """Step 6: the decision rule. Below ``min_chromatic_fraction`` of chromatic mass the photo is black,
    gray or white; otherwise the runner-up family is the auxiliary colour when its share of the chromatic
    mass reaches ``auxiliary_min_share`` (a pair class), else the dominant family's tone (weighted-median
    L*, C*) names a monochromatic class, with achromatic auxiliary when enough gray/white pixels stand by.

    >>> rgb = np.zeros((4, 4, 3), np.float32); rgb[:, :2, 0] = 1.0; rgb[:, 2:, 2] = 1.0
    >>> pixels = pixel_colours(rgb); weights = np.ones(16)
    >>> masses = colour_masses(pixels, weights, pixel_families(pixels, weights))
    >>> decide_class(pixels, weights, masses, achromatic_levels(pixels, weights)).category
    'complementary/red_blue'
    """
    chromatic, lightness, chroma = pixels.chromatic, pixels.lightness, pixels.chroma
    classes, credit = masses.classes, masses.credit
    chromatic_shares, all_shares = masses.chromatic_shares, masses.all_shares
    level_fractions = levels.fractions
    order = np.argsort(-chromatic_shares, kind="stable")
    first, second = int(order[0]), int(order[1])
    if masses.chromatic_fraction < min_chromatic_fraction:
        level = ACHROMATIC_LEVELS[int(np.argmax(level_fractions))]
        category, dominant = f"monochromatic/{level}", "achromatic"
        auxiliary = HUE_FAMILIES[first] if masses.chromatic_fraction >= chromatic_auxiliary_min_fraction else None
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


def representative_colours(pixels: PixelColours, masses: ColourMasses) -> dict[int, tuple[float, float, float]]:
    """Family index -> its credit-weighted mean CIELAB colour, for every family with at least one pixel.

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
                            tone_thresholds=tone_thresholds)
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
