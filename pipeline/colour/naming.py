"""Colour names for pixels: six hue families by hue angle, achromatic levels and tones by CIELAB L*, C*.

Boundaries from ``notes/colour-science.md`` 1.3-1.4, fitted to XKCD colour-survey family medians. Family
borders exist for two hue angles: OkLCh (98.7 % in-sample accuracy on 385 named colours; the default of
the analysis) and HSV (97.7 %). Every threshold is a keyword argument.
"""

from __future__ import annotations

import functools

import numpy as np

from icaa.pipeline.categories import HUE_FAMILIES

__all__ = ["FAMILY_UPPER_DEG", "ACHROMATIC_LEVELS", "FAMILY_TONES", "TONE_NAMES", "TONE_FAMILY",
           "hue_family", "hue_modes", "hue_mode_families", "is_achromatic", "olive_as_green", "pixel_classes",
           "tone_index", "tone_class", "achromatic_level"]

#: Upper hue bound of each family, per hue angle; red wraps around (HSV [320, 13), OkLCh [345, 40)).
#: HSV: the notes' yellow/green border at 70 deg is moved to 65 (sunlit and olive foliage, HSV 65-70,
#: reads as green). OkLCh: the notes' table as it is.
FAMILY_UPPER_DEG: dict[str, dict[str, float]] = {
    "hsv": {"red": 13.0, "orange": 45.0, "yellow": 65.0, "green": 170.0, "blue": 258.0, "violet": 320.0},
    "oklch": {"red": 40.0, "orange": 80.0, "yellow": 115.0, "green": 195.0, "blue": 285.0, "violet": 345.0},
}
ACHROMATIC_LEVELS = ("black", "gray", "white")
ACHROMATIC_INDEX = len(HUE_FAMILIES)  # 6: the index used for achromatic pixels
_YELLOW, _GREEN = HUE_FAMILIES.index("yellow"), HUE_FAMILIES.index("green")


def hue_family(hue_deg: np.ndarray | float, upper_deg: dict[str, float] | None = None, *,
               hue_space: str = "hsv") -> np.ndarray:
    """Index into ``HUE_FAMILIES`` (0 red .. 5 violet) of hue angles in degrees (``hue_space`` "hsv" or "oklch").

    >>> hue_family(np.array([0.0, 30.0, 60.0, 120.0, 220.0, 290.0, 340.0])).tolist()
    [0, 1, 2, 3, 4, 5, 0]
    >>> hue_family(np.array([29.2, 52.8, 109.8, 142.5, 264.1, 328.4]), hue_space="oklch").tolist()
    [0, 1, 2, 3, 4, 5]
    """
    if hue_space not in FAMILY_UPPER_DEG:
        raise ValueError(f"expected a hue space of {sorted(FAMILY_UPPER_DEG)}, got {hue_space!r}")
    hue = np.mod(np.asarray(hue_deg, dtype=np.float32), 360.0)
    limits = {**FAMILY_UPPER_DEG[hue_space], **(upper_deg or {})}
    bounds = np.array([limits[f] for f in HUE_FAMILIES], dtype=np.float32)
    index = np.searchsorted(bounds, hue, side="right")
    return np.where(index >= len(HUE_FAMILIES), 0, index).astype(np.int64)


def pixel_classes(lightness: np.ndarray, chroma: np.ndarray, hue_deg: np.ndarray, *, achromatic_chroma: float = 10.0,
                  black_lightness_any_chroma: float = 8.0, family_upper_deg: dict[str, float] | None = None,
                  hue_space: str = "hsv", olive_below_lightness: float = 45.0) -> np.ndarray:
    """Family index per pixel: 0..5 for the hue families, 6 (``ACHROMATIC_INDEX``) for achromatic.

    A pixel is achromatic when C*ab < ``achromatic_chroma`` or L* < ``black_lightness_any_chroma``
    (its hue is unreliable there); otherwise its family comes from its hue angle in ``hue_space``, and a
    yellow darker than ``olive_below_lightness`` is green (``olive_as_green``).

    >>> pixel_classes(np.array([53.0, 53.0]), np.array([104.0, 3.0]), np.array([0.0, 0.0])).tolist()
    [0, 6]
    """
    lightness, chroma = np.asarray(lightness), np.asarray(chroma)
    if lightness.shape != chroma.shape or np.shape(hue_deg) != lightness.shape:
        raise ValueError(f"expected L*, C* and hue arrays of one shape, got {lightness.shape}, {chroma.shape}, "
                         f"{np.shape(hue_deg)}")
    achromatic = is_achromatic(lightness, chroma, achromatic_chroma=achromatic_chroma,
                               black_lightness_any_chroma=black_lightness_any_chroma)
    families = olive_as_green(hue_family(hue_deg, family_upper_deg, hue_space=hue_space), lightness,
                              olive_below_lightness=olive_below_lightness)
    return np.where(achromatic, ACHROMATIC_INDEX, families)


def olive_as_green(families: np.ndarray, lightness: np.ndarray, *, olive_below_lightness: float = 45.0) -> np.ndarray:
    """Families (indices into ``HUE_FAMILIES``) with yellow renamed green where L* < ``olive_below_lightness``.

    A dark yellow is not a yellow: no XKCD colour of the yellow hue band darker than L* 50 has "yellow"
    in its name (they are olive, olive-brown, mud and brownish green; "olive" itself, L* 47, stays
    yellow at the default, ICAA17K's darkyellow), and people call dark olive foliage green (the demo's
    backlit tree, mountain pasture and dandelion lawn: nine labels of nine). 0 turns the rule off.

    >>> olive_as_green(np.array([2, 2, 1]), np.array([40.0, 60.0, 40.0])).tolist()
    [3, 2, 1]
    """
    families = np.asarray(families)
    return np.where((families == _YELLOW) & (np.asarray(lightness) < olive_below_lightness), _GREEN, families)


def is_achromatic(lightness: np.ndarray, chroma: np.ndarray, *, achromatic_chroma: float = 10.0,
                  black_lightness_any_chroma: float = 8.0) -> np.ndarray:
    """Pixels that are black/gray/white: C*ab < ``achromatic_chroma``, L* < ``black_lightness_any_chroma`` or NaN."""
    lightness, chroma = np.asarray(lightness), np.asarray(chroma)
    return (chroma < achromatic_chroma) | (lightness < black_lightness_any_chroma) | ~np.isfinite(lightness)


def achromatic_level(lightness: np.ndarray | float, *, black_below_lightness: float = 20.0,
                     white_above_lightness: float = 88.0) -> np.ndarray:
    """0 black, 1 gray, 2 white (``ACHROMATIC_LEVELS``) by L*."""
    lightness = np.asarray(lightness, dtype=np.float32)
    return (lightness >= black_below_lightness).astype(np.int64) + (lightness > white_above_lightness)


#: The monochromatic tone names of each hue family, darkest first; ``tone_index`` numbers them in this order.
FAMILY_TONES: dict[str, tuple[str, ...]] = {
    "red": ("red", "pink", "lightpink"), "orange": ("darkorange", "orange"), "yellow": ("darkyellow", "yellow"),
    "green": ("darkgreen", "green"), "blue": ("blue", "lightblue"), "violet": ("violet",),
}
TONE_NAMES: tuple[str, ...] = tuple(name for family in HUE_FAMILIES for name in FAMILY_TONES[family])
#: Index into ``HUE_FAMILIES`` of each entry of ``TONE_NAMES``.
TONE_FAMILY = np.array([index for index, family in enumerate(HUE_FAMILIES) for _ in FAMILY_TONES[family]])
_FIRST_TONE = np.cumsum([0] + [len(FAMILY_TONES[family]) for family in HUE_FAMILIES[:-1]])


def tone_index(family_index: np.ndarray, lightness: np.ndarray, chroma: np.ndarray, *,
               lightpink_min_lightness: float = 75.0, lightpink_max_chroma: float = 40.0,
               pink_min_lightness: float = 57.0, darkorange_below_lightness: float = 55.0,
               darkyellow_below_lightness: float = 75.0, darkgreen_below_lightness: float = 42.0,
               lightblue_min_lightness: float = 68.0) -> np.ndarray:
    """Index into ``TONE_NAMES`` of pixels of hue families 0..5 at tones (L*, C*), notes 1.3.

    Each family's tones split at one L* border (red has a second one for light pink at low chroma).
    """
    family_index = np.asarray(family_index, dtype=np.int64)
    lightness, chroma = np.asarray(lightness, dtype=np.float64), np.asarray(chroma, dtype=np.float64)
    border = np.array([pink_min_lightness, darkorange_below_lightness, darkyellow_below_lightness,
                       darkgreen_below_lightness, lightblue_min_lightness, np.inf])
    index = _FIRST_TONE[family_index] + (lightness >= border[family_index])
    lightpink = (family_index == 0) & (lightness >= lightpink_min_lightness) & (chroma <= lightpink_max_chroma)
    return index + lightpink


def tone_class(family: str, lightness, chroma, **thresholds):
    """The ICAA17K monochromatic class name of a hue family at a tone (L*, C*), notes 1.3.

    Scalars give a ``str``; arrays of L* and C* give an array of names, one per pixel. ``thresholds``
    are those of ``tone_index``.

    >>> tone_class("orange", 37.5, 48.7), tone_class("red", 53.2, 104.6), tone_class("blue", 83.8, 15.8)
    ('darkorange', 'red', 'lightblue')
    """
    if family not in HUE_FAMILIES:
        raise ValueError(f"expected one of {HUE_FAMILIES}, got {family!r}")
    lightness = np.asarray(lightness, dtype=np.float64)
    family_index = np.full(lightness.shape, HUE_FAMILIES.index(family))
    names = np.asarray(TONE_NAMES)[tone_index(family_index, lightness, chroma, **thresholds)]
    return str(names) if names.ndim == 0 else names


@functools.lru_cache(maxsize=8)
def _histogram_geometry(n_bins: int, sigma_bins: float):
    """Bin indices, each bin's (left, self, right) neighbours, sine/cosine of bin centres, smoothing kernel."""
    index = np.arange(n_bins)
    neighbours = np.stack([(index - 1) % n_bins, index, (index + 1) % n_bins])
    centres = np.radians((index + 0.5) * (360.0 / n_bins))
    reach = min(int(np.ceil(3 * sigma_bins)), n_bins) if sigma_bins > 0 else 0
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / max(sigma_bins, 1e-12)) ** 2)
    return index, neighbours, np.sin(centres), np.cos(centres), kernel / kernel.sum()


def hue_modes(hue_deg: np.ndarray, weights: np.ndarray, *, bin_deg: float = 5.0, smoothing_deg: float = 5.0,
              valley_ratio: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a weighted hue histogram into modes at its valleys.

    The histogram (bins of ``bin_deg``, circular Gaussian smoothing of ``smoothing_deg``) falls into the
    basins of its peaks; where two neighbouring modes meet, the one with the lower peak is merged into the
    other unless the valley there is below ``valley_ratio`` of that lower peak (saddles taken from the
    highest down, as when flooding the histogram from its top).
    Returns the mode index of every pixel, and the weighted circular mean hue and circular standard
    deviation (spread) in degrees of every mode.

    >>> modes, means, spreads = hue_modes(np.array([70.0, 75.0, 85.0, 90.0, 250.0]), np.ones(5))
    >>> modes.tolist(), np.round(means[modes]).tolist(), np.round(spreads[modes]).tolist()
    ([0, 0, 0, 0, 1], [83.0, 83.0, 83.0, 83.0, 252.0], [8.0, 8.0, 8.0, 8.0, 0.0])
    """
    n_bins = max(1, int(round(360.0 / bin_deg)))
    width = 360.0 / n_bins
    scaled = np.asarray(hue_deg, dtype=np.float32) * np.float32(1.0 / width)
    bins = scaled.astype(np.intp)  # truncation is floor for hues of [0, 360)
    if len(bins) and not (scaled.min() >= 0 and bins.max() < n_bins):  # hues outside [0, 360): wrap them
        bins = np.floor(scaled).astype(np.intp) % n_bins
    histogram = np.bincount(bins, weights=weights, minlength=n_bins).astype(np.float64)
    smooth = histogram
    sigma = smoothing_deg / width
    index, neighbours, centre_sines, centre_cosines, kernel = _histogram_geometry(n_bins, sigma)
    if len(kernel) > 1:
        reach = len(kernel) // 2
        wrapped = np.concatenate([histogram[n_bins - reach:], histogram, histogram[:reach]])
        smooth = np.convolve(wrapped, kernel, mode="valid")
    # Every weighted bin climbs to a peak (steepest ascent, staying put on ties), which cuts the circle into
    # basins; then the saddles between neighbouring basins are visited from the highest down, and the basin
    # with the lower peak is merged into the other unless the saddle is below valley_ratio of that peak.
    heights = smooth[neighbours]
    heights[1] += 1e-12 * max(float(smooth.max()), 1e-300)  # ties stay put
    climb = neighbours[np.argmax(heights, axis=0), index]
    for _ in range(n_bins):
        higher = climb[climb]
        if np.array_equal(higher, climb):
            break
        climb = higher
    weighted = smooth > 0
    basin = np.where(weighted, climb, -1)
    merged_into = {int(peak): int(peak) for peak in np.unique(basin[weighted])}

    def root(peak: int) -> int:
        while merged_into[peak] != peak:
            peak = merged_into[peak]
        return peak

    following = np.roll(basin, -1)
    boundaries = np.flatnonzero(weighted & (following >= 0) & (following != basin))
    saddles = sorted(((min(smooth[b], smooth[(b + 1) % n_bins]), int(basin[b]), int(following[b]))
                      for b in boundaries), reverse=True)
    for saddle, left, right in saddles:
        left, right = root(left), root(right)
        if left == right:
            continue
        lower, upper = sorted((left, right), key=lambda peak: smooth[peak])
        if saddle >= valley_ratio * smooth[lower]:
            merged_into[lower] = upper
    # A bin without weight (its pixels weigh nothing) is a mode of its own, named by its centre hue.
    root_of_peak = index.copy()
    for peak in merged_into:
        root_of_peak[peak] = root(peak)
    roots = np.where(weighted, root_of_peak[basin], n_bins + index)
    numbered, mode_of_bin = np.unique(roots, return_inverse=True)
    bin_weight = np.where(weighted, histogram, 1.0)
    sines = np.bincount(mode_of_bin, weights=bin_weight * centre_sines, minlength=len(numbered))
    cosines = np.bincount(mode_of_bin, weights=bin_weight * centre_cosines, minlength=len(numbered))
    means = np.mod(np.degrees(np.arctan2(sines, cosines)), 360.0)
    # Circular standard deviation sqrt(-2 ln R) of each mode, R the mean resultant length of its bins.
    resultant = np.hypot(sines, cosines) / np.maximum(np.bincount(mode_of_bin, weights=bin_weight,
                                                                  minlength=len(numbered)), 1e-300)
    spreads = np.degrees(np.sqrt(-2.0 * np.log(np.clip(resultant, 1e-300, 1.0)))) + 0.0  # no -0.0
    return mode_of_bin[bins], means, spreads


def hue_mode_families(hue_deg: np.ndarray, weights: np.ndarray, *, upper_deg: dict[str, float] | None = None,
                      hue_space: str = "oklch", max_spread_deg: float = 45.0, lightness: np.ndarray | None = None,
                      olive_below_lightness: float = 45.0, **mode_options) -> np.ndarray:
    """Family index (into ``HUE_FAMILIES``) of every pixel: the family of its hue mode's mean hue.

    One coloured surface spreads over a range of hues (shading, and sRGB clipping that pushes bright
    yellows towards amber). Where that range straddles a family border, naming pixels one by one splits
    one colour into two families, and a golden flower becomes half orange, half yellow: a two-colour photo.
    Naming each mode of the hue histogram (``hue_modes``, whose options ``mode_options`` are) keeps it one.
    A mode spread wider than ``max_spread_deg`` (circular standard deviation) is no one colour, and its
    mean is meaningless (a rainbow): its pixels are named by their own hues.
    Given the pixels' CIELAB ``lightness``, a yellow mode whose weighted mean L* is below
    ``olive_below_lightness`` is green (``olive_as_green``; a broad mode's pixels, by their own L*).

    >>> hue_mode_families(np.array([70.0, 75.0, 85.0, 90.0]), np.ones(4), hue_space="oklch").tolist()
    [2, 2, 2, 2]
    """
    modes, means, spreads = hue_modes(hue_deg, weights, **mode_options)
    mode_families = hue_family(means, upper_deg, hue_space=hue_space)
    if lightness is not None:
        lightness = np.asarray(lightness, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        mode_weight = np.bincount(modes, weights=weights, minlength=len(means))
        weighted_lightness = np.bincount(modes, weights=weights * lightness, minlength=len(means))
        weighed = mode_weight > 0
        mode_lightness = weighted_lightness / np.where(weighed, mode_weight, 1.0)
        if not weighed.all():  # a mode of pixels that weigh nothing (see hue_modes) takes their plain mean L*
            plain_lightness = np.bincount(modes, weights=lightness, minlength=len(means)) / \
                np.maximum(np.bincount(modes, minlength=len(means)), 1)
            mode_lightness = np.where(weighed, mode_lightness, plain_lightness)
        mode_families = olive_as_green(mode_families, mode_lightness, olive_below_lightness=olive_below_lightness)
    families = mode_families[modes]
    broad_modes = spreads > max_spread_deg
    if broad_modes.any():
        broad = broad_modes[modes]
        families[broad] = hue_family(np.asarray(hue_deg)[broad], upper_deg, hue_space=hue_space)
        if lightness is not None:
            families[broad] = olive_as_green(families[broad], lightness[broad],
                                             olive_below_lightness=olive_below_lightness)
    return families
