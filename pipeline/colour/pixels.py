"""Step 1 of ``analyse_colours``: an image's pixels at the analysis size, with their colour quantities.

CIELAB and HSV of every pixel, chroma, which pixels are chromatic and how much of each counts as colour (chroma
credit), and the OkLCh hue that names a chromatic pixel's family (``naming``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from icaa.pipeline.colour.conversion import (
    area_resize_long_side, as_rgb_float32, oklab_hue_deg, srgb_to_hsv, srgb_to_lab,
)
from icaa.pipeline.colour.naming import FAMILY_UPPER_DEG, is_achromatic

__all__ = ["PixelColours", "pixel_colours"]


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
    # Area averaging can land a value one ulp past 1: clip again after it.
    rgb = as_rgb_float32(area_resize_long_side(rgb, analysis_long_side_px))
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
