#!/usr/bin/env python3
"""Rebuild the demo photo set from the Debian packages it came from.

Usage (on Debian/Ubuntu, no root needed)::

    python data/demo/build_demo.py            # downloads the .deb files with `apt-get download`
    python data/demo/build_demo.py --debs DIR # uses .deb files already in DIR

It also takes photos bundled with scikit-image (``SKIMAGE_PHOTOS``). Each photo is decoded, converted to
sRGB RGB, downscaled to at most 768 px on the long side (Lanczos) and saved as JPEG quality 88 under
``data/demo/``. ``ATTRIBUTION.csv`` is written from each package's DEP-5 copyright file (and, for KDE
wallpapers, the author named in the wallpaper's metadata; for scikit-image, from ``SKIMAGE_PHOTOS``).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

DEMO_DIR = Path(__file__).resolve().parent
LONG_SIDE_PX = 768
JPEG_QUALITY = 88

PLASMA = "usr/share/wallpapers/{}/contents/images/1600x1200.jpg"
LOMIRI = "usr/share/backgrounds/{}"
MATE = "usr/share/backgrounds/mate/nature/{}"
LXQT = "usr/share/lxqt/wallpapers/{}"
SCRATCH = "usr/share/scratch/Media/Backgrounds/{}"
TUXPAINT = "usr/share/tuxpaint/templates/{}"

#: (output file, Debian package, path inside the package)
PHOTOS: list[tuple[str, str, str]] = [
    ("mate_water_drop.jpg", "mate-backgrounds", MATE.format("Aqua.jpg")),
    ("mate_green_leaf.jpg", "mate-backgrounds", MATE.format("Blinds.jpg")),
    ("mate_dune_grass.jpg", "mate-backgrounds", MATE.format("Dune.jpg")),
    ("mate_orange_flower.jpg", "mate-backgrounds", MATE.format("FreshFlower.jpg")),
    ("mate_red_marigold.jpg", "mate-backgrounds", MATE.format("Garden.jpg")),
    ("mate_green_meadow.jpg", "mate-backgrounds", MATE.format("GreenMeadow.jpg")),
    ("mate_ladybird.jpg", "mate-backgrounds", MATE.format("LadyBird.jpg")),
    ("mate_rain_drops.jpg", "mate-backgrounds", MATE.format("RainDrops.jpg")),
    ("mate_storm.jpg", "mate-backgrounds", MATE.format("Storm.jpg")),
    ("mate_dandelion_seeds.jpg", "mate-backgrounds", MATE.format("TwoWings.jpg")),
    ("mate_wood_floor.jpg", "mate-backgrounds", MATE.format("Wood.jpg")),
    ("mate_yellow_flower.jpg", "mate-backgrounds", MATE.format("YellowFlower.jpg")),
    ("lomiri_bridge_sky.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("Bridge_by_Sander_Klootwijk.jpg")),
    ("lomiri_dragonfly_tree.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("Dragonfly_by_Bolly.jpg")),
    ("lomiri_fig_red_bowl.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("Picture_0B_by_freespace.jpg")),
    ("lomiri_paint_brushes.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("Picture_1A_by_freespace.jpg")),
    ("lomiri_wine_room.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("Wine_by_Jakkub_Mede.jpg")),
    ("lomiri_autumn_valley.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("aitzgorri_by_Aitzol_Berasategi.jpg")),
    ("lomiri_lamp_bird.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("free_by_Peter_Nerlich.jpg")),
    ("lomiri_dogs_window.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("friends_by_Aitzol_Berasategi.jpg")),
    ("lomiri_wall_clock.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("greentock_by_Peter_Nerlich.jpg")),
    ("lomiri_forest_stream.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("life_by_Aitzol_Berasategi.jpg")),
    ("lomiri_mountain_path.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("picosdeeuropa_by_Aitzol_Berasategi.jpg")),
    ("lomiri_dandelions.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("seeding_by_Clements_Engelhardt.jpg")),
    ("lomiri_sunset_hill.jpg", "lomiri-wallpapers-16.04", LOMIRI.format("sunset_by_Aitzol_Berasategi.jpg")),
    ("lomiri_nuthatch.jpg", "lomiri-wallpapers-20.04", LOMIRI.format("Kleiber_by_Lukas_Baubkus.jpg")),
    ("plasma_jetty_water.jpg", "plasma-workspace-wallpapers", PLASMA.format("BytheWater")),
    ("plasma_grey_pier.jpg", "plasma-workspace-wallpapers", PLASMA.format("ColdRipple")),
    ("plasma_blue_lake.jpg", "plasma-workspace-wallpapers", PLASMA.format("DarkestHour")),
    ("plasma_boats_sunset.jpg", "plasma-workspace-wallpapers", PLASMA.format("EveningGlow")),
    ("plasma_fallen_leaf.jpg", "plasma-workspace-wallpapers", PLASMA.format("FallenLeaf")),
    ("plasma_grey_facade.jpg", "plasma-workspace-wallpapers", PLASMA.format("Grey")),
    ("plasma_moss.jpg", "plasma-workspace-wallpapers", PLASMA.format("OneStandsOut")),
    ("plasma_forest_path.jpg", "plasma-workspace-wallpapers", PLASMA.format("Path")),
    ("plasma_violet_dusk.jpg", "plasma-workspace-wallpapers", PLASMA.format("summer_1am")),
    ("lxqt_butterfly_meadow.jpg", "lxqt-themes", LXQT.format("Butterfly-Kenneth-Wimer.jpg")),
    ("lxqt_dark_mountains.jpg", "lxqt-themes", LXQT.format("Valendas.png")),
    ("lxqt_after_rain.jpg", "lxqt-themes", LXQT.format("after-the-rain.jpg")),
    ("lxqt_apple_blossom.jpg", "lxqt-themes", LXQT.format("appleflower.png")),
    ("lxqt_swallowtail.jpg", "lxqt-themes", LXQT.format("butterfly.png")),
    ("lxqt_clouds.jpg", "lxqt-themes", LXQT.format("cloud.png")),
    ("lxqt_grass_drop.jpg", "lxqt-themes", LXQT.format("drop.png")),
    ("lxqt_purple_flowers.jpg", "lxqt-themes", LXQT.format("flowers.png")),
    ("lxqt_fog_field.jpg", "lxqt-themes", LXQT.format("fog.jpg")),
    ("lxqt_green_hills.jpg", "lxqt-themes", LXQT.format("this-is-not-windows.jpg")),
    ("scratch_beach.jpg", "scratch", SCRATCH.format("Nature/beach-malibu.jpg")),
    ("scratch_flower_bed.jpg", "scratch", SCRATCH.format("Nature/flower-bed.jpg")),
    ("scratch_zinnias.jpg", "scratch", SCRATCH.format("Nature/flowers.gif")),
    ("scratch_moon_surface.jpg", "scratch", SCRATCH.format("Nature/moon.jpg")),
    ("scratch_brick_wall.jpg", "scratch", SCRATCH.format("Outdoors/brick-wall1.jpg")),
    ("scratch_hay_field.jpg", "scratch", SCRATCH.format("Outdoors/hay_field.jpg")),
    ("scratch_pool.jpg", "scratch", SCRATCH.format("Outdoors/pool.jpg")),
    ("scratch_hall.jpg", "scratch", SCRATCH.format("Indoors/hall.jpg")),
    ("scratch_kitchen.jpg", "scratch", SCRATCH.format("Indoors/kitchen.jpg")),
    ("scratch_canyon.jpg", "scratch", SCRATCH.format("Nature/canyon.jpg")),
    ("scratch_hill.jpg", "scratch", SCRATCH.format("Nature/hill.jpg")),
    ("scratch_tree.jpg", "scratch", SCRATCH.format("Nature/tree.jpg")),
    ("scratch_wave.jpg", "scratch", SCRATCH.format("Nature/wave.jpg")),
    ("scratch_all_sports_mural.jpg", "scratch", SCRATCH.format("Outdoors/all-sports-mural.jpg")),
    ("scratch_berkeley_mural.jpg", "scratch", SCRATCH.format("Outdoors/berkeley-mural.jpg")),
    ("scratch_brick_wall2.jpg", "scratch", SCRATCH.format("Outdoors/brick-wall2.jpg")),
    ("scratch_city_with_water2.jpg", "scratch", SCRATCH.format("Outdoors/city-with-water2.jpg")),
    ("scratch_driveway.jpg", "scratch", SCRATCH.format("Outdoors/driveway.jpg")),
    ("scratch_hallway_outdoors.jpg", "scratch", SCRATCH.format("Outdoors/hallway_outdoors.jpg")),
    ("scratch_houses.jpg", "scratch", SCRATCH.format("Outdoors/houses.jpg")),
    ("scratch_route66.jpg", "scratch", SCRATCH.format("Outdoors/route66.jpg")),
    ("scratch_the_movies.jpg", "scratch", SCRATCH.format("Outdoors/the-movies.jpg")),
    ("scratch_tennis_backboard.jpg", "scratch", SCRATCH.format("Sports/tennis-backboard.jpg")),
    ("tuxpaint_burnt_bark.jpg", "tuxpaint-data", TUXPAINT.format("burnt_bark.jpg")),
    ("tuxpaint_jellyfish.jpg", "tuxpaint-data", TUXPAINT.format("jellyfish.jpg")),
    ("tuxpaint_lighthouse.jpg", "tuxpaint-data", TUXPAINT.format("lighthouse.jpg")),
    ("tuxpaint_mudstone.jpg", "tuxpaint-data", TUXPAINT.format("mudstone.jpg")),
    ("tuxpaint_rocks.jpg", "tuxpaint-data", TUXPAINT.format("rocks.jpg")),
    ("tuxpaint_cliff.jpg", "tuxpaint-data", TUXPAINT.format("cliff.jpg")),
    ("tuxpaint_ocean_waves.jpg", "tuxpaint-data", TUXPAINT.format("ocean_waves.jpg")),
    ("tuxpaint_spiders_web.jpg", "tuxpaint-data", TUXPAINT.format("spiders_web.jpg")),
    ("tuxpaint_sun_behind_clouds.jpg", "tuxpaint-data", TUXPAINT.format("sun_behind_clouds.jpg")),
    ("tuxpaint_trees_at_dusk.jpg", "tuxpaint-data", TUXPAINT.format("trees_at_dusk.jpg")),
    ("tuxpaint_wool_mill_machine.jpg", "tuxpaint-data", TUXPAINT.format("wool_mill_machine.jpg")),
]

#: (output file, file in scikit-image's bundled ``skimage/data``, author, licence)
SKIMAGE_PHOTOS: list[tuple[str, str, str, str]] = [
    ("skimage_astronaut.jpg", "astronaut.png", "NASA (Eileen Collins, NASA Great Images database)", "public-domain"),
]


def parse_dep5(copyright_text: str) -> list[dict[str, str]]:
    """The stanzas of a DEP-5 copyright file that have a ``Files`` field."""
    stanzas, current, key = [], {}, None
    for line in copyright_text.splitlines() + [""]:
        if not line.strip():
            if "Files" in current:
                stanzas.append(current)
            current, key = {}, None
        elif line[0] in " \t" and key:
            current[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            current[key] = value.strip()
    return stanzas


def licence_for(stanzas: list[dict[str, str]], path_in_package: str) -> tuple[str, str]:
    """(copyright, licence) of the last stanza whose Files pattern matches, DEP-5 style."""
    found = ("", "")
    for stanza in stanzas:
        for pattern in stanza["Files"].split():
            if fnmatch.fnmatch(path_in_package, "*" + pattern.lstrip("*")) or pattern == "*" \
                    or Path(path_in_package).name == Path(pattern).name:
                found = (stanza.get("Copyright", ""), stanza.get("License", "").split(" ")[0])
    return found


def plasma_author(package_root: Path, image_path: str) -> str:
    metadata = package_root / Path(image_path).parents[2] / "metadata.json"
    if metadata.exists():
        authors = json.loads(metadata.read_text()).get("KPlugin", {}).get("Authors", [])
        return ", ".join(a.get("Name", "") for a in authors)
    return ""


def save_downscaled(source: Path, out_name: str) -> None:
    with Image.open(source) as image:
        image = image.convert("RGB")
        image.thumbnail((LONG_SIDE_PX, LONG_SIDE_PX), Image.Resampling.LANCZOS)
        image.save(DEMO_DIR / out_name, "JPEG", quality=JPEG_QUALITY, optimize=True)


def skimage_rows() -> list[dict[str, str]]:
    import skimage

    data_dir = Path(skimage.__file__).parent / "data"
    rows = []
    for out_name, data_file, author, licence in SKIMAGE_PHOTOS:
        save_downscaled(data_dir / data_file, out_name)
        rows.append({"file": out_name, "source_package": f"scikit-image ({skimage.__version__})",
                     "original_path": f"skimage/data/{data_file}", "author": author, "licence": licence})
    return rows


def unpacked_packages(packages: list[str], debs: Path | None, work_dir: Path) -> Iterator[tuple[str, str, Path]]:
    """(package, version, unpacked root) of each package, from the .deb files in ``debs`` or, with None,
    downloaded with `apt-get download` into ``work_dir``."""
    if debs is None:
        debs = work_dir / "debs"
        debs.mkdir()
        subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True)
    for package in packages:
        deb = next(debs.glob(f"{package}_*.deb"))
        root = work_dir / package
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        yield package, deb.name.split("_")[1], root


def write_attribution(folder: Path, rows: list[dict[str, str]]) -> None:
    """``folder/ATTRIBUTION.csv``: file, source package, original path, author and licence of each photo."""
    rows = sorted(rows, key=lambda row: row["file"])
    with open(folder / "ATTRIBUTION.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "source_package", "original_path", "author", "licence"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} photos and ATTRIBUTION.csv to {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debs", type=Path, help="folder holding the .deb files (default: apt-get download them)")
    args = parser.parse_args()
    packages = sorted({package for _, package, _ in PHOTOS})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for package, version, root in unpacked_packages(packages, args.debs, Path(tmp)):
            stanzas = parse_dep5((root / f"usr/share/doc/{package}/copyright").read_text(errors="replace"))
            for out_name, photo_package, inner_path in PHOTOS:
                if photo_package != package:
                    continue
                save_downscaled(root / inner_path, out_name)
                copyright_holder, licence = licence_for(stanzas, inner_path.split("/")[-1] if package.startswith(
                    "lomiri") else inner_path)
                author = plasma_author(root, inner_path) if package.startswith("plasma") else copyright_holder
                rows.append({"file": out_name, "source_package": f"{package} ({version})",
                             "original_path": "/" + inner_path, "author": author, "licence": licence})
    write_attribution(DEMO_DIR, rows + skimage_rows())


if __name__ == "__main__":
    main()
