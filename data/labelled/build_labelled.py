#!/usr/bin/env python3
"""Rebuild the labelled photo set (``data/labelled/``) from the Debian packages it came from.

The set measures colour naming out of sample: its photos are not in ``data/demo/`` and no threshold of
harmony-score was ever chosen on the held-out part (``split.csv``, made by ``split_labelled.py``).

The pool, fixed before any photo was labelled or analysed: every real photograph with a long side of at
least 640 px in

* ``gcompris-qt-data`` (photos inside its Qt resource bundles, unpacked here): the ``clickgame``,
  ``details``, ``erase``, ``explore_farm_animals``, ``explore_monuments``, ``explore_world_animals`` and
  ``explore_world_music`` activities,
* and the wallpaper/template packages the demo draws on (``tuxpaint-data``, ``plasma-workspace-wallpapers``,
  ``lxqt-themes``), photos not already in ``data/demo/``.

Left out by looking, as for the demo: paintings (GCompris ``details`` and ``babyshapes`` paintings), the
``babyshapes`` composite of drawn shapes, renders, logos, patterns and the Milky Way composite. Each photo
is converted to sRGB, downscaled to at most 640 px on the long side (Lanczos) and saved as JPEG quality 88.
``ATTRIBUTION.csv`` comes from each package's DEP-5 copyright file.

Usage::

    python data/labelled/build_labelled.py            # downloads the .deb files with `apt-get download`
    python data/labelled/build_labelled.py --debs DIR # uses .deb files already in DIR
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from PIL import Image

LABELLED_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(LABELLED_DIR.parent / "demo"))
from build_demo import licence_for, parse_dep5, plasma_author  # noqa: E402

LONG_SIDE_PX = 640
MIN_LONG_SIDE_PX = 640
JPEG_QUALITY = 88

GCOMPRIS_ACTIVITIES = ("clickgame", "details", "erase", "explore_farm_animals", "explore_monuments",
                       "explore_world_animals", "explore_world_music")
#: Parts of the names of GCompris images of those activities that are not photographs (paintings, maps).
GCOMPRIS_NOT_PHOTOS = ("gogh", "eglise", "portraitof")
#: (output file, package, path inside the package): the wallpaper-package photos not in data/demo.
WALLPAPER_PHOTOS: list[tuple[str, str, str]] = [
    ("tuxpaint_corn_maze.jpg", "tuxpaint-data", "usr/share/tuxpaint/templates/corn_maze.jpg"),
    ("tuxpaint_mossy_log.jpg", "tuxpaint-data", "usr/share/tuxpaint/templates/mossy_log.jpg"),
    ("tuxpaint_ocean_splash.jpg", "tuxpaint-data", "usr/share/tuxpaint/templates/ocean_splash.jpg"),
    ("tuxpaint_redwoods_above.jpg", "tuxpaint-data", "usr/share/tuxpaint/templates/redwoods_above.jpg"),
    ("tuxpaint_sheep.jpg", "tuxpaint-data", "usr/share/tuxpaint/templates/sheep.jpg"),
    ("plasma_colorful_cups.jpg", "plasma-workspace-wallpapers",
     "usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg"),
    ("plasma_kite.jpg", "plasma-workspace-wallpapers", "usr/share/wallpapers/Kite/contents/images/2560x1600.jpg"),
    ("lxqt_beam.jpg", "lxqt-themes", "usr/share/lxqt/wallpapers/beam.png"),
]


def unpack_qt_resources(rcc_bytes: bytes) -> dict[str, bytes]:
    """Path -> contents of every file in a Qt binary resource bundle (rcc format 1-3; zlib or zstd)."""
    if rcc_bytes[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", rcc_bytes[4:20])
    node_size = 22 if version >= 2 else 14
    files: dict[str, bytes] = {}

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", rcc_bytes[names + offset:names + offset + 2])
        return rcc_bytes[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        base = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", rcc_bytes[base:base + 6])
        name = name_at(name_offset) if index else ""
        path = f"{prefix}/{name}" if name else prefix
        if flags & 2:
            count, first = struct.unpack(">II", rcc_bytes[base + 6:base + 14])
            for child in range(count):
                walk(first + child, path)
            return
        (data_offset,) = struct.unpack(">I", rcc_bytes[base + 10:base + 14])
        (size,) = struct.unpack(">I", rcc_bytes[data + data_offset:data + data_offset + 4])
        blob = rcc_bytes[data + data_offset + 4:data + data_offset + 4 + size]
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        elif flags & 4:
            import zstandard

            blob = zstandard.ZstdDecompressor().decompress(blob)
        files[path.lstrip("/")] = blob

    walk(0, "")
    return files


def save_downscaled(image: Image.Image, out_name: str) -> None:
    image = image.convert("RGB")
    image.thumbnail((LONG_SIDE_PX, LONG_SIDE_PX), Image.Resampling.LANCZOS)
    image.save(LABELLED_DIR / out_name, "JPEG", quality=JPEG_QUALITY, optimize=True)


def gcompris_rows(root: Path, version: str) -> list[dict[str, str]]:
    import io

    stanzas = parse_dep5((root / "usr/share/doc/gcompris-qt-data/copyright").read_text(errors="replace"))
    rows = []
    for bundle in sorted((root / "usr/share/gcompris-qt").rglob("*.rcc")):
        if bundle.stem not in GCOMPRIS_ACTIVITIES:
            continue
        for inner, blob in sorted(unpack_qt_resources(bundle.read_bytes()).items()):
            stem = Path(inner).stem
            if Path(inner).suffix.lower() not in (".webp", ".jpg", ".jpeg", ".png") \
                    or any(part in stem.lower() for part in GCOMPRIS_NOT_PHOTOS):
                continue
            if bundle.stem == "details" and not stem.endswith("_background"):
                continue  # the puzzle pieces cut from each photo
            image = Image.open(io.BytesIO(blob))
            if max(image.size) < MIN_LONG_SIDE_PX:
                continue
            out_name = f"gcompris_{bundle.stem}_{stem}.jpg".lower()
            save_downscaled(image, out_name)
            # The copyright file names the files by their original (pre-webp) names.
            source = inner.split("gcompris/", 1)[-1]
            holder, licence = licence_for(stanzas, str(Path(source).with_suffix(".jpg")))
            if not licence:
                holder, licence = licence_for(stanzas, source)
            rows.append({"file": out_name, "source_package": f"gcompris-qt-data ({version})",
                         "original_path": f"{bundle.relative_to(root)}:{inner}", "author": holder, "licence": licence})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debs", type=Path, help="folder holding the .deb files (default: apt-get download them)")
    args = parser.parse_args()
    packages = sorted({"gcompris-qt-data"} | {package for _, package, _ in WALLPAPER_PHOTOS})
    with tempfile.TemporaryDirectory() as tmp:
        debs = args.debs or Path(tmp) / "debs"
        if args.debs is None:
            debs.mkdir()
            subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True)
        rows = []
        for package in packages:
            deb = next(debs.glob(f"{package}_*.deb"))
            version = deb.name.split("_")[1]
            root = Path(tmp) / package
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            if package == "gcompris-qt-data":
                rows += gcompris_rows(root, version)
                continue
            stanzas = parse_dep5((root / f"usr/share/doc/{package}/copyright").read_text(errors="replace"))
            for out_name, photo_package, inner_path in WALLPAPER_PHOTOS:
                if photo_package != package:
                    continue
                with Image.open(root / inner_path) as image:
                    save_downscaled(image, out_name)
                holder, licence = licence_for(stanzas, inner_path)
                author = plasma_author(root, inner_path) if package.startswith("plasma") else holder
                rows.append({"file": out_name, "source_package": f"{package} ({version})",
                             "original_path": "/" + inner_path, "author": author, "licence": licence})
    rows.sort(key=lambda row: row["file"])
    with open(LABELLED_DIR / "ATTRIBUTION.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "source_package", "original_path", "author", "licence"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} photos and ATTRIBUTION.csv to {LABELLED_DIR}")


if __name__ == "__main__":
    main()
