"""Is harmony_score informative and valid on real photos?

Informative: over the photos, the inter-quartile range of ``harmony_score`` (target >= 0.15) and the share of
photos at the top value (target <= 10 %).

Valid: each photo is compared with copies of itself whose colour relations were disrupted, and the script
prints the AUC of "the photo scores higher than its disrupted copy" (ties count a half; target >= 0.9).
The disruptions keep each pixel's lightness and saturation and change hues only, so that what drops is
the relation between the photo's colours, not its exposure or colourfulness:

* ``region_hue_shift``: a third of the photo's SLIC superpixels (scikit-image; regions that follow the
  photo's own edges) turn by one random angle in 90..270 deg, as if a few objects had been recoloured;
* ``region_hue_scramble``: every superpixel turns by its own random angle, a colour-relation null;
* ``foreign_patches``: three discs (about 4 % of the area each) in vivid colours of random hue, pasted
  where they fall, as foreign objects are.

The seed is fixed, so the figures are reproducible. Nothing here was used to choose the score's
construction (it has no fitted parameter).

Usage::

    python benchmarks/harmony_validity.py                      # data/labelled/ (138 real photos)
    python benchmarks/harmony_validity.py --photos DIR         # any folder of photos
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}


def harmony_score_of(rgb: np.ndarray) -> float:
    from icaa.pipeline.colour import analyse_colours

    return float(analyse_colours(rgb).harmony["harmony_score"])


def _rotate_hue(rgb: np.ndarray, turn_deg: np.ndarray) -> np.ndarray:
    """``rgb`` uint8 (H, W, 3) with each pixel's HSV hue turned by ``turn_deg`` (H, W)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + turn_deg * (256.0 / 360.0), 256.0)
    return cv2.cvtColor(hsv.round().clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)


def _superpixels(rgb: np.ndarray) -> np.ndarray:
    from skimage.segmentation import slic

    return slic(rgb, n_segments=60, compactness=10, start_label=0)


def region_hue_shift(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    segments = _superpixels(rgb)
    chosen = rng.random(segments.max() + 1) < 1 / 3
    return _rotate_hue(rgb, np.where(chosen[segments], rng.uniform(90, 270), 0.0))


def region_hue_scramble(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    segments = _superpixels(rgb)
    return _rotate_hue(rgb, rng.uniform(0, 360, segments.max() + 1)[segments])


def foreign_patches(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = rgb.copy()
    height, width = rgb.shape[:2]
    radius = int(round(np.sqrt(0.04 * height * width / np.pi)))
    for _ in range(3):
        hsv = np.uint8([[[rng.uniform(0, 180), 230, 230]]])
        colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].tolist()
        centre = (int(rng.uniform(radius, width - radius)), int(rng.uniform(radius, height - radius)))
        cv2.circle(out, centre, radius, colour, thickness=-1)
    return out


DISRUPTIONS = {"region_hue_shift": region_hue_shift, "region_hue_scramble": region_hue_scramble,
               "foreign_patches": foreign_patches}


def auc(originals: np.ndarray, disrupted: np.ndarray) -> float:
    """P(original > its disrupted copy), ties a half."""
    return float(np.mean((originals > disrupted) + 0.5 * (originals == disrupted)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT / "data" / "labelled")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from icaa.pipeline.decode import decode_for_colour

    files = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in EXTENSIONS)
    if not files:
        raise SystemExit(f"no photos under {args.photos}")
    rng = np.random.default_rng(args.seed)
    originals, disrupted = [], {name: [] for name in DISRUPTIONS}
    for path in files:
        rgb = decode_for_colour(path, long_side_px=256)
        rgb = rgb if rgb.dtype == np.uint8 else (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
        originals.append(harmony_score_of(rgb))
        for name, disrupt in DISRUPTIONS.items():
            disrupted[name].append(harmony_score_of(disrupt(rgb, rng)))
    scores = np.array(originals)
    quartiles = np.percentile(scores, [25, 50, 75])
    top_share = float(np.mean(scores == scores.max()))
    print(f"{len(files)} photos from {args.photos}")
    print(f"informative: harmony_score quartiles {quartiles.round(3).tolist()}, IQR {quartiles[2] - quartiles[0]:.3f} "
          f"(target >= 0.15); {top_share:.1%} of the photos at the top value {scores.max():.3f} (target <= 10 %)")
    every = []
    for name, values in disrupted.items():
        values = np.array(values)
        every.append(values)
        print(f"valid: AUC original > {name} {auc(scores, values):.3f} (mean drop {np.mean(scores - values):.3f})")
    print(f"valid: AUC over all disruptions {auc(np.tile(scores, len(every)), np.concatenate(every)):.3f} "
          f"(target >= 0.9)")


if __name__ == "__main__":
    main()
