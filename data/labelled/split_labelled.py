#!/usr/bin/env python3
"""Split the labelled photos once into a tuning part and a held-out part (writes ``split.csv``).

A photo is *sure* when the three raters, labelling blind, give the same dominant family and the same colour
pair (``colour_pair``: dominant + auxiliary, an achromatic runner-up of a coloured photo counting as none,
since ICAA17K has no such class). The rule, fixed before harmony-score ever ran on these photos: shuffle the
file names (sorted) with ``random.Random(2026)`` and give photos in that order to the held-out part until it
holds ``HELD_OUT_SURE`` sure photos; every later photo is tuning. No threshold may be chosen on the held-out
part.

Usage: python data/labelled/split_labelled.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

LABELLED_DIR = Path(__file__).resolve().parent
HELD_OUT_SURE = 70
SEED = 2026


def colour_pair(dominant: str, auxiliary: str) -> tuple[str, str]:
    """(dominant, auxiliary) as an ICAA17K class sees it: no achromatic auxiliary beside a colour."""
    return dominant, "" if dominant != "achromatic" and auxiliary == "achromatic" else auxiliary


def rater_labels() -> dict[str, list[dict[str, str]]]:
    """File -> the three raters' rows (labels.csv first, then labels_independent.csv)."""
    labels: dict[str, list[dict[str, str]]] = {}
    for name in ("labels.csv", "labels_independent.csv"):
        with open(LABELLED_DIR / name, newline="") as handle:
            for row in csv.DictReader(handle):
                labels.setdefault(row["file"], []).append(row)
    return labels


def is_sure(rows: list[dict[str, str]]) -> bool:
    return len(rows) == 3 and len({colour_pair(row["dominant"], row["auxiliary"]) for row in rows}) == 1


def main() -> None:
    labels = rater_labels()
    order = sorted(labels)
    random.Random(SEED).shuffle(order)
    held_out_sure, parts = 0, {}
    for file in order:
        if held_out_sure < HELD_OUT_SURE:
            parts[file] = "held_out"
            held_out_sure += is_sure(labels[file])
        else:
            parts[file] = "tuning"
    with open(LABELLED_DIR / "split.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "part", "sure"])
        for file in sorted(parts):
            writer.writerow([file, parts[file], "yes" if is_sure(labels[file]) else "no"])
    counts = {part: sum(1 for p in parts.values() if p == part) for part in ("tuning", "held_out")}
    print(f"tuning {counts['tuning']} photos, held-out {counts['held_out']} ({held_out_sure} sure)")


if __name__ == "__main__":
    main()
