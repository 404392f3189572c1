"""Itten's 12-hue RYB wheel through the Adobe Kuler piecewise-linear map from HSV hue."""

from __future__ import annotations

import numpy as np

__all__ = ["KULER_HSV_BREAKS_DEG", "KULER_RYB_BREAKS_DEG", "RYB12_NAMES", "hsv_hue_to_ryb", "ryb12_index"]

#: Breakpoints of the Kuler map (benknight/kuler-d3 and two other code bases; notes 1.2a).
KULER_HSV_BREAKS_DEG = np.array([0, 35, 60, 120, 180, 240, 300, 360], dtype=np.float64)
KULER_RYB_BREAKS_DEG = np.array([0, 60, 122, 165, 218, 275, 330, 360], dtype=np.float64)
RYB12_NAMES = ("red", "red-orange", "orange", "yellow-orange", "yellow", "yellow-green", "green", "blue-green",
               "blue", "blue-violet", "violet", "red-violet")


def hsv_hue_to_ryb(hue_deg: np.ndarray | float) -> np.ndarray:
    """RYB (artistic) wheel angle of an HSV hue, Adobe Kuler map.

    Domain: HSV hue in degrees (any real; taken mod 360). Range: RYB angle in [0, 360).

    >>> float(hsv_hue_to_ryb(240.0))
    275.0
    """
    hue = np.mod(np.asarray(hue_deg, dtype=np.float64), 360.0)
    return np.mod(np.interp(hue, KULER_HSV_BREAKS_DEG, KULER_RYB_BREAKS_DEG), 360.0)


def ryb12_index(hue_deg: np.ndarray | float) -> np.ndarray:
    """Index 0..11 on Itten's wheel (0 red, 2 orange, 4 yellow, 6 green, 8 blue, 10 violet) of an HSV hue.

    Sector k covers RYB [30k - 15, 30k + 15).

    >>> int(ryb12_index(0.0)), int(ryb12_index(240.0))
    (0, 9)
    """
    return (np.floor((hsv_hue_to_ryb(hue_deg) + 15.0) / 30.0).astype(np.int64)) % 12
