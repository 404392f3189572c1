"""Ou & Luo (2006) two-colour harmony (registered as ``OuLuo2006`` in :mod:`icaa.pipeline.colour.measures`)."""

from __future__ import annotations

import numpy as np

__all__ = ["harmony_OuLuo2006"]


def harmony_OuLuo2006(lab_1: np.ndarray, lab_2: np.ndarray) -> np.ndarray:
    """Ou & Luo (2006) colour harmony CH of two colours; higher is more harmonious.

    Source: L.-C. Ou, M. R. Luo, "A colour harmony model for two-colour combinations", Color Res. Appl.
    31(3):191-204, 2006. CH = H_C + H_L + H_H with the constants shared by four independent
    implementations (notes 3.4); Delta H*ab is the CIELAB hue *difference*, not the angle difference.

    Domain: CIELAB (D65) arrays ``(..., 3)``. Range: about -1.3 .. 1.5 (CH > 0 reads as harmonious).

    >>> round(float(harmony_OuLuo2006(np.array([0.0, 0, 0]), np.array([100.0, 0, 0]))), 3)
    0.546
    """
    lab_1, lab_2 = np.asarray(lab_1, np.float64), np.asarray(lab_2, np.float64)
    if lab_1.shape[-1] != 3 or lab_2.shape[-1] != 3:
        raise ValueError(f"expected CIELAB colours (..., 3), got {lab_1.shape} and {lab_2.shape}")
    lightness_1, lightness_2 = lab_1[..., 0], lab_2[..., 0]
    chroma_1, chroma_2 = np.hypot(lab_1[..., 1], lab_1[..., 2]), np.hypot(lab_2[..., 1], lab_2[..., 2])
    hue_1 = np.degrees(np.arctan2(lab_1[..., 2], lab_1[..., 1])) % 360.0
    hue_2 = np.degrees(np.arctan2(lab_2[..., 2], lab_2[..., 1])) % 360.0
    hue_difference = 2.0 * np.sqrt(chroma_1 * chroma_2) * np.abs(np.sin(np.radians(hue_1 - hue_2) / 2.0))
    delta_c = np.sqrt(hue_difference ** 2 + ((chroma_1 - chroma_2) / 1.46) ** 2)
    h_c = 0.04 + 0.53 * np.tanh(0.8 - 0.045 * delta_c)
    h_lsum = 0.28 + 0.54 * np.tanh(-3.88 + 0.029 * (lightness_1 + lightness_2))
    h_dl = 0.14 + 0.15 * np.tanh(-2.0 + 0.2 * np.abs(lightness_1 - lightness_2))

    def h_sy(lightness, chroma, hue):
        e_c = 0.5 + 0.5 * np.tanh(-2.0 + 0.5 * chroma)
        h_s = -0.08 - 0.14 * np.sin(np.radians(hue + 50.0)) - 0.07 * np.sin(np.radians(2.0 * hue + 90.0))
        inner = np.minimum((90.0 - hue) / 10.0, 50.0)  # exp(exp(x)) overflows for hues far below 90
        e_y = ((0.22 * lightness - 12.8) / 10.0) * np.exp(inner - np.exp(inner))
        return e_c * (h_s + e_y)

    return h_c + h_lsum + h_dl + h_sy(lightness_1, chroma_1, hue_1) + h_sy(lightness_2, chroma_2, hue_2)
