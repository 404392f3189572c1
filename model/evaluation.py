"""Scoring with trained DeT weights: the metrics of a labelled split (:func:`evaluate`), the scores of image
files and folders (:func:`predict`), and the metrics a DVC metrics file keeps of them and of training.

Scores are on the 0-10 scale of the labels (the model's sigmoid outputs times 10); colour metrics sit at the
top level and overall ones under ``overall``, which is dropped for weights whose overall head never trained.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_json, atomic_write_text
from icaa.model.data import ScoreDataset, find_split_file, image_root_of, read_labels
from icaa.model.metrics import score_metrics, small_sample_warning
from icaa.model.runtime import Processes, autocast, default_device, make_loader
from icaa.model.splits import drop_unusable_images
from icaa.model.transforms import EvalTransform, load_rgb
from icaa.model.weights import load_weights

__all__ = ["evaluate", "predict", "list_prediction_inputs", "PREDICT_EXTENSIONS", "predict_loader", "split_metrics",
           "headline_metrics", "json_safe"]

#: File endings ``predict`` picks up inside a folder (the scan stage's defaults).
PREDICT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")


def predict_loader(model, loader, device, amp: str = "none", progress: bool = False, desc: str = "eval"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs and targets (both ``(N, 2)``, on the 0-1 scale) over a loader, in loader order."""
    model.eval()
    outputs, targets = [], []
    with torch.no_grad():
        for images, target in tqdm(loader, desc=desc, disable=not progress, leave=False):
            with autocast(device, amp):
                out = model(images.to(device, non_blocking=True))
            outputs.append(out.float().cpu())
            targets.append(target)
    return torch.cat(outputs).numpy(), torch.cat(targets).numpy()


def split_metrics(outputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Colour metrics at top level (0-10 scale), overall ones under ``overall`` where labels exist."""
    metrics = score_metrics(outputs[:, 1] * 10.0, targets[:, 1] * 10.0)
    has_overall = ~np.isnan(targets[:, 0])
    if has_overall.sum() >= 2:
        metrics["overall"] = score_metrics(outputs[has_overall, 0] * 10.0, targets[has_overall, 0] * 10.0)
    return metrics


def headline_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """What a DVC metrics file keeps of fit's or evaluate's numbers: ``best_epoch``, SRCC and image
    count (of the validation split under ``val``, of each score's head), so that ``dvc metrics show`` over
    every stage fits a terminal; the rest is in the run's ``summary.json`` or the printed result."""
    def scores(values: Mapping[str, Any]) -> dict[str, Any]:
        kept = {key: values[key] for key in ("srcc", "n") if key in values}
        if "overall" in values:
            kept["overall"] = scores(values["overall"])
        return kept

    headline = {"best_epoch": metrics["best_epoch"]} if "best_epoch" in metrics else {}
    if "val" in metrics:
        headline["val"] = scores(metrics["val"])
    else:
        headline.update(scores(metrics))
    return headline


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float, at any depth, replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def evaluate(weights: str | Path, data_dir: str | Path, split: str = "test", *, layout: str | None = None,
             attribute: str = "Colorfulness", config: Any = "dat_base", batch_size: int = 32, workers: int = 2,
             skip_missing: bool = False, device: str | None = None, reference_mode: str = "per_image",
             predictions_path: str | Path | None = None, metrics_path: str | Path | None = None,
             progress: bool = True, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Metrics of ``weights`` on one split of ``data_dir`` (colour on top, ``overall`` where labelled)."""
    started = time.monotonic()
    label_file = find_split_file(data_dir, split, layout)
    if label_file is None:
        raise IcaaError(f"{data_dir}: no labels for split {split!r} (looked for {split}.csv and the release names)")
    rows = read_labels(label_file, layout, attribute)
    if rows.empty:
        raise IcaaError(f"{label_file}: the {split} split has no rows to evaluate")
    root = image_root_of(data_dir)
    kept, problems = drop_unusable_images({split: rows}, root, skip_missing, echo)
    rows = kept[split]
    model, size = load_weights(weights, config, reference_mode=reference_mode)
    dev = default_device(device)
    model.to(dev)
    dataset = ScoreDataset(rows, root, EvalTransform(size))
    loader = make_loader(dataset, batch_size, False, workers, 0, 0, Processes(), dev)
    outputs, targets = predict_loader(model, loader, dev, progress=progress, desc=f"evaluate {split}")
    metrics = {"skipped_images": problems, **split_metrics(outputs, targets)}  # the DVC metric: numbers only
    with_overall = getattr(model, "trained_targets", "both") == "both"
    if not with_overall:  # the overall head never learned: its numbers would mean nothing
        metrics.pop("overall", None)
    if predictions_path:
        table = pd.DataFrame({"image_id": rows["image_id"], "colour_score": rows["colour_score"],
                              "predicted_colour_score": outputs[:, 1] * 10.0})
        if with_overall:
            table["overall_score"] = rows["overall_score"]
            table["predicted_overall_score"] = outputs[:, 0] * 10.0
        atomic_write_text(Path(predictions_path), table.to_csv(index=False))
    if metrics_path:
        atomic_write_json(Path(metrics_path), json_safe(headline_metrics(metrics)))
    warning = small_sample_warning(len(rows), f"the {split} metrics")
    metrics = {"split": split, "labels": str(label_file), "weights": str(weights), **metrics,
               **({"warning": warning} if warning else {}), "seconds": round(time.monotonic() - started, 1)}
    return json_safe(metrics)


def list_prediction_inputs(images: Sequence[str | Path]) -> list[tuple[Path, str | None]]:
    """Files to score: each file given, and every image file under each folder given (sorted, hidden ones
    skipped), with ``None`` or the reason a path cannot be scored (``missing``)."""
    listed: list[tuple[Path, str | None]] = []
    for item in map(Path, images):
        if item.is_dir():
            listed.extend((path, None) for path in sorted(item.rglob("*"))
                          if path.is_file() and path.suffix.lower() in PREDICT_EXTENSIONS
                          and not any(part.startswith(".") for part in path.relative_to(item).parts))
        else:
            listed.append((item, None if item.is_file() else "missing"))
    return listed


def predict(images: Sequence[str | Path], weights: str | Path, *, config: Any = "dat_base", batch_size: int = 16,
            device: str | None = None, explain: bool = False) -> pd.DataFrame:
    """Scores of image files and of the images in folders, 0-10, per-image reference mode so a score never
    depends on the other images.

    Columns: ``image``, ``colour_score``, ``overall_score`` only when the weights trained the overall head
    (``--targets both``, or an official DeT checkpoint), ``status`` (``ok``, ``missing`` or ``unreadable``)
    and ``detail``; a file that cannot be read is listed with its reason and the others are scored. With
    ``explain``, the pipeline's colour description too.
    """
    listed = list_prediction_inputs(images)
    if not listed:
        raise IcaaError(f"no image files to score in {', '.join(map(str, images))} (looked for "
                        f"{' '.join(PREDICT_EXTENSIONS)})")
    explainer = _explainer() if explain else None
    model, size = load_weights(weights, config, reference_mode="per_image")
    with_overall = getattr(model, "trained_targets", "both") == "both"
    dev = default_device(device)
    model.to(dev)
    transform = EvalTransform(size)
    rows: list[dict[str, Any]] = []
    readable: list[tuple[int, Any]] = []
    for path, reason in listed:
        row: dict[str, Any] = {"image": str(path), "colour_score": math.nan}
        if with_overall:
            row["overall_score"] = math.nan
        row.update(status=reason or "ok", detail="no such file" if reason else None)
        if reason is None:
            try:
                readable.append((len(rows), transform(load_rgb(path))))
                if explainer is not None:
                    row.update(explainer(path))
            except Exception as error:  # any decoder failure: this file is skipped, the others are scored
                row.update(status="unreadable", detail=f"{type(error).__name__}: {error}")
                if readable and readable[-1][0] == len(rows):
                    readable.pop()
        rows.append(row)
    for start in range(0, len(readable), batch_size):
        chunk = readable[start:start + batch_size]
        with torch.no_grad():
            out = model(torch.stack([tensor for _, tensor in chunk]).to(dev)).float().cpu().numpy()
        for (index, _), (overall, colour) in zip(chunk, out):
            rows[index]["colour_score"] = float(colour) * 10.0
            if with_overall:
                rows[index]["overall_score"] = float(overall) * 10.0
    return pd.DataFrame(rows)


def _explainer() -> Callable[[Path], dict]:
    """The pipeline's colour description (:func:`icaa.pipeline.colour.analyse_colours`, harmony-score's
    defaults): ICAA17K class, dominant and auxiliary colours with their shares, colourfulness."""
    try:
        from icaa.pipeline.colour import analyse_colours
        from icaa.pipeline.decode import decode_for_colour
    except ImportError:
        raise IcaaError("--explain needs the pipeline's colour module (icaa.pipeline.colour: dominant/auxiliary "
                        "colours and class), which is not in this installation") from None

    def explain(path: Path) -> dict:
        analysis = analyse_colours(decode_for_colour(path))
        return {"category": analysis.category, "category_confidence": float(analysis.category_confidence),
                "dominant": analysis.dominant, "auxiliary": analysis.auxiliary,
                "dominant_share": float(analysis.dominant_share), "auxiliary_share": float(analysis.auxiliary_share),
                "colourfulness": float(analysis.harmony["colourfulness_m3"])}

    return explain
