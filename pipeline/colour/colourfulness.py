"""Hasler & Susstrunk (2003) colourfulness M3."""

from __future__ import annotations

import numpy as np

from icaa.pipeline.colour.conversion import as_rgb_float32

__all__ = ["colourfulness_HaslerSusstrunk2003"]


def colourfulness_HaslerSusstrunk2003(rgb: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Colourfulness M3 = sigma_rgyb + 0.3 mu_rgyb over an image's pixels.

    Source: D. Hasler, S. Susstrunk, "Measuring colourfulness in natural images", Proc. SPIE 5007,
    87-95, 2003: rg = R - G, yb = (R + G)/2 - B on gamma-encoded sRGB in 0..255, signed (the widely
    copied ``np.absolute`` variant is a deviation).

    Domain: sRGB ``(..., 3)`` in [0, 1] or uint8. Range: M3 >= 0 (0 not colourful, 109 extremely; can
    exceed 109, e.g. 272.6 for half pure red, half pure blue).

    >>> rgb = np.zeros((2, 2, 3)); rgb[:, 0, 0] = 1; rgb[:, 1, 2] = 1
    >>> round(colourfulness_HaslerSusstrunk2003(rgb), 1)
    272.6
    """
    pixels = as_rgb_float32(rgb).reshape(-1, 3)
    if len(pixels) == 0:
        return float("nan")
    red, green, blue = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    rg = (red - green) * 255.0
    yb = ((red + green) * 0.5 - blue) * 255.0
    if weights is None:
        mean_rg, mean_yb = rg.mean(dtype=np.float64), yb.mean(dtype=np.float64)
        std_rg, std_yb = rg.std(dtype=np.float64), yb.std(dtype=np.float64)
    else:
        w = np.asarray(weights, np.float64).reshape(-1)
        mean_rg, mean_yb = np.average(rg, weights=w), np.average(yb, weights=w)
        std_rg = np.sqrt(np.average((rg - mean_rg) ** 2, weights=w))
        std_yb = np.sqrt(np.average((yb - mean_yb) ** 2, weights=w))
    return float(np.hypot(std_rg, std_yb) + 0.3 * np.hypot(mean_rg, mean_yb))
