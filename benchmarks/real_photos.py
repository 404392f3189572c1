"""A set of real full-resolution photos for the speed benchmarks, built from the Debian packages.

The originals are the photographs of ``data/demo/`` and ``data/labelled/`` at the size their packages ship
(``build_demo.PHOTOS``; GCompris's ``erase`` and ``clickgame`` photos), those of at least 1.5 MP: 85
photos, 1.6-20 MP. Each original gives several different crops of about 1.5 MP, each downscaled by a
random factor of at most 2 first (never upscaled) and saved as JPEG quality 90, so that every file holds
real camera detail and no two files are the same.

    python benchmarks/real_photos.py OUT_DIR [--count 1000] [--debs DIR]

Files already in OUT_DIR with the same names are kept (the set is deterministic: seed 0); ``MANIFEST.txt`` lists
the set in order, so a second run reuses it without the packages.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "data" / "demo"))
sys.path.insert(0, str(ROOT / "data" / "labelled"))
from build_demo import PHOTOS, unpacked_packages  # noqa: E402
from build_labelled import unpack_qt_resources  # noqa: E402

MIN_PIXELS = 1_500_000
CROP_PIXELS = 1_500_000
GCOMPRIS_BUNDLES = ("erase", "clickgame")
JPEG_QUALITY = 90


def originals(debs: Path | None, work_dir: Path) -> list[tuple[str, Image.Image]]:
    """(name, image) of every original photo of at least MIN_PIXELS."""
    found: list[tuple[str, Image.Image]] = []
    packages = sorted({package for _, package, _ in PHOTOS} | {"gcompris-qt-data"})
    for package, _, root in unpacked_packages(packages, debs, work_dir):
        if package == "gcompris-qt-data":
            for bundle in sorted((root / "usr/share/gcompris-qt").rglob("*.rcc")):
                if bundle.stem in GCOMPRIS_BUNDLES:
                    for inner, blob in sorted(unpack_qt_resources(bundle.read_bytes()).items()):
                        if inner.endswith(".webp"):
                            found.append((f"gcompris_{bundle.stem}_{Path(inner).stem}", Image.open(io.BytesIO(blob))))
            continue
        for out_name, photo_package, inner_path in PHOTOS:
            if photo_package == package:
                found.append((Path(out_name).stem, Image.open(root / inner_path)))
    return [(name, image) for name, image in found if image.width * image.height >= MIN_PIXELS]


def crops(name: str, image: Image.Image, count: int, rng: np.random.Generator) -> list[tuple[str, Image.Image]]:
    """``count`` crops of about CROP_PIXELS, each after a random downscale by a factor in 1..2."""
    image = image.convert("RGB")
    out = []
    for index in range(count):
        smallest = np.sqrt(CROP_PIXELS / (image.width * image.height))  # the downscale that leaves CROP_PIXELS
        scale = rng.uniform(max(0.5, min(1.0, smallest)), 1.0)
        width, height = round(image.width * scale), round(image.height * scale)
        scaled = image.resize((width, height), Image.Resampling.LANCZOS) if scale < 1.0 else image
        crop_width = min(width, round(np.sqrt(CROP_PIXELS * width / height)))
        crop_height = min(height, round(CROP_PIXELS / crop_width))
        left = int(rng.integers(0, width - crop_width + 1))
        top = int(rng.integers(0, height - crop_height + 1))
        out.append((f"{name}_{index:02d}.jpg", scaled.crop((left, top, left + crop_width, top + crop_height))))
    return out


def build(out_dir: Path, count: int, debs: Path | None = None) -> list[Path]:
    """The first ``count`` photos of the set in ``out_dir``, built there first unless its manifest lists them."""
    manifest = out_dir / "MANIFEST.txt"
    if manifest.exists():
        names = manifest.read_text().split()
        if len(names) >= count and all((out_dir / name).exists() for name in names[:count]):
            return [out_dir / name for name in names[:count]]
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        photos = originals(debs, Path(tmp))
        per_photo = -(-count // len(photos))
        paths = []
        for name, image in photos:
            for file_name, crop in crops(name, image, per_photo, rng):
                path = out_dir / file_name
                if not path.exists():
                    crop.save(path, "JPEG", quality=JPEG_QUALITY)
                paths.append(path)
    manifest.write_text("\n".join(path.name for path in paths) + "\n")
    return paths[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--debs", type=Path, help="folder holding the .deb files (default: apt-get download them)")
    args = parser.parse_args()
    paths = build(args.out_dir, args.count, args.debs)
    print(f"{len(paths)} photos in {args.out_dir}")


if __name__ == "__main__":
    main()
