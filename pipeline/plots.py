"""Render ``dvc plots`` offline: Vega-Lite specs from ``dvc plots show --json`` to inline SVG.

``dvc plots show`` writes an HTML page that loads Vega from a CDN, so it shows nothing without
network. This renders the same specs (DVC fills in the data and templates, including the
project's ``.dvc/plots/histogram.json``) to SVG with ``vl-convert-python``, which bundles Vega, and
writes one self-contained ``index.html`` with the SVGs inline (no scripts).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_text

__all__ = ["dvc_plot_specs", "render_dvc_plots"]


def dvc_plot_specs(repo_dir: Path | str, dvc: str = "dvc") -> dict[str, list[dict]]:
    """Plot name -> Vega-Lite specs (data filled in) from ``dvc plots show --json`` run in ``repo_dir``."""
    executable = shutil.which(dvc)
    if executable is None:
        raise IcaaError(f"`{dvc}` is not on PATH; install the project (`pip install -e .`), which brings dvc")
    result = subprocess.run([executable, "plots", "show", "--json"], cwd=repo_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise IcaaError(f"`dvc plots show --json` failed in {repo_dir}: {result.stderr.strip()[-500:]}")
    try:
        data = json.loads(result.stdout)["data"]
    except (json.JSONDecodeError, KeyError) as error:
        raise IcaaError(f"`dvc plots show --json` gave no plot data in {repo_dir} ({error})") from None
    return {name: [item["content"] for item in items if item.get("type") == "vega"] for name, items in data.items()}


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "plot"


def render_dvc_plots(repo_dir: Path | str, out_dir: Path | str) -> dict[str, object]:
    """Write ``out_dir/<plot>.svg`` for every DVC plot with data and ``out_dir/index.html`` showing them.

    Returns a summary: ``plots`` (names rendered), ``empty`` (declared plots whose data files are
    absent, e.g. before ``dvc repro``), ``index`` (path of the HTML page).
    """
    try:
        import vl_convert
    except ImportError as error:
        raise IcaaError("offline plot rendering needs `pip install vl-convert-python` "
                        "(or `pip install -e \".[dev]\"`)") from error
    out_path = Path(out_dir)
    out_path.mkdir(parents=True, exist_ok=True)
    rendered, empty, sections = [], [], []
    for name, specs in dvc_plot_specs(repo_dir).items():
        specs = [spec for spec in specs if spec.get("data", {}).get("values")]
        if not specs:
            empty.append(name)
            continue
        for k, spec in enumerate(specs):
            svg = vl_convert.vegalite_to_svg(spec)
            stem = _file_stem(name) + (f"_{k}" if len(specs) > 1 else "")
            atomic_write_text(out_path / f"{stem}.svg", svg)
            sections.append(f"<section><h2>{html.escape(name)}</h2>\n{svg}\n</section>")
        rendered.append(name)
    page = ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>icaa dvc plots</title></head><body>\n"
            + "\n".join(sections)
            + (f"\n<p>No data yet for: {html.escape(', '.join(empty))} (run <code>dvc repro</code>).</p>" if empty else "")
            + "\n</body></html>\n")
    index = out_path / "index.html"
    atomic_write_text(index, page)
    return {"plots": rendered, "empty": empty, "index": str(index)}
