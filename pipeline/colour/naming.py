"""Colour names for pixels: six hue families by HSV hue, achromatic levels and tones by CIELAB L*, C*.

Boundaries from ``notes/colour-science.md`` 1.3-1.4 (fitted to XKCD colour-survey medians; 97.7 %
in-sample accuracy on 385 named colours). Every threshold is a keyword argument.
"""

from __future__ import annotations

import numpy as np

from icaa.pipeline.categories import HUE_FAMILIES

__all__ = ["HUE_FAMILY_UPPER_DEG", "ACHROMATIC_LEVELS", "hue_family", "pixel_classes", "tone_class",
           "achromatic_level"]

#: Upper HSV-hue bound of each family; red wraps around [320, 13). The notes' yellow/green border at
#: 70 deg is moved to 65: sunlit and olive foliage (HSV 65-70) reads as green to people (demo labels).
HUE_FAMILY_UPPER_DEG = {"red": 13.0, "orange": 45.0, "yellow": 65.0, "green": 170.0, "blue": 258.0, "violet": 320.0}
ACHROMATIC_LEVELS = ("black", "gray", "white")
ACHROMATIC_INDEX = len(HUE_FAMILIES)  # 6: the index used for achromatic pixels


def hue_family(hue_deg: np.ndarray | float, upper_deg: dict[str, float] | None = None) -> np.ndarray:
    """Index into ``HUE_FAMILIES`` (0 red .. 5 violet) of HSV hues in degrees.

    >>> hue_family(np.array([0.0, 30.0, 60.0, 120.0, 220.0, 290.0, 340.0])).tolist()
    [0, 1, 2, 3, 4, 5, 0]
    """
    hue = np.mod(np.asarray(hue_deg, dtype=np.float32), 360.0)
    limits = {**HUE_FAMILY_UPPER_DEG, **(upper_deg or {})}
    bounds = np.array([limits[f] for f in HUE_FAMILIES], dtype=np.float32)
    index = np.searchsorted(bounds, hue, side="right")
    return np.where(index >= len(HUE_FAMILIES), 0, index).astype(np.int64)


def pixel_classes(lch: np.ndarray, hsv: np.ndarray, *, achromatic_chroma: float = 10.0,
                  black_lightness_any_chroma: float = 8.0,
                  family_upper_deg: dict[str, float] | None = None) -> np.ndarray:
    """Family index per pixel: 0..5 for the hue families, 6 (``ACHROMATIC_INDEX``) for achromatic.

    A pixel is achromatic when C*ab < ``achromatic_chroma`` or L* < ``black_lightness_any_chroma``
    (its hue is unreliable there); otherwise its family comes from its HSV hue.
    """
    lch, hsv = np.asarray(lch), np.asarray(hsv)
    if lch.shape != hsv.shape or lch.shape[-1] != 3:
        raise ValueError(f"expected LCh and HSV arrays of one shape (..., 3), got {lch.shape} and {hsv.shape}")
    achromatic = (lch[..., 1] < achromatic_chroma) | (lch[..., 0] < black_lightness_any_chroma) | ~np.isfinite(lch[..., 0])
    return np.where(achromatic, ACHROMATIC_INDEX, hue_family(hsv[..., 0], family_upper_deg))


def achromatic_level(lightness: np.ndarray | float, *, black_below_lightness: float = 20.0,
                     white_above_lightness: float = 88.0) -> np.ndarray:
    """0 black, 1 gray, 2 white (``ACHROMATIC_LEVELS``) by L*."""
    lightness = np.asarray(lightness, dtype=np.float32)
    return np.where(lightness < black_below_lightness, 0, np.where(lightness > white_above_lightness, 2, 1))


def tone_class(family: str, lightness, chroma, *, lightpink_min_lightness: float = 75.0,
               lightpink_max_chroma: float = 40.0, pink_min_lightness: float = 57.0,
               darkorange_below_lightness: float = 55.0, darkyellow_below_lightness: float = 75.0,
               darkgreen_below_lightness: float = 42.0, lightblue_min_lightness: float = 68.0):
    """The ICAA17K monochromatic class name of a hue family at a tone (L*, C*), notes 1.3.

    Scalars give a ``str``; arrays of L* and C* give an array of names, one per pixel.

    >>> tone_class("orange", 37.5, 48.7), tone_class("red", 53.2, 104.6), tone_class("blue", 83.8, 15.8)
    ('darkorange', 'red', 'lightblue')
    """
    lightness, chroma = np.asarray(lightness, dtype=np.float64), np.asarray(chroma, dtype=np.float64)
    if family == "red":
        names = np.where((lightness >= lightpink_min_lightness) & (chroma <= lightpink_max_chroma), "lightpink",
                         np.where(lightness >= pink_min_lightness, "pink", "red"))
    elif family == "orange":
        names = np.where(lightness < darkorange_below_lightness, "darkorange", "orange")
    elif family == "yellow":
        names = np.where(lightness < darkyellow_below_lightness, "darkyellow", "yellow")
    elif family == "green":
        names = np.where(lightness < darkgreen_below_lightness, "darkgreen", "green")
    elif family == "blue":
        names = np.where(lightness >= lightblue_min_lightness, "lightblue", "blue")
    elif family == "violet":
        names = np.full(lightness.shape, "violet")
    else:
        raise ValueError(f"expected one of {HUE_FAMILIES}, got {family!r}")
    return str(names) if names.ndim == 0 else names
