"""sRGB to CIELAB, LCh and HSV through OpenCV's float32 kernels (13-300x faster than the alternatives)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["as_rgb_float32", "area_resize_long_side", "srgb_to_lab", "srgb_to_hsv", "lab_to_lch", "srgb_to_oklab",
           "oklab_hue_deg", "cube_root_nonnegative"]


def as_rgb_float32(rgb: np.ndarray) -> np.ndarray:
    """Validate an sRGB array (``[..., 3]``, floats in 0..1 or uint8) and return it as float32 in 0..1."""
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"expected sRGB values with 3 channels last, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    if not np.issubdtype(rgb.dtype, np.floating):
        raise ValueError(f"expected float sRGB in 0..1 or uint8, got dtype {rgb.dtype}")
    if rgb.dtype == np.float32 and rgb.size and 0.0 <= rgb.min() and rgb.max() <= 1.0:  # NaN fails both tests
        return rgb  # already clean: no copy (callers never write into it)
    # fmax/fmin map NaN to the other operand: NaN -> 0, +inf -> 1, -inf -> 0, in two passes.
    return np.fmin(np.fmax(rgb.astype(np.float32, copy=False), 0.0, dtype=np.float32), 1.0, dtype=np.float32)


def area_resize_long_side(rgb: np.ndarray, long_side_px: int) -> np.ndarray:
    """``rgb`` (H, W, C) area-averaged so that its long side is at most ``long_side_px``; smaller ones as they are.

    >>> area_resize_long_side(np.ones((300, 200, 3), np.float32), 96).shape
    (96, 64, 3)
    """
    long_side = max(rgb.shape[:2])
    if long_side <= long_side_px:
        return np.ascontiguousarray(rgb)
    factor = long_side_px / long_side
    size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
    return cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA)


def _convert(rgb: np.ndarray, code: int, *, validated: bool = False) -> np.ndarray:
    if not validated:
        rgb = as_rgb_float32(rgb)
    if rgb.size == 0:
        return np.zeros(rgb.shape, np.float32)
    # An (H, W, 3) image goes in as it is: OpenCV's float Lab kernel is ~4x slower on one long column.
    image = rgb if rgb.ndim == 3 else rgb.reshape(-1, 1, 3)
    return cv2.cvtColor(np.ascontiguousarray(image), code).reshape(rgb.shape)


def srgb_to_lab(rgb: np.ndarray, *, validated: bool = False) -> np.ndarray:
    """CIELAB (D65, 2 deg) of gamma-encoded sRGB.

    Source: CIE 15:2004; OpenCV ``cvtColor(COLOR_RGB2Lab)`` on float32, which approximates the sRGB
    transfer curve (max dE76 0.46 against colour-science, ``notes/colour-science.md`` 4.3).

    Domain: sRGB in [0, 1] (float) or [0, 255] (uint8), shape ``(..., 3)``.
    Range: L* in [0, 100], a* and b* about [-128, 127], float32, same shape.

    >>> srgb_to_lab(np.array([1.0, 0.0, 0.0])).round(1)
    array([53.2, 80.1, 67.2], dtype=float32)
    """
    return _convert(rgb, cv2.COLOR_RGB2Lab, validated=validated)


def srgb_to_hsv(rgb: np.ndarray, *, validated: bool = False) -> np.ndarray:
    """HSV hexcone of gamma-encoded sRGB.

    Domain: sRGB in [0, 1] (float) or uint8, shape ``(..., 3)``.
    Range: H in [0, 360) degrees, S and V in [0, 1], float32.

    >>> srgb_to_hsv(np.array([0.0, 0.0, 1.0])).round(4).tolist()
    [240.0, 1.0, 1.0]
    """
    hsv = _convert(rgb, cv2.COLOR_RGB2HSV, validated=validated)
    hue = hsv[..., 0]
    hue[hue >= 360.0] -= 360.0  # OpenCV adds 360 to a hue of -0.0 (never more than one turn off)
    return hsv


def lab_to_lch(lab: np.ndarray) -> np.ndarray:
    """CIE LCh_ab from CIELAB: L*, C*ab = sqrt(a*^2 + b*^2), h_ab = atan2(b*, a*) in [0, 360) degrees.

    >>> lab_to_lch(np.array([50.0, 0.0, 10.0], np.float32)).tolist()
    [50.0, 10.0, 90.0]
    """
    lab = np.asarray(lab, dtype=np.float32)
    if lab.shape[-1] != 3:
        raise ValueError(f"expected CIELAB with 3 channels last, got shape {lab.shape}")
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue = np.mod(np.degrees(np.arctan2(lab[..., 2], lab[..., 1])), 360.0)
    return np.stack([lab[..., 0], chroma, hue], axis=-1).astype(np.float32)


_LINEARISE_STEPS = 4096
# sRGB transfer curve (IEC 61966-2-1) sampled on 4096 steps: a table lookup instead of a power per channel.
_ENCODED_STEPS = np.linspace(0, 1, _LINEARISE_STEPS)
_LINEAR_TABLE = np.where(_ENCODED_STEPS <= 0.04045, _ENCODED_STEPS / 12.92,
                         ((_ENCODED_STEPS + 0.055) / 1.055) ** 2.4).astype(np.float32)
# Ottosson (2020), "A perceptual color space for image processing": linear sRGB -> LMS -> Oklab.
_OKLAB_M1 = np.array([[0.4122214708, 0.5363325363, 0.0514459929], [0.2119034982, 0.6806995451, 0.1073969566],
                      [0.0883024619, 0.2817188376, 0.6299787005]], np.float32)
_OKLAB_M2 = np.array([[0.2104542553, 0.7936177850, -0.0040720468], [1.9779984951, -2.4285922050, 0.4505937099],
                      [0.0259040371, 0.7827717662, -0.8086757660]], np.float32)


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """Oklab (Ottosson 2020) of gamma-encoded sRGB; L in 0..1, a and b about -0.4..0.4, float32.

    The sRGB curve is read from a 4096-step table (error below 3e-4 in linear light).

    >>> srgb_to_oklab(np.array([1.0, 1.0, 1.0])).round(3).tolist()
    [1.0, 0.0, 0.0]
    """
    rgb = as_rgb_float32(rgb)
    if rgb.size == 0:
        return np.zeros(rgb.shape, np.float32)
    linear = np.take(_LINEAR_TABLE, (rgb * (_LINEARISE_STEPS - 1) + 0.5).astype(np.int32))
    # LMS is non-negative: linear light times a positive matrix.
    lms = cube_root_nonnegative(linear.reshape(-1, 3) @ _OKLAB_M1.T)
    return (lms @ _OKLAB_M2.T).reshape(rgb.shape)


def cube_root_nonnegative(values: np.ndarray) -> np.ndarray:
    """Cube root of non-negative float32 values, within 2e-6 relative of ``np.cbrt`` and ~7x faster.

    The exponent divided by three in the float's bits gives a first guess within a few per cent (Kahan's
    trick); two Newton steps ``y <- (2y + x / y^2) / 3`` bring it to float32 precision.

    >>> [round(float(root), 6) for root in cube_root_nonnegative(np.array([0.0, 0.001, 1.0, 8.0], np.float32))]
    [0.0, 0.1, 1.0, 2.0]
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    root = (values.view(np.int32) // 3 + 709_921_077).view(np.float32)
    for _ in range(2):
        step = values / (root * root)
        step *= np.float32(1.0 / 3.0)
        root *= np.float32(2.0 / 3.0)
        root += step
    return root


def oklab_hue_deg(rgb: np.ndarray) -> np.ndarray:
    """OkLCh hue angle in [0, 360) degrees of gamma-encoded sRGB (undefined, 0, for greys).

    >>> [round(float(hue), 1) for hue in oklab_hue_deg(np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))]
    [29.2, 109.8]
    """
    oklab = srgb_to_oklab(rgb)
    if oklab.size == 0:
        return np.zeros(oklab.shape[:-1], np.float32)
    # OpenCV's phase: within 0.01 deg of arctan2, several times faster.
    hue = cv2.phase(np.ascontiguousarray(oklab[..., 1]).reshape(-1), np.ascontiguousarray(oklab[..., 2]).reshape(-1),
                    angleInDegrees=True).reshape(oklab.shape[:-1])
    hue[hue >= 360.0] -= 360.0
    return hue
