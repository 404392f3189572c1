"""The README's "Your own photos" path, command for command, on a handful of demo photos: no API key, no
server, no popularity table, ratings from a CSV."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from image_fixtures import DEMO_DIR

README = Path(__file__).resolve().parents[1] / "README.md"
PHOTOS = ["lomiri_bridge_sky", "mate_red_marigold", "plasma_blue_lake", "tuxpaint_rocks", "lxqt_green_hills",
          "mate_orange_flower", "scratch_route66", "plasma_violet_dusk"]


def readme_blocks() -> list[list[str]]:
    """The command lines of each bash block of the README's "Your own photos" section."""
    section = README.read_text().split("## Your own photos", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [[line for line in block.replace("\\\n", " ").splitlines() if line.strip() and not line.startswith("#")]
            for block in blocks]


def run(command: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("FLICKR_API_KEY", None)
    env.pop("LABEL_STUDIO_API_KEY", None)
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow
def test_the_readme_path_for_ones_own_photos_runs_as_written(tmp_path):
    blocks = readme_blocks()
    assert len(blocks) == 2 and blocks[0][0].startswith("icaa-data scan my_photos")
    (tmp_path / "my_photos").mkdir()
    for name in PHOTOS:
        shutil.copy(DEMO_DIR / f"{name}.jpg", tmp_path / "my_photos" / f"{name}.jpg")
    outputs = [run(command, tmp_path) for command in blocks[0]]
    assert "harmony-score:\n  images_in: 8\n  scored: 8\n" in outputs[1]
    listing = outputs[2].splitlines()
    assert listing[0].split() == ["image", "class", "dominant", "auxiliary", "harmony", "colourfulness"]
    assert any(line.split()[:3] == ["plasma_blue_lake.jpg", "monochromatic/blue", "blue"] for line in listing)
    assert "harmony_only 8" in outputs[3]  # no popularity table: harmony alone, said so
    to_rate = pd.read_csv(tmp_path / "to_rate.csv")
    assert len(to_rate) == 8 and {"image", "class", "coarse"} <= set(to_rate.columns)

    # The user's ratings: two raters, every photo of to_rate.csv.
    pd.DataFrame([{"image_id": image, "rater": rater, "color": 3 + (i * 2 + r) % 7, "overall": 4 + (i + r) % 5,
                   "confidence": 0.8}
                  for r, rater in enumerate(("me", "friend")) for i, image in enumerate(to_rate["image"])]).to_csv(
        tmp_path / "my_ratings.csv", index=False)
    outputs = [run(command, tmp_path) for command in blocks[1]]
    assert len(pd.read_csv(tmp_path / "my_dataset" / "all.csv")) == 8
    assert "colour_mos" in outputs[2].splitlines()[0]
    assert re.search(r"warning: only \d images: validation SRCC", outputs[3])
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns) == ["image", "colour_score", "status", "detail"]  # the overall head was not trained
    assert len(scores) == 8 and (scores["status"] == "ok").all() and scores["colour_score"].between(0, 10).all()
