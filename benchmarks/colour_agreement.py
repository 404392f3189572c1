"""Agreement of harmony-score's colours with people on the labelled photos, tuning and held-out parts apart.

``data/labelled/`` holds real photos labelled blind by three raters before harmony-score ran on them, split once
by ``split_labelled.py``. A threshold may be chosen on the tuning part (and ``data/demo/``), never on the
held-out part: run ``--part tuning`` while tuning, and the held-out figures only to report them.

Dominant: the photos whose three raters name the same dominant family. Pair: the sure photos (all three give
the same dominant and auxiliary, an achromatic runner-up of a coloured photo counting as none).

Usage: python benchmarks/colour_agreement.py [--part tuning|held_out|all] [--show-misses]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LABELLED_DIR = ROOT / "data" / "labelled"
sys.path.insert(0, str(LABELLED_DIR))
from split_labelled import colour_pair, rater_labels  # noqa: E402


def computed_colours(photos: list[str], **analysis_options) -> pd.DataFrame:
    from icaa.pipeline.harmony import run_harmony_score

    with tempfile.TemporaryDirectory() as tmp:
        listing = pd.DataFrame({"image_id": photos, "path": [str(LABELLED_DIR / p) for p in photos]})
        listing.to_parquet(Path(tmp) / "images.parquet")
        run_harmony_score(Path(tmp) / "images.parquet", Path(tmp) / "colour.parquet", progress=False, **analysis_options)
        return pd.read_parquet(Path(tmp) / "colour.parquet").set_index("image_id")


def agreement(colour: pd.DataFrame, photos: list[str]) -> dict[str, tuple[int, int, list[str]]]:
    """'dominant' and 'pair' -> (agreeing, counted, missed photos) against the raters' consensus."""
    labels = rater_labels()
    result = {}
    for key in ("dominant", "pair"):
        hits, counted, misses = 0, 0, []
        for photo in photos:
            rows = labels[photo]
            answers = {row["dominant"] if key == "dominant" else colour_pair(row["dominant"], row["auxiliary"])
                       for row in rows}
            if len(rows) != 3 or len(answers) != 1:
                continue
            computed = colour.loc[photo]
            auxiliary = computed["auxiliary"] if isinstance(computed["auxiliary"], str) else ""
            value = computed["dominant"] if key == "dominant" else colour_pair(computed["dominant"], auxiliary)
            counted += 1
            if value == answers.pop():
                hits += 1
            else:
                misses.append(f"{photo}: computed {value}, people {rows[0]['dominant']}/{rows[0]['auxiliary']}")
        result[key] = (hits, counted, misses)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("tuning", "held_out", "all"), default="tuning")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    split = pd.read_csv(LABELLED_DIR / "split.csv")
    parts = ("tuning", "held_out") if args.part == "all" else (args.part,)
    for part in parts:
        photos = sorted(split.loc[split["part"] == part, "file"])
        result = agreement(computed_colours(photos), photos)
        figures = ", ".join(f"{key} {hits / counted:.1%} ({hits} of {counted})"
                            for key, (hits, counted, _) in result.items())
        print(f"{part}: {len(photos)} photos; {figures}")
        if args.show_misses:
            for key, (_, _, misses) in result.items():
                for miss in misses:
                    print(f"  {key} miss  {miss}")


if __name__ == "__main__":
    main()
