"""Step 2 of ``analyse_colours``: figure against ground.

People judge a figure against its ground: a red tool on a white table is a red photo. A plain, near-neutral
region connected to the image border is found (``figure_weights``) and, when it is a white or black backdrop
around a clearly coloured figure, down-weighted (``figure_ground_weights``).
"""

from __future__ import annotations

import cv2
import numpy as np

from icaa.pipeline.colour.pixels import PixelColours

__all__ = ["figure_weights", "spectral_residual_saliency", "figure_ground_weights"]


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

    >>> from icaa.pipeline.colour.pixels import pixel_colours
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
