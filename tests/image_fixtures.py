"""Files that break naive image pipelines, made on the fly for the scan and harmony-score tests."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"

#: file name -> reject reason expected from scan, for the bad files of `make_robustness_folder`
EXPECTED_REJECTS = {
    "empty.jpg": "empty_file",
    "truncated.jpg": "truncated",
    "notes.jpg": "not_an_image",
    "huge.png": "decompression_bomb",
    "tiny.png": "too_small",
}
#: the unusual but good files: name -> (mode as stored, width, height)
EXPECTED_GOOD = {
    "cmyk.jpg": ("CMYK", 96, 80),
    "deep16.png": ("I;16", 96, 80),
    "palette_alpha.png": ("P", 96, 80),
    "animated.gif": ("P", 96, 80),
    "gray.jpg": ("L", 96, 80),
}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_huge_png(path: Path, side_px: int = 30000) -> None:
    """A valid 1-bit PNG of side_px x side_px that is about 100 KB on disk (all black)."""
    row = b"\x00" + b"\x00" * ((side_px + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side_px)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side_px, side_px, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
                     + _png_chunk(b"IEND", b""))


def half_and_half(rgb_left: tuple[int, int, int], rgb_right: tuple[int, int, int], size=(96, 80)) -> np.ndarray:
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = rgb_left
    pixels[:, width // 2:] = rgb_right
    return pixels


def make_robustness_folder(folder: Path, good_photos: int = 3) -> list[str]:
    """Fill ``folder`` with a few real demo photos plus every awkward case; return the good photo names."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = sorted(DEMO_DIR.glob("*.jpg"))[:good_photos]
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    (folder / "empty.jpg").write_bytes(b"")
    data = photos[0].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.jpg").write_text("this is a text file, not a photo\n")
    write_huge_png(folder / "huge.png")
    Image.new("RGB", (10, 10), (200, 30, 30)).save(folder / "tiny.png")
    red_blue = Image.fromarray(half_and_half((220, 20, 20), (20, 40, 220)))
    red_blue.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    deep = (np.linspace(0, 65535, 96 * 80).reshape(80, 96)).astype(np.uint16)
    Image.fromarray(deep).save(folder / "deep16.png")
    palette = red_blue.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    palette.save(folder / "palette_alpha.png", transparency=0)
    frames = [red_blue.convert("P"), Image.fromarray(half_and_half((20, 200, 20), (250, 250, 0))).convert("P")]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.fromarray(half_and_half((30, 30, 30), (220, 220, 220))).convert("L").save(folder / "gray.jpg")
    return [photo.name for photo in photos]
