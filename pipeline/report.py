"""The dataset report: one self-contained HTML file (plots and thumbnails embedded as base64 PNG/JPEG).

Plots (matplotlib, Agg): photos per class, coarse-score histogram per class before and after balancing,
final colour-score distribution against ICAA17K's (``data/icaa17k_color_hist.json``, computed once from
the release's ``1all.csv``), harmony vs popularity, and per class the palette and thumbnails of the
lowest- and highest-scored photos. Every input but the coarse table is optional; a missing one leaves
its section with a note.
"""

from __future__ import annotations

import base64
import html
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icaa.pipeline.contracts import check_table
from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_text
from icaa.pipeline.io import read_table
from icaa.pipeline.outputs import refuse_overwriting_inputs
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = ["reference_colour_hist", "palette_rgb", "render_report", "run_report"]


def reference_colour_hist() -> dict[str, Any]:
    """ICAA17K's colour-score histogram (distinct photos), shipped with the package."""
    return json.loads(resources.files("icaa.pipeline").joinpath("data/icaa17k_color_hist.json").read_text())


def palette_rgb(path: str | Path, n_colours: int = 5) -> list[tuple[int, int, int]]:
    """The ``n_colours`` most frequent colours of a median-cut quantisation of a 64-pixel thumbnail."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB")
        small.thumbnail((64, 64))
    quantised = small.quantize(colors=n_colours, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette()[: 3 * n_colours]
    counts = sorted(quantised.getcolors(), reverse=True)
    return [tuple(palette[3 * index: 3 * index + 3]) for _, index in counts]


def _figure_png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _thumbnail(path: str) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            small = image.convert("RGB")
            small.thumbnail((160, 160))
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    except OSError:
        return None


def _short(category: str) -> str:
    return str(category).split("/")[-1]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def _photos_per_class(coarse: pd.DataFrame, selection: pd.DataFrame | None, manifest: pd.DataFrame | None) -> str:
    """Photos per class (pool, selection, dataset)."""
    plt = _pyplot()
    counts = pd.DataFrame({"pool": coarse.groupby("category").size()})
    if selection is not None:
        counts["selected"] = selection.groupby("category").size()
    if manifest is not None:
        counts["dataset"] = manifest.groupby("category").size()
    counts = counts.fillna(0).sort_index()
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / counts.shape[1]
    for k, column in enumerate(counts.columns):
        ax.bar(np.arange(len(counts)) + k * width, counts[column], width, label=column)
    ax.set_xticks(np.arange(len(counts)) + 0.4 - width / 2, [_short(c) for c in counts.index], rotation=60, ha="right")
    ax.set_ylabel("photos")
    ax.legend()
    ax.set_title("Photos per class")
    return "<h2>Photos per class</h2>" + _img(_figure_png(fig), "photos per class")


def _coarse_histograms(coarse: pd.DataFrame, selection: pd.DataFrame | None, edges: np.ndarray) -> str:
    """Coarse-score histograms per class before and after balancing."""
    plt = _pyplot()
    classes = sorted(coarse["category"].dropna().unique())
    n_cols = 6
    n_rows = max(1, int(np.ceil(len(classes) / n_cols)))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(15, 2.2 * n_rows), squeeze=False, sharex=True)
    for ax, category in zip(axes.ravel(), classes):
        ax.hist(coarse.loc[coarse["category"] == category, "coarse_score"].dropna(), bins=edges, color="#bbbbbb",
                label="pool")
        if selection is not None:
            ax.hist(selection.loc[selection["category"] == category, "coarse_score"].dropna(), bins=edges,
                    color="#1f77b4", alpha=0.8, label="selected")
        ax.set_title(_short(category), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(classes):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    return ("<h2>Coarse score per class, before (grey) and after (blue) balancing</h2>"
            + _img(_figure_png(fig), "coarse score histograms"))


def _score_distribution(manifest: pd.DataFrame | None) -> str:
    """The final colour-score distribution against ICAA17K's."""
    plt = _pyplot()
    reference = reference_colour_hist()
    if manifest is not None and "color" in manifest.columns:
        ref_edges = np.asarray(reference["bin_edges"])
        ref_counts = np.asarray(reference["counts"], dtype=float)
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.stairs(ref_counts / ref_counts.sum(), ref_edges, label=f"ICAA17K ({reference['photos']} photos)",
                  fill=True, alpha=0.4)
        photos = manifest.drop_duplicates("photo_group") if "photo_group" in manifest.columns else manifest
        ours, _ = np.histogram(photos["color"], ref_edges)
        ax.stairs(ours / max(ours.sum(), 1), ref_edges, label=f"this dataset ({len(photos)} photos)", linewidth=2)
        ax.axvline(5, color="k", linestyle=":", linewidth=1)
        ax.set_xlabel("colour score (color)")
        ax.set_ylabel("share of photos")
        ax.legend()
        share = float((photos["color"] > 5).mean())
        return (f"<h2>Final colour-score distribution</h2><p>Share above 5: this dataset {share:.3f}, "
                f"ICAA17K {reference['share_above_5']:.3f}.</p>" + _img(_figure_png(fig), "score distribution"))
    return "<h2>Final colour-score distribution</h2><p>No dataset manifest given.</p>"


def _harmony_vs_popularity(coarse: pd.DataFrame) -> str:
    """Scatter of harmony against popularity, coloured by coarse score."""
    plt = _pyplot()
    if {"f_obj", "f_subj"} <= set(coarse.columns) and coarse["f_subj"].notna().any():
        fig, ax = plt.subplots(figsize=(6, 4.5))
        points = ax.scatter(coarse["f_obj"], coarse["f_subj"], c=coarse["coarse_score"], s=12, cmap="viridis")
        fig.colorbar(points, label="coarse score")
        ax.set_xlabel("harmony (f_obj)")
        ax.set_ylabel("popularity faves/sqrt(views) (f_subj)")
        return "<h2>Harmony vs popularity</h2>" + _img(_figure_png(fig), "harmony vs popularity")
    return "<h2>Harmony vs popularity</h2><p>The coarse table has no f_obj/f_subj values.</p>"


def _extremes_per_class(coarse: pd.DataFrame, selection: pd.DataFrame | None, manifest: pd.DataFrame | None,
                        images: pd.DataFrame | None, extremes: int) -> str | None:
    """Palettes and thumbnails of the lowest- and highest-scored photos per class (None without image paths)."""
    table = manifest if manifest is not None and "path" in manifest.columns else None
    score_column = "color"
    if table is None and images is not None:
        table = (selection if selection is not None else coarse).merge(images[["image_id", "path"]], on="image_id")
        score_column = "coarse_score"
    if table is not None and len(table):
        rows = []
        for category, group in table.groupby("category", sort=True):
            ordered = group.sort_values(score_column)
            picks = pd.concat([ordered.head(extremes), ordered.tail(extremes)]).drop_duplicates("image_id")
            cells = []
            for _, row in picks.iterrows():
                src = _thumbnail(row["path"])
                if src is None:
                    continue
                try:
                    swatch = "".join(f'<span class="sw" style="background:rgb{c}"></span>' for c in palette_rgb(row["path"]))
                except OSError:
                    swatch = ""
                cells.append(f'<figure>{_img(src, row["image_id"])}<figcaption>{score_column} '
                             f'{row[score_column]:.2f}<br>{swatch}</figcaption></figure>')
            rows.append(f"<h3>{html.escape(str(category))}</h3><div class=row>{''.join(cells)}</div>")
        return f"<h2>Lowest and highest {score_column} per class, with palettes</h2>" + "".join(rows)
    return None


def render_report(coarse: pd.DataFrame, *, selection: pd.DataFrame | None = None, manifest: pd.DataFrame | None = None,
                  popularity: pd.DataFrame | None = None, images: pd.DataFrame | None = None, bins: int = 10,
                  extremes: int = 2) -> str:
    """The report's HTML text."""
    edges = np.linspace(1, 10, bins + 1)
    sections = [_photos_per_class(coarse, selection, manifest), _coarse_histograms(coarse, selection, edges),
                _score_distribution(manifest), _harmony_vs_popularity(coarse)]
    extremes_section = _extremes_per_class(coarse, selection, manifest, images, extremes)
    if extremes_section is not None:
        sections.append(extremes_section)
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}img{max-width:100%}"
             ".row{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;font-size:12px;text-align:center}"
             "figure img{height:120px;width:auto;image-rendering:auto}"
             ".sw{display:inline-block;width:18px;height:12px;margin:1px;border:1px solid #999}")
    summary = (f"<p>{len(coarse)} pool rows, {0 if selection is None else len(selection)} selected, "
               f"{0 if manifest is None else len(manifest)} dataset rows.</p>")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>icaa dataset report</title>"
            f"<style>{style}</style></head><body><h1>icaa dataset report</h1>{summary}{''.join(sections)}"
            "</body></html>\n")


def run_report(coarse: Path | str, output: Path | str, *, selection: Path | str | None = None,
               dataset: Path | str | None = None, images: Path | str | None = None, bins: int = 10,
               extremes: int = 2) -> StageSummary:
    """Write the HTML report of the coarse table and, when given, the selection, the dataset folder's
    ``manifest.parquet`` and scan's images table.

    Example
    -------
    >>> run_report("work/fuse/coarse.parquet", "reports/report.html", dataset="dataset")  # doctest: +SKIP
    """
    clock = Stopwatch()
    manifest_path = Path(dataset) / "manifest.parquet" if dataset else None
    refuse_overwriting_inputs({"-o": output}, {"COARSE": coarse, "--selection": selection, "--images": images,
                                               "--dataset manifest": manifest_path})
    if manifest_path is not None and not manifest_path.is_file():
        raise IcaaError(f"--dataset {dataset} holds no manifest.parquet; give the folder that build wrote")
    tables = {}
    for kind, path in (("coarse", coarse), ("selection", selection), ("images", images),
                       ("manifest", manifest_path)):
        if path is not None:
            tables[kind] = read_table(path)
            check_table(tables[kind], kind, path)
    text = render_report(tables["coarse"], selection=tables.get("selection"), manifest=tables.get("manifest"),
                         images=tables.get("images"), bins=bins, extremes=extremes)
    atomic_write_text(output, text)
    return StageSummary("report", outputs={"output": str(output)}, figures={"bytes": len(text.encode())},
                        seconds=clock.seconds())
