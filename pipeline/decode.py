"""Decode an image file into a small sRGB array for colour analysis (the I/O side of harmony-score).

JPEGs are decoded at reduced size by libjpeg's DCT scaling (OpenCV's ``IMREAD_REDUCED_COLOR_*`` for plain
RGB and grayscale JPEGs, the fastest decode there is; Pillow ``draft`` for the rest), by the largest factor
of 2, 4 or 8 that keeps the long side at least ``long_side_px``, then area-resized to ``long_side_px``.
Alpha is composited on white; CMYK, 16-bit, palette, grayscale and animated images (first frame) all come out as float32 sRGB in 0..1. EXIF orientation is ignored on purpose:
it does not change an image's colours.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from icaa.pipeline import rejects as codes
from icaa.pipeline.colour.conversion import area_resize_long_side

__all__ = ["DecodeError", "read_image_bytes", "open_image", "decode_for_colour", "to_rgb_float32"]


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


def read_image_bytes(path: Path | str) -> bytes:
    """The whole file, or DecodeError ``missing`` / ``unreadable``."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DecodeError(codes.MISSING, "no such file") from None
    except OSError as error:
        raise DecodeError(codes.UNREADABLE, str(error)) from None


@contextmanager
def open_image(path: Path | str, *, max_pixels: int, data: bytes | None = None) -> Iterator[Image.Image]:
    """Open an image file, turning every way it can fail (also inside the ``with`` block) into DecodeError.

    Shared by ``scan`` and ``harmony-score`` so that both give a file the same reject reason: a missing,
    unreadable or empty file; no decoder (``not_an_image``); more than ``max_pixels`` (checked before
    any decoding: ``decompression_bomb``); cut-off or corrupt data on load (``truncated``); anything else
    the decoder refuses (``decode_failed``).
    """
    path = Path(path)
    if data is not None:
        size_bytes, source = len(data), io.BytesIO(data)
    else:
        try:
            size_bytes, source = path.stat().st_size, path
        except FileNotFoundError:
            raise DecodeError(codes.MISSING, "no such file") from None
        except OSError as error:
            raise DecodeError(codes.UNREADABLE, str(error)) from None
    if size_bytes == 0:
        raise DecodeError(codes.EMPTY_FILE, "0 bytes")
    # We compare the pixel count with max_pixels ourselves; Pillow's own guard (which fires only past
    # twice its limit) is set to the same limit as a second line.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DecodeError(codes.DECOMPRESSION_BOMB, f"{width}x{height} > max_pixels {max_pixels}")
                yield image
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError(codes.NOT_AN_IMAGE, "no decoder recognises the file") from None
    except Image.DecompressionBombError:
        # Pillow's own message names twice its limit (it only raises past 2x): name the limit the user set.
        raise DecodeError(codes.DECOMPRESSION_BOMB, f"more pixels than max_pixels {max_pixels}") from None
    except PermissionError as error:
        raise DecodeError(codes.UNREADABLE, str(error)) from None
    except (OSError, SyntaxError, EOFError) as error:
        # Pillow reports cut-off and corrupt streams as OSError ("image file is truncated", "broken data stream").
        raise DecodeError(codes.TRUNCATED, str(error)) from None
    except (ValueError, MemoryError) as error:
        raise DecodeError(codes.DECODE_FAILED, str(error)) from None


def _reduction_factor(width: int, height: int, long_side_px: int) -> int:
    """The largest libjpeg DCT scale 1, 2, 4 or 8 whose output keeps the long side >= ``long_side_px``."""
    return max(f for f in (1, 2, 4, 8) if f == 1 or -(-max(width, height) // f) >= long_side_px)


def _decode_plain_jpeg(file_bytes: bytes, factor: int) -> np.ndarray | None:
    """OpenCV's reduced-size decode of a complete JPEG file (EOI marker present), EXIF orientation ignored;
    None when OpenCV cannot decode it, so that Pillow's path gives the reject reason."""
    import cv2

    data = np.frombuffer(file_bytes, np.uint8)
    if len(data) < 4 or data[-2] != 0xFF or data[-1] != 0xD9:
        return None  # cut off (or trailing bytes): Pillow's path tells which
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    bgr = cv2.imdecode(data, flag | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1.0 / 255.0)


def decode_for_colour(path: Path | str, *, long_side_px: int = 256, max_pixels: int = 100_000_000) -> np.ndarray:
    """Decode ``path`` to float32 sRGB with its long side at most ``long_side_px`` (area resampling).

    Raises
    ------
    DecodeError
        With a reason code of :mod:`icaa.pipeline.rejects`, as :func:`open_image` gives it.
    """
    file_bytes = read_image_bytes(path)  # read once: Pillow parses the header, OpenCV decodes
    with open_image(path, max_pixels=max_pixels, data=file_bytes) as image:
        width, height = image.size
        if image.format == "JPEG" and image.mode in ("RGB", "L"):
            rgb = _decode_plain_jpeg(file_bytes, _reduction_factor(width, height, long_side_px))
            if rgb is not None:
                return area_resize_long_side(rgb, long_side_px)
        scale = max(width, height) / long_side_px
        if image.format == "JPEG" and scale >= 2:
            image.draft(image.mode if image.mode in ("RGB", "L", "CMYK") else "RGB",
                        (max(1, int(width / scale)), max(1, int(height / scale))))
        image.seek(0)
        image.load()
        rgb = to_rgb_float32(image)
    return area_resize_long_side(rgb, long_side_px)
