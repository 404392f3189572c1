"""Write data/demo/label_studio_export.simulated.json: SIMULATED raters' ratings of every demo photo.

Not real ratings: 20 simulated raters (icaa.annotation.simulate, seeded: 13 honest, 2 biased, 4 lazy, 1 spammer)
rate every photo, in Label Studio's JSON export format, so that `dvc repro` runs `annotate import` and `mos`
without a server. Like a real export, it carries one annotation the server accepted but the import must reject
(a colour rating of 11 on the 1..10 scale).

Usage: python data/demo/make_simulated_export.py [--images-root data/demo] [-o FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from icaa.annotation.labelstudio import image_url
from icaa.annotation.simulate import RaterDesign, annotation_result, simulate_ratings, to_label_studio_tasks

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-root", type=Path, default=here)
    parser.add_argument("-o", "--output", type=Path, default=here / "label_studio_export.simulated.json")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    root = args.images_root.resolve()
    ids = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not ids:
        raise SystemExit(f"no images under {root}")
    design = RaterDesign(n_images=len(ids), n_raters=20, images_per_rater=len(ids))
    ratings, _truth, _kinds = simulate_ratings(design, seed=args.seed, image_ids=ids)
    users = {name: 2 + k for k, name in enumerate(sorted(ratings["rater"].unique()))}
    tasks = to_label_studio_tasks(ratings, lambda i: image_url(i, local_files_prefix="demo"), users)
    invalid = dict(tasks[0]["annotations"][0])
    first = ratings[ratings["image_id"] == tasks[0]["data"]["image_id"]].iloc[0]
    invalid.update(id=len(ratings) + 1, completed_by=1,
                   result=annotation_result(11, int(first["overall"]), float(first["confidence"])))
    tasks[0]["annotations"].append(invalid)
    args.output.write_text(json.dumps(tasks, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{args.output}: {len(tasks)} tasks, {len(ratings)} simulated annotations by {len(users)} raters")


if __name__ == "__main__":
    main()
