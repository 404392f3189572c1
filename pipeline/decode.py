"""Decode an image file into a small sRGB array for colour analysis (the I/O side of harmony-score).

JPEGs are decoded at reduced size by libjpeg's DCT scaling (Pillow ``draft``), then area-resized to
about ``long_side_px``. Alpha is composited on white; CMYK, 16-bit, palette, grayscale and animated
images (first frame) all come out as float32 sRGB in 0..1. EXIF orientation is ignored on purpose:
it does not change an image's colours.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from icaa.pipeline import rejects as codes

__all__ = ["DecodeError", "decode_for_colour", "to_rgb_float32"]


class DecodeError(Exception):
    """An image that cannot be decoded; ``reason`` is a code of :mod:`icaa.pipeline.rejects`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def to_rgb_float32(image: Image.Image) -> np.ndarray:
    """Any Pillow image as float32 sRGB ``(H, W, 3)`` in 0..1, alpha composited on white."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or pixels.max() > 255 else 255.0
        gray = np.clip(pixels / top, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        gray = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "P" and "transparency" in image.info or mode in ("PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        alpha = pixels[..., 3:4]
        return pixels[..., :3] * alpha + (1.0 - alpha)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.float32) / 255.0


def decode_for_colour(path: Path | str, *, long_side_px: int = 256, max_pixels: int = 100_000_000) -> np.ndarray:
    """Decode ``path`` to float32 sRGB with its long side at most ``long_side_px`` (area resampling).

    Raises
    ------
    DecodeError
        With reason ``empty_file``, ``not_an_image``, ``decompression_bomb``, ``truncated`` or ``unreadable``.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DecodeError(codes.EMPTY_FILE, "0 bytes")
    except FileNotFoundError:
        raise DecodeError(codes.MISSING, "no such file") from None
    Image.MAX_IMAGE_PIXELS = None  # checked below, before decoding
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DecodeError(codes.DECOMPRESSION_BOMB, f"{width}x{height} > max_pixels {max_pixels}")
                scale = max(width, height) / long_side_px
                if image.format == "JPEG" and scale >= 2:
                    image.draft(image.mode if image.mode in ("RGB", "L", "CMYK") else "RGB",
                                (max(1, int(width / scale)), max(1, int(height / scale))))
                image.seek(0)
                image.load()
                rgb = to_rgb_float32(image)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError(codes.NOT_AN_IMAGE, "no decoder recognises the file") from None
    except PermissionError as error:
        raise DecodeError(codes.UNREADABLE, str(error)) from None
    except (OSError, SyntaxError, EOFError, ValueError) as error:
        raise DecodeError(codes.TRUNCATED, str(error)) from None
    long_side = max(rgb.shape[:2])
    if long_side > long_side_px:
        factor = long_side_px / long_side
        size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb, dtype=np.float32)
