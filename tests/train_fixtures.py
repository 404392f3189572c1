"""Generated colour datasets and a micro DeT config for the icaa-train tests.

The colour score of an image is ``1 + 8 * warm_share``: ``warm_share`` is the share of its 8 x 8 cells
painted a warm hue (red-yellow) rather than a cool one (cyan-blue), so a model that sees colour can learn it.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

MICRO_CONFIG_64PX = {
    "dim_stem": 16, "dims": [16, 32, 64, 128], "depths": [2, 2, 2, 2],
    "stage_spec": [["L", "S"], ["L", "S"], ["L", "D"], ["L", "D"]], "heads": [1, 2, 4, 8],
    "groups": [-1, -1, 2, 4], "window_sizes": [4, 4, 4, 2], "drop_path_rate": 0.0,
}
"""The fixture architecture (dims 16-128) with windows that tile a 64 px input (feature maps 16, 8, 4, 2)."""


def warm_share_image(warm_share: float, rng: np.random.Generator, size: int = 64, cells: int = 8) -> np.ndarray:
    """An ``(size, size, 3)`` uint8 image whose cells are warm with probability-free exact share."""
    n_warm = int(round(warm_share * cells * cells))
    warm = np.zeros(cells * cells, bool)
    warm[rng.permutation(cells * cells)[:n_warm]] = True
    cell_px = size // cells
    image = np.zeros((size, size, 3), np.uint8)
    for index, is_warm in enumerate(warm):
        hue = rng.uniform(0.0, 0.14) if is_warm else rng.uniform(0.5, 0.7)
        rgb = colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))
        r, c = divmod(index, cells)
        image[r * cell_px:(r + 1) * cell_px, c * cell_px:(c + 1) * cell_px] = np.asarray(rgb) * 255
    return image


def make_colour_dataset(folder: Path, counts: dict[str, int], seed: int = 0, size: int = 64,
                        subdir: str = "warm", layout: str = "icaa17k") -> dict[str, pd.DataFrame]:
    """Write ``images/<subdir>/<split>_<i>.png`` and one label CSV per split (``counts``: split -> n)."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    (folder / "images" / subdir).mkdir(parents=True, exist_ok=True)
    tables = {}
    for split, n in counts.items():
        rows = []
        for i in range(n):
            share = rng.uniform(0.0, 1.0)
            image = warm_share_image(share, rng, size)
            image_id = f"{subdir}/{split}_{i:04d}.png"
            Image.fromarray(image).save(folder / "images" / image_id)
            exact = round(share * 64) / 64
            colour = 1.0 + 8.0 * exact
            overall = 1.0 + 8.0 * (1.0 - exact)
            rows.append((image_id, colour, overall, 0.8))
        if layout == "icaa17k":
            table = pd.DataFrame(rows, columns=["ID", "color", "MOS", "probability"])
            table.to_csv(folder / f"{split}.csv", index=False)
        else:
            table = pd.DataFrame({"image_id": [r[0] for r in rows], "MOS": [r[2] for r in rows],
                                  "Colorfulness": [r[1] for r in rows]})
            name = {"train": "spaqTrain.csv", "test": "spaqTest.csv"}.get(split, f"{split}.csv")
            table.to_csv(folder / name, index=False)
        tables[split] = table
    return tables
