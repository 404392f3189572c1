#!/usr/bin/env python3
"""Reproduce the draw of the 23 photos added to the demo set (57 -> 80 photos).

The pool is every real photograph in the demo's source packages and scikit-image's bundled data that was not
yet in the set; left out: renders, drawings, logos, patterns, composites, microscopy, retina and astronomy
images, and photos of unclear licence (scikit-image's rocket and motorcycle). The draw was fixed, and the
drawn photos labelled by three raters, before harmony-score ever ran on them.

Usage: python data/demo/draw_added_sample.py   (prints the pool size and the 23 drawn paths)
"""

from __future__ import annotations

import random

ROOM_LEFT = 80 - 57

SCRATCH = "scratch/usr/share/scratch/Media/Backgrounds/"
TUXPAINT = "tuxpaint-data/usr/share/tuxpaint/templates/"
PLASMA = "plasma-workspace-wallpapers/usr/share/wallpapers/"


def pool() -> list[str]:
    paths = [PLASMA + "ColorfulCups/contents/images/2560x1600", PLASMA + "Kite/contents/images/1600x1200",
             "lxqt-themes/usr/share/lxqt/wallpapers/beam.png"]
    paths += [SCRATCH + "Indoors/" + name for name in "chalkboard clothing-store hall kitchen the-movies-inside".split()]
    paths += [SCRATCH + "Nature/" + name for name in (
        "canyon forest garden-rock grand-canyon gravel-desert hill lake pathway tree water-and-rocks wave").split()]
    paths += [SCRATCH + "Outdoors/" + name for name in (
        "all-sports-mural atom-playground bench-with-view berkeley-mural boardwalk brick-wall-and-stairs brick-wall2 "
        "building-at-mit building-fireproof castle city-with-water city-with-water2 driveway hallway_outdoors houses "
        "mansion mural-faro parking-ramp route66 silos the-movies train-tracks1 train-tracks2 village "
        "wooden-house").split()]
    paths += [SCRATCH + "Sports/" + name for name in (
        "baseball-field basketball-court1-a basketball-court1-b football-field playing-field tennis-backboard").split()]
    paths += [TUXPAINT + name for name in (
        "cliff corn_maze mossy_bark mossy_log ocean_splash ocean_waves redwoods_above sheep spiders_web "
        "sun_behind_clouds sun_behind_leaves trees_above trees_at_dusk wool_mill_machine").split()]
    paths += ["skimage/data/" + name for name in ("astronaut.png", "chelsea.png", "coffee.png")]
    return [path if "." in path.rsplit("/", 1)[-1] else path + ".jpg" for path in paths]


def main() -> None:
    candidates = pool()
    print(f"pool: {len(candidates)} photographs")
    for path in sorted(random.Random(0).sample(sorted(candidates), ROOM_LEFT)):
        print(path)


if __name__ == "__main__":
    main()
