"""Training, evaluation and prediction of DeT colour-aesthetics models (the plain functions of ``icaa-train``).

Unlike the published script, model selection uses a validation split (``val.csv``, or one carved from the
training rows grouped by photo file name), never the test split; a run checkpoints every epoch with model,
optimizer, scheduler, grad-scaler and RNG state, written atomically, and ``resume=True`` continues the same
curve: every epoch reseeds the shuffling, the augmentations and dropout from ``(seed, epoch)``, so a run
killed after epoch ``k`` and resumed gives the numbers of the uninterrupted run. Under ``torchrun``
(``WORLD_SIZE`` set) it trains with DistributedDataParallel and a DistributedSampler; only rank 0 evaluates
and writes.

Files of a run folder: ``checkpoint.pt`` (resume state), ``best.pt`` (weights of the best validation epoch,
loadable by :func:`load_weights`), ``last.pt``, ``metrics.json``, ``plots/train.csv`` (one row per epoch).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from icaa.model.data import (ScoreDataset, carve_validation, check_images, find_split_file, image_root_of,
                             read_labels)
from icaa.model.metrics import score_metrics, small_sample_warning
from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "TrainSettings",
    "TARGETS",
    "LOSSES",
    "AMP_MODES",
    "RUN_FILES",
    "headline_metrics",
    "check_image_size",
    "build_model",
    "load_split_tables",
    "fit",
    "evaluate",
    "predict",
    "load_weights",
    "save_weights",
    "warmup_cosine",
]

TARGETS = ("colour", "both")
LOSSES = ("mse", "smooth_l1")
AMP_MODES = ("none", "bf16", "fp16")
#: Files that mark a folder as holding a run: fit refuses to start over them without ``resume``.
RUN_FILES = ("checkpoint.pt", "best.pt", "last.pt", "metrics.json", "summary.json")
PLOT_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_srcc", "val_plcc", "val_accuracy", "val_mse")


@dataclass
class TrainSettings:
    """Everything that shapes a training curve (stored in the checkpoint; a resume must match it)."""

    config: Any = "dat_tiny"
    image_size: int = 224
    epochs: int = 25
    batch_size: int = 16
    lr: float = 1e-4
    head_lr_scale: float = 10.0
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    clip_grad_norm: float = 5.0
    amp: str = "none"
    targets: str = "colour"
    loss: str = "mse"
    seed: int = 0
    val_fraction: float = 0.1
    reference_mode: str = "per_image"
    layout: str | None = None
    attribute: str = "Colorfulness"
    init: str | None = None
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        if self.targets not in TARGETS:
            raise IcaaError(f"targets must be one of {TARGETS}, got {self.targets!r}")
        if self.loss not in LOSSES:
            raise IcaaError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.amp not in AMP_MODES:
            raise IcaaError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise IcaaError(f"epochs and batch size must be at least 1, got {self.epochs} and {self.batch_size}")
        if self.lr <= 0 or self.head_lr_scale <= 0:
            raise IcaaError(f"learning rate and head scale must be positive, got {self.lr}, {self.head_lr_scale}")


# ---------------------------------------------------------------------------------------------- model


def _resolve_config(config: Any) -> Any:
    """A config name, a dict, or a path to a JSON file with the published config keys."""
    if isinstance(config, (str, Path)) and str(config).endswith(".json"):
        path = Path(config)
        if not path.is_file():
            raise IcaaError(f"config file {path} does not exist")
        return json.loads(path.read_text())
    return config


def check_image_size(config: Any, image_size: int) -> None:
    """IcaaError naming the sizes that fit when ``image_size`` does not fit the config's windows (checked before
    anything is built or read, so a wrong size costs one sentence, not a shape error deep in the model)."""
    from icaa.model.config import image_size_fits, resolve_config, valid_image_sizes

    try:
        cfg = resolve_config(_resolve_config(config))
    except (ValueError, TypeError) as error:
        raise IcaaError(f"cannot read DeT config {config!r}: {error}") from None
    if not image_size_fits(cfg, int(image_size)):
        sizes = valid_image_sizes(cfg)
        name = config if isinstance(config, str) else "this config"
        raise IcaaError(f"--image-size {image_size} does not fit {name}: its windows "
                        f"({', '.join(map(str, cfg.window_sizes))} tokens at 1/4 to 1/32 scale) need one of "
                        f"{', '.join(map(str, sizes)) or 'no size up to 1024'} pixels")


def build_model(config: Any = "dat_tiny", image_size: int = 224, reference_mode: str = "per_image"):
    """A DeT from a config name (``dat_tiny``...), a dict or a JSON path, for ``image_size`` pixel inputs."""
    from icaa.model import DeT

    check_image_size(config, image_size)
    config = _resolve_config(config)
    try:
        return DeT.from_config(config, reference_mode=reference_mode, img_size=int(image_size))
    except (ValueError, TypeError) as error:
        raise IcaaError(f"cannot build DeT from config {config!r} at {image_size} px: {error}") from None


def _config_dict(model) -> dict:
    import dataclasses

    cfg = dataclasses.asdict(model.cfg) if hasattr(model, "cfg") else {}
    cfg.pop("extra", None)
    return json.loads(json.dumps(cfg))


def save_weights(model, path: str | Path, image_size: int, extra: Mapping[str, Any] | None = None) -> None:
    """Write ``{"format": "icaa-det-weights", "config", "image_size", "state_dict", ...}`` atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save({"format": "icaa-det-weights", "config": _config_dict(model), "image_size": int(image_size),
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                **dict(extra or {})}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_weights(path: str | Path, config: Any = "dat_base", image_size: int | None = None,
                 reference_mode: str = "per_image"):
    """``(model, image_size)`` from an ``icaa-train`` weights file, or from an official DeT state dict
    (which needs ``config``, the published one being ``dat_base``). The model is in eval mode on CPU."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise IcaaError(f"weights file {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise IcaaError(f"{path}: not a torch checkpoint ({type(error).__name__}: {error})") from None
    if isinstance(checkpoint, Mapping) and checkpoint.get("format") in ("icaa-det-weights", "icaa-train-checkpoint"):
        size = int(image_size or checkpoint["image_size"])
        model = build_model(checkpoint["config"], size, reference_mode)
        try:
            model.load_state_dict(checkpoint["state_dict"] if "state_dict" in checkpoint else checkpoint["model"],
                                  strict=True)
        except RuntimeError as error:
            raise IcaaError(f"{path}: the weights do not fit their own config ({error})") from None
        # The colour head always trains; the overall head only with targets "both".
        model.trained_targets = checkpoint.get("targets") or checkpoint.get("settings", {}).get("targets", "colour")
    else:
        from icaa.model import load_official_checkpoint

        size = int(image_size or 224)
        model = build_model(config, size, reference_mode)
        try:
            load_official_checkpoint(model, checkpoint, strict=True)
        except Exception as error:
            raise IcaaError(f"{path}: not an icaa-train weights file nor an official DeT state dict for config "
                            f"{config!r} ({error})") from None
        model.trained_targets = "both"  # the published DeT learned both scores
    model.eval()
    return model, size


# ---------------------------------------------------------------------------------------------- data


def load_split_tables(data_dir: str | Path, layout: str | None = None, attribute: str = "Colorfulness",
                      val_fraction: float = 0.1, seed: int = 0) -> dict[str, Any]:
    """``{"train", "val", "test"}`` label tables (test may be ``None``), the layout and where val came from.

    Validation is ``val.csv`` when present, else carved from train grouped by photo file name.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise IcaaError(f"data folder {data_dir} does not exist")
    train_file = find_split_file(data_dir, "train", layout)
    if train_file is None:
        raise IcaaError(f"{data_dir}: no training labels (looked for train.csv, 1train.csv, spaqTrain.csv)")
    train = read_labels(train_file, layout, attribute)
    detected = layout or _layout_of(train_file)
    val_file = find_split_file(data_dir, "val", detected)
    val = read_labels(val_file, detected, attribute) if val_file is not None else None
    if val is not None and len(val):
        val_source = str(val_file.name)
    else:
        train, val = carve_validation(train, val_fraction, seed)
        val_source = f"carved from {train_file.name} ({val_fraction:.0%} of photos, seed {seed})"
    test_file = find_split_file(data_dir, "test", detected)
    test = read_labels(test_file, detected, attribute) if test_file is not None else None
    return {"train": train, "val": val, "test": test, "layout": detected, "val_source": val_source,
            "root": image_root_of(data_dir)}


def _layout_of(path: Path) -> str:
    from icaa.model.data import detect_layout

    return detect_layout(pd.read_csv(path, nrows=0).columns, str(path))


def _report_problems(tables: Mapping[str, pd.DataFrame | None], root: Path, skip_missing: bool,
                     echo: Callable[[str], None]) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Check every image of every split before training; refuse or drop the bad ones."""
    ids = [i for t in tables.values() if t is not None for i in t["image_id"]]
    problems = check_images(root, ids)
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.reason] = counts.get(p.reason, 0) + 1
    if problems:
        listing = "\n".join(f"  {p.reason}: {p.image_id} {p.detail}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        summary = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
        if not skip_missing:
            raise IcaaError(f"{len(problems)} images cannot be used under {root} ({summary}):\n{listing}{more}\n"
                            "fix the image root or pass --skip-missing to train without them")
        echo(f"skipping {len(problems)} images ({summary}):\n{listing}{more}")
    bad = {p.image_id for p in problems}
    kept = {name: (t[~t["image_id"].isin(bad)].reset_index(drop=True) if t is not None else None)
            for name, t in tables.items()}
    for name, table in kept.items():
        if table is not None and name in ("train", "val") and table.empty:
            raise IcaaError(f"the {name} split has no usable images under {root}")
    return kept, counts


# ---------------------------------------------------------------------------------------------- schedule


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """LR multiplier: linear warm-up from ``1/warmup_steps`` to 1, then cosine down to ``min_lr_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


HEAD_PREFIXES = ("class_head",)
"""Parameters trained at ``lr * head_lr_scale``: DeT's two output layers. Their published initialisation
(std 0.02 over a sparse 216-bin histogram) leaves the predicted scores in a band about 0.02 wide, which a
from-scratch run at a backbone learning rate widens only slowly."""


def _param_groups(model, weight_decay: float, lr: float, head_lr_scale: float) -> list[dict]:
    skip = model.no_weight_decay_keywords() if hasattr(model, "no_weight_decay_keywords") else set()
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decays = not (param.ndim <= 1 or any(k in name for k in skip))
        is_head = name.startswith(HEAD_PREFIXES)
        groups.setdefault((decays, is_head), []).append(param)
    return [{"params": params, "weight_decay": weight_decay if decays else 0.0,
             "lr": lr * (head_lr_scale if is_head else 1.0)}
            for (decays, is_head), params in sorted(groups.items())]


# ---------------------------------------------------------------------------------------------- distributed


@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed() -> _Dist:
    import torch
    import torch.distributed as dist

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Dist()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return _Dist(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank)


def _device(dist_info: _Dist, device: str | None):
    import torch

    if device:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", dist_info.local_rank)
    return torch.device("cpu")


# ---------------------------------------------------------------------------------------------- loops


def _seed_epoch(seed: int, epoch: int) -> None:
    import torch

    value = seed * 100_003 + epoch
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    random.seed(value)


def _rng_state() -> dict:
    import torch

    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _loss_fn(settings: TrainSettings):
    import torch

    elementwise = torch.nn.MSELoss(reduction="none") if settings.loss == "mse" else \
        torch.nn.SmoothL1Loss(reduction="none", beta=0.1)

    def loss(outputs, targets):
        colour = elementwise(outputs[:, 1].float(), targets[:, 1])
        if settings.targets == "colour":
            return colour.mean()
        valid = ~torch.isnan(targets[:, 0])
        overall = elementwise(outputs[:, 0].float(), torch.nan_to_num(targets[:, 0])) * valid
        return colour.mean() + overall.sum() / valid.sum().clamp(min=1)

    return loss


def _autocast(device, amp: str):
    import contextlib

    import torch

    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _predict_loader(model, loader, device, amp: str = "none", progress: bool = False, desc: str = "eval"
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs and targets (both ``(N, 2)``, on the 0-1 scale) over a loader, in loader order."""
    import torch
    from tqdm import tqdm

    model.eval()
    outputs, targets = [], []
    with torch.no_grad():
        for images, target in tqdm(loader, desc=desc, disable=not progress, leave=False):
            with _autocast(device, amp):
                out = model(images.to(device, non_blocking=True))
            outputs.append(out.float().cpu())
            targets.append(target)
    return torch.cat(outputs).numpy(), torch.cat(targets).numpy()


def _split_metrics(outputs: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Colour metrics at top level (0-10 scale), overall ones under ``overall`` where labels exist."""
    metrics = score_metrics(outputs[:, 1] * 10.0, targets[:, 1] * 10.0)
    has_overall = ~np.isnan(targets[:, 0])
    if has_overall.sum() >= 2:
        metrics["overall"] = score_metrics(outputs[has_overall, 0] * 10.0, targets[has_overall, 0] * 10.0)
    return metrics


def _loader(dataset, batch_size: int, shuffle: bool, workers: int, seed: int, epoch: int, dist_info: _Dist,
            device, drop_last: bool = False):
    import torch
    from torch.utils.data import DataLoader, DistributedSampler

    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    sampler = None
    if shuffle and dist_info.world_size > 1:
        sampler = DistributedSampler(dataset, num_replicas=dist_info.world_size, rank=dist_info.rank,
                                     shuffle=True, seed=seed, drop_last=drop_last)
        sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=workers, generator=generator, drop_last=drop_last,
                      pin_memory=device.type == "cuda", persistent_workers=False)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _write_plots(history: Sequence[Mapping[str, Any]], path: Path) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=PLOT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in PLOT_COLUMNS})
    atomic_write_text(path, out.getvalue())


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


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def fit(data_dir: str | Path, run_dir: str | Path, settings: TrainSettings | None = None, *, workers: int = 2,
        resume: bool = False, skip_missing: bool = False, progress: bool = True, device: str | None = None,
        metrics_path: str | Path | None = None, plots_path: str | Path | None = None,
        model_factory: Callable[[TrainSettings], Any] | None = None, transforms: tuple | None = None,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train on ``data_dir``'s train split, select the epoch with the best validation SRCC, write ``run_dir``.

    ``model_factory(settings)`` replaces :func:`build_model` (any module mapping ``(B, 3, H, W)`` to ``(B, 2)``
    sigmoid scores); ``transforms=(train, eval)`` replaces DeT's transforms. Returns a summary with the
    image counts, the best epoch, its validation metrics, the time taken and the files written.
    """
    import torch
    from tqdm import tqdm

    started = time.monotonic()
    settings = settings or TrainSettings()
    settings.check()
    if model_factory is None:
        check_image_size(settings.config, settings.image_size)
    run_dir = Path(run_dir)
    if not resume:
        earlier = [name for name in RUN_FILES if (run_dir / name).exists()]
        if earlier:
            raise IcaaError(f"{run_dir} already holds a training run ({', '.join(earlier)}); add --resume to "
                            "continue it, or choose a new --out folder (nothing was changed)")
    metrics_path = Path(metrics_path) if metrics_path else run_dir / "metrics.json"
    plots_path = Path(plots_path) if plots_path else run_dir / "plots" / "train.csv"
    checkpoint_path = run_dir / "checkpoint.pt"
    dist_info = _init_distributed()
    dev = _device(dist_info, device)
    say = echo if dist_info.main else (lambda _message: None)

    tables = load_split_tables(data_dir, settings.layout, settings.attribute, settings.val_fraction, settings.seed)
    root = tables["root"]
    split_tables, problem_counts = _report_problems({k: tables[k] for k in ("train", "val")}, root,
                                                    skip_missing, say)
    train_rows, val_rows = split_tables["train"], split_tables["val"]
    say(f"{tables['layout']} labels: {len(train_rows)} train, {len(val_rows)} val ({tables['val_source']}); "
        f"images under {root}")

    if transforms is None:
        from icaa.model.transforms import EvalTransform, TrainTransform

        resize = int(round(settings.image_size * 256 / 224))
        transforms = (TrainTransform(settings.image_size, resize), EvalTransform(settings.image_size))
    train_set = ScoreDataset(train_rows, root, transforms[0])
    val_set = ScoreDataset(val_rows, root, transforms[1])

    torch.manual_seed(settings.seed)
    model = (model_factory or (lambda s: build_model(s.config, s.image_size, s.reference_mode)))(settings)
    if settings.init and not resume:
        from icaa.model import load_official_checkpoint

        report = load_official_checkpoint(model, settings.init)
        say(f"initialised from {settings.init}: {report.summary()}")
    model.to(dev)
    optimizer = torch.optim.AdamW(_param_groups(model, settings.weight_decay, settings.lr, settings.head_lr_scale),
                                  lr=settings.lr)
    steps_per_epoch = math.ceil(len(train_set) / (settings.batch_size * dist_info.world_size))
    total_steps = steps_per_epoch * settings.epochs
    warmup_steps = int(round(settings.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, warmup_steps, settings.min_lr_ratio))
    scaler = torch.amp.GradScaler(dev.type, enabled=settings.amp == "fp16" and dev.type == "cuda")
    loss_fn = _loss_fn(settings)

    start_epoch, history, best = 0, [], {"epoch": -1, "srcc": -math.inf}
    if resume:
        if not checkpoint_path.is_file():
            raise IcaaError(f"--resume: no checkpoint at {checkpoint_path}; start without --resume")
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        stored = state["settings"]
        changed = sorted(k for k, v in asdict(settings).items() if k != "init" and json.dumps(stored.get(k), default=str)
                         != json.dumps(v, default=str))
        if changed:
            raise IcaaError(f"--resume: settings differ from the checkpoint's in {changed}; resume with the same "
                            "options or start a new run folder")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        start_epoch, history, best = state["epoch"] + 1, state["history"], state["best"]
        say(f"resuming after epoch {start_epoch} of {settings.epochs} from {checkpoint_path}")

    train_model = model
    if dist_info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None,
            find_unused_parameters=settings.targets == "colour")

    if dist_info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(start_epoch, settings.epochs):
        _seed_epoch(settings.seed, epoch)
        train_model.train()
        loader = _loader(train_set, settings.batch_size, True, workers, settings.seed, epoch, dist_info, dev)
        running, seen = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{settings.epochs}", disable=not (progress and dist_info.main),
                   leave=False)
        for images, targets in bar:
            images, targets = images.to(dev, non_blocking=True), targets.to(dev, non_blocking=True)
            with _autocast(dev, settings.amp):
                outputs = train_model(images)
            loss = loss_fn(outputs.float(), targets)
            if not torch.isfinite(loss):
                raise IcaaError(f"epoch {epoch + 1}: the loss became {loss.item()}; lower --lr or use --amp none")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if settings.clip_grad_norm > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            running += loss.item() * len(images)
            seen += len(images)
            bar.set_postfix(loss=f"{running / seen:.4f}")
        if dist_info.world_size > 1:
            import torch.distributed as dist

            totals = torch.tensor([running, seen], dtype=torch.float64, device=dev)
            dist.all_reduce(totals)
            running, seen = float(totals[0]), float(totals[1])
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": settings.lr * warmup_cosine(
            scheduler.last_epoch - 1, total_steps, warmup_steps, settings.min_lr_ratio),
                               "train_loss": running / max(seen, 1)}
        if dist_info.main:
            val_loader = _loader(val_set, settings.batch_size, False, workers, settings.seed, epoch, _Dist(), dev)
            outputs_np, targets_np = _predict_loader(model, val_loader, dev, settings.amp, progress, "validate")
            val_metrics = _split_metrics(outputs_np, targets_np)
            row["val_loss"] = float(loss_fn(torch.from_numpy(outputs_np), torch.from_numpy(targets_np)))
            row.update({f"val_{k}": val_metrics[k] for k in ("srcc", "plcc", "accuracy", "mse")})
            history.append(row)
            srcc_value = val_metrics["srcc"] if math.isfinite(val_metrics["srcc"]) else -1.0
            if srcc_value > best["srcc"]:
                best = {"epoch": epoch + 1, "srcc": srcc_value, "val": val_metrics}
                save_weights(model, run_dir / "best.pt", settings.image_size,
                             {"epoch": epoch + 1, "val": _json_safe(val_metrics), "targets": settings.targets})
            _atomic_torch_save({"format": "icaa-train-checkpoint", "epoch": epoch, "settings": asdict(settings),
                                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                                "rng": _rng_state(), "history": history, "best": best,
                                "config": _config_dict(model), "image_size": settings.image_size},
                               checkpoint_path)
            _write_plots(history, plots_path)
            say(f"epoch {epoch + 1}/{settings.epochs}: train loss {row['train_loss']:.4f}, val loss "
                f"{row['val_loss']:.4f}, val SRCC {val_metrics['srcc']:.3f}, PLCC {val_metrics['plcc']:.3f}, "
                f"acc {val_metrics['accuracy']:.3f}")
        if dist_info.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    summary: dict[str, Any] = {}
    if dist_info.main:
        trained = {"epoch": settings.epochs, "targets": settings.targets}
        save_weights(model, run_dir / "last.pt", settings.image_size, trained)
        if not (run_dir / "best.pt").is_file():  # resumed at the end, or every SRCC was NaN
            save_weights(model, run_dir / "best.pt", settings.image_size, trained)
        val = dict(best.get("val", {}))
        if settings.targets != "both":  # the overall head never learned: its numbers would mean nothing
            val.pop("overall", None)
        metrics = {"best_epoch": best["epoch"], "epochs": settings.epochs, "val": val,
                   "train_images": len(train_set), "val_images": len(val_set),
                   "skipped_images": problem_counts, "final_train_loss": history[-1]["train_loss"] if history else None}
        atomic_write_json(metrics_path, _json_safe(headline_metrics(metrics)))
        atomic_write_json(run_dir / "summary.json", _json_safe({**metrics, "val_source": tables["val_source"]}))
        _write_plots(history, plots_path)
        summary = {**metrics, "val_source": tables["val_source"], "targets": settings.targets,
                   "warning": small_sample_warning(len(val_set), "validation SRCC, PLCC and accuracy"),
                   "history": history, "seconds": round(time.monotonic() - started, 1),
                   "outputs": {"best": str(run_dir / "best.pt"), "last": str(run_dir / "last.pt"),
                               "checkpoint": str(checkpoint_path), "metrics": str(metrics_path),
                               "summary": str(run_dir / "summary.json"), "plots": str(plots_path)}}
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return summary


def evaluate(weights: str | Path, data_dir: str | Path, split: str = "test", *, layout: str | None = None,
             attribute: str = "Colorfulness", config: Any = "dat_base", batch_size: int = 32, workers: int = 2,
             skip_missing: bool = False, device: str | None = None, reference_mode: str = "per_image",
             predictions_path: str | Path | None = None, metrics_path: str | Path | None = None,
             progress: bool = True, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Metrics of ``weights`` on one split of ``data_dir`` (colour on top, ``overall`` where labelled)."""
    import torch

    started = time.monotonic()
    label_file = find_split_file(data_dir, split, layout)
    if label_file is None:
        raise IcaaError(f"{data_dir}: no labels for split {split!r} (looked for {split}.csv and the release names)")
    rows = read_labels(label_file, layout, attribute)
    if rows.empty:
        raise IcaaError(f"{label_file}: the {split} split has no rows to evaluate")
    root = image_root_of(data_dir)
    kept, problems = _report_problems({split: rows}, root, skip_missing, echo)
    rows = kept[split]
    model, size = load_weights(weights, config, reference_mode=reference_mode)
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(dev)
    from icaa.model.transforms import EvalTransform

    dataset = ScoreDataset(rows, root, EvalTransform(size))
    loader = _loader(dataset, batch_size, False, workers, 0, 0, _Dist(), dev)
    outputs, targets = _predict_loader(model, loader, dev, progress=progress, desc=f"evaluate {split}")
    metrics = {"skipped_images": problems, **_split_metrics(outputs, targets)}  # the DVC metric: numbers only
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
        atomic_write_json(Path(metrics_path), _json_safe(headline_metrics(metrics)))
    warning = small_sample_warning(len(rows), f"the {split} metrics")
    metrics = {"split": split, "labels": str(label_file), "weights": str(weights), **metrics,
               **({"warning": warning} if warning else {}), "seconds": round(time.monotonic() - started, 1)}
    return _json_safe(metrics)


#: File endings ``predict`` picks up inside a folder (the scan stage's defaults).
PREDICT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")


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
    import torch

    listed = list_prediction_inputs(images)
    if not listed:
        raise IcaaError(f"no image files to score in {', '.join(map(str, images))} (looked for "
                        f"{' '.join(PREDICT_EXTENSIONS)})")
    explainer = _explainer() if explain else None
    model, size = load_weights(weights, config, reference_mode="per_image")
    with_overall = getattr(model, "trained_targets", "both") == "both"
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(dev)
    from icaa.model.transforms import EvalTransform, load_rgb

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
