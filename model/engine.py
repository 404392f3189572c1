"""Training DeT colour-aesthetics models: the settings of a run, the optimizer and schedule, the loss, and
:func:`fit`, the plain function behind ``icaa-train fit``.

Unlike the published script, model selection uses a validation split (``val.csv``, or one carved from the
training rows grouped by photo file name), never the test split; a run checkpoints every epoch with model,
optimizer, scheduler, grad-scaler and RNG state, written atomically, and ``resume=True`` continues the same
curve: every epoch reseeds the shuffling, the augmentations and dropout from ``(seed, epoch)``, so a run
killed after epoch ``k`` and resumed gives the numbers of the uninterrupted run. Under ``torchrun``
(``WORLD_SIZE`` set) it trains with DistributedDataParallel and a DistributedSampler; only rank 0 evaluates
and writes.

Files of a run folder: ``checkpoint.pt`` (resume state), ``best.pt`` (weights of the best validation epoch,
loadable by :func:`icaa.model.weights.load_weights`), ``last.pt``, ``metrics.json``, ``summary.json``,
``plots/train.csv`` (one row per epoch).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_json, atomic_write_text
from icaa.model.checkpoint import load_official_checkpoint
from icaa.model.data import ScoreDataset
from icaa.model.evaluation import headline_metrics, json_safe, predict_loader, split_metrics
from icaa.model.metrics import small_sample_warning
from icaa.model.runtime import (Processes, all_reduce_sum, autocast, barrier, close_processes, init_processes,
                                make_loader, rng_state, run_device, seed_epoch, set_rng_state)
from icaa.model.splits import drop_unusable_images, load_split_tables
from icaa.model.transforms import EvalTransform, TrainTransform
from icaa.model.weights import atomic_torch_save, build_model, check_image_size, config_dict, save_weights

__all__ = ["TrainSettings", "TARGETS", "LOSSES", "AMP_MODES", "RUN_FILES", "PLOT_COLUMNS", "HEAD_PREFIXES", "fit",
           "warmup_cosine"]

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


# ---------------------------------------------------------------------------------------------- optimisation


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


def _loss_fn(settings: TrainSettings):
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


@dataclass
class _Training:
    """The state one training run steps: model (and its DDP wrapper), optimizer, schedule, scaler, loss."""

    settings: TrainSettings
    processes: Processes
    device: torch.device
    model: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    loss_fn: Callable
    total_steps: int
    warmup_steps: int
    train_model: Any = None

    @classmethod
    def create(cls, model, settings: TrainSettings, train_images: int, processes: Processes,
               device: torch.device) -> "_Training":
        optimizer = torch.optim.AdamW(_param_groups(model, settings.weight_decay, settings.lr,
                                                    settings.head_lr_scale), lr=settings.lr)
        steps_per_epoch = math.ceil(train_images / (settings.batch_size * processes.world_size))
        total_steps = steps_per_epoch * settings.epochs
        warmup_steps = int(round(settings.warmup_epochs * steps_per_epoch))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, total_steps, warmup_steps, settings.min_lr_ratio))
        scaler = torch.amp.GradScaler(device.type, enabled=settings.amp == "fp16" and device.type == "cuda")
        return cls(settings, processes, device, model, optimizer, scheduler, scaler, _loss_fn(settings),
                   total_steps, warmup_steps)

    def wrap_for_processes(self) -> None:
        """Under ``torchrun``, step through DistributedDataParallel (a colour-only loss leaves a head unused)."""
        self.train_model = self.model
        if self.processes.world_size > 1:
            self.train_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.settings.targets == "colour")

    def learning_rate(self) -> float:
        """The learning rate of the step last taken (backbone groups)."""
        return self.settings.lr * warmup_cosine(self.scheduler.last_epoch - 1, self.total_steps, self.warmup_steps,
                                                self.settings.min_lr_ratio)

    def state(self, epoch: int, history: list, best: dict) -> dict:
        """The resume checkpoint after ``epoch`` (0-based)."""
        return {"format": "icaa-train-checkpoint", "epoch": epoch, "settings": asdict(self.settings),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": rng_state(), "history": history, "best": best,
                "config": config_dict(self.model), "image_size": self.settings.image_size}

    def restore(self, checkpoint_path: Path) -> tuple[int, list, dict]:
        """Load a resume checkpoint written with the same settings; ``(next epoch, history, best)``."""
        if not checkpoint_path.is_file():
            raise IcaaError(f"--resume: no checkpoint at {checkpoint_path}; start without --resume")
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        stored = state["settings"]
        changed = sorted(k for k, v in asdict(self.settings).items()
                         if k != "init" and json.dumps(stored.get(k), default=str) != json.dumps(v, default=str))
        if changed:
            raise IcaaError(f"--resume: settings differ from the checkpoint's in {changed}; resume with the same "
                            "options or start a new run folder")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        return state["epoch"] + 1, state["history"], state["best"]



@dataclass
class _RunFiles:
    """Where a run writes: its folder, the metrics file and the per-epoch CSV (both may lie elsewhere)."""

    run_dir: Path
    metrics: Path
    plots: Path

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def write_curve(self, history: Sequence[Mapping[str, Any]]) -> None:
        """The per-epoch CSV: one row per epoch of ``history``, the columns of :data:`PLOT_COLUMNS`."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=PLOT_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: row.get(k, "") for k in PLOT_COLUMNS})
        atomic_write_text(self.plots, out.getvalue())

    def outputs(self) -> dict[str, str]:
        return {"best": str(self.run_dir / "best.pt"), "last": str(self.run_dir / "last.pt"),
                "checkpoint": str(self.checkpoint), "metrics": str(self.metrics),
                "summary": str(self.run_dir / "summary.json"), "plots": str(self.plots)}


# ---------------------------------------------------------------------------------------------- fit


def _datasets(data_dir: str | Path, settings: TrainSettings, skip_missing: bool, transforms: tuple | None,
              say: Callable[[str], None]) -> tuple[dict[str, Any], ScoreDataset, ScoreDataset, dict[str, int]]:
    """The split tables, the train and validation datasets, and the count of images dropped per reason."""
    tables = load_split_tables(data_dir, settings.layout, settings.attribute, settings.val_fraction, settings.seed)
    root = tables["root"]
    split_tables, problem_counts = drop_unusable_images({k: tables[k] for k in ("train", "val")}, root,
                                                        skip_missing, say)
    train_rows, val_rows = split_tables["train"], split_tables["val"]
    say(f"{tables['layout']} labels: {len(train_rows)} train, {len(val_rows)} val ({tables['val_source']}); "
        f"images under {root}")
    if transforms is None:
        resize = int(round(settings.image_size * 256 / 224))
        transforms = (TrainTransform(settings.image_size, resize), EvalTransform(settings.image_size))
    train_set, val_set = ScoreDataset(train_rows, root, transforms[0]), ScoreDataset(val_rows, root, transforms[1])
    return tables, train_set, val_set, problem_counts


def _train_epoch(run: _Training, train_set, epoch: int, workers: int, progress: bool) -> float:
    """One pass over the training set (this process's shard under ``torchrun``); the mean loss of all shards."""
    settings, dev = run.settings, run.device
    seed_epoch(settings.seed, epoch)
    run.train_model.train()
    loader = make_loader(train_set, settings.batch_size, True, workers, settings.seed, epoch, run.processes, dev)
    running, seen = 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{settings.epochs}", disable=not (progress and run.processes.main),
               leave=False)
    for images, targets in bar:
        images, targets = images.to(dev, non_blocking=True), targets.to(dev, non_blocking=True)
        with autocast(dev, settings.amp):
            outputs = run.train_model(images)
        loss = run.loss_fn(outputs.float(), targets)
        if not torch.isfinite(loss):
            raise IcaaError(f"epoch {epoch + 1}: the loss became {loss.item()}; lower --lr or use --amp none")
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if settings.clip_grad_norm > 0:
            run.scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), settings.clip_grad_norm)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        running += loss.item() * len(images)
        seen += len(images)
        bar.set_postfix(loss=f"{running / seen:.4f}")
    running, seen = all_reduce_sum(run.processes, [running, seen], dev)
    return running / max(seen, 1)


def _validate_epoch(run: _Training, val_set, epoch: int, workers: int, progress: bool, row: dict[str, Any]
                    ) -> dict[str, Any]:
    """Score the validation set (rank 0 alone); add its loss and metrics to the epoch's ``row``."""
    settings = run.settings
    val_loader = make_loader(val_set, settings.batch_size, False, workers, settings.seed, epoch, Processes(),
                             run.device)
    outputs_np, targets_np = predict_loader(run.model, val_loader, run.device, settings.amp, progress, "validate")
    val_metrics = split_metrics(outputs_np, targets_np)
    row["val_loss"] = float(run.loss_fn(torch.from_numpy(outputs_np), torch.from_numpy(targets_np)))
    row.update({f"val_{k}": val_metrics[k] for k in ("srcc", "plcc", "accuracy", "mse")})
    return val_metrics


def _keep_epoch(run: _Training, files: _RunFiles, epoch: int, val_metrics: dict[str, Any], history: list,
                best: dict) -> dict:
    """Write ``best.pt`` when this epoch's validation SRCC is the best so far, then the resume checkpoint and
    the curve; return the best epoch's record."""
    srcc_value = val_metrics["srcc"] if math.isfinite(val_metrics["srcc"]) else -1.0
    if srcc_value > best["srcc"]:
        best = {"epoch": epoch + 1, "srcc": srcc_value, "val": val_metrics}
        save_weights(run.model, files.run_dir / "best.pt", run.settings.image_size,
                     {"epoch": epoch + 1, "val": json_safe(val_metrics), "targets": run.settings.targets})
    atomic_torch_save(run.state(epoch, history, best), files.checkpoint)
    files.write_curve(history)
    return best


def _finish(run: _Training, files: _RunFiles, tables: Mapping[str, Any], train_images: int, val_images: int,
            problem_counts: dict[str, int], history: list, best: dict, started: float) -> dict[str, Any]:
    """Write ``last.pt`` (and ``best.pt`` if no epoch wrote one), the metrics, summary and curve; return the
    summary."""
    settings = run.settings
    trained = {"epoch": settings.epochs, "targets": settings.targets}
    save_weights(run.model, files.run_dir / "last.pt", settings.image_size, trained)
    if not (files.run_dir / "best.pt").is_file():  # resumed at the end, or every SRCC was NaN
        save_weights(run.model, files.run_dir / "best.pt", settings.image_size, trained)
    val = dict(best.get("val", {}))
    if settings.targets != "both":  # the overall head never learned: its numbers would mean nothing
        val.pop("overall", None)
    metrics = {"best_epoch": best["epoch"], "epochs": settings.epochs, "val": val,
               "train_images": train_images, "val_images": val_images,
               "skipped_images": problem_counts, "final_train_loss": history[-1]["train_loss"] if history else None}
    atomic_write_json(files.metrics, json_safe(headline_metrics(metrics)))
    atomic_write_json(files.run_dir / "summary.json", json_safe({**metrics, "val_source": tables["val_source"]}))
    files.write_curve(history)
    return {**metrics, "val_source": tables["val_source"], "targets": settings.targets,
            "warning": small_sample_warning(val_images, "validation SRCC, PLCC and accuracy"),
            "history": history, "seconds": round(time.monotonic() - started, 1), "outputs": files.outputs()}


def fit(data_dir: str | Path, run_dir: str | Path, settings: TrainSettings | None = None, *, workers: int = 2,
        resume: bool = False, skip_missing: bool = False, progress: bool = True, device: str | None = None,
        metrics_path: str | Path | None = None, plots_path: str | Path | None = None,
        model_factory: Callable[[TrainSettings], Any] | None = None, transforms: tuple | None = None,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train on ``data_dir``'s train split, select the epoch with the best validation SRCC, write ``run_dir``.

    ``model_factory(settings)`` replaces :func:`~icaa.model.weights.build_model` (any module mapping
    ``(B, 3, H, W)`` to ``(B, 2)`` sigmoid scores); ``transforms=(train, eval)`` replaces DeT's transforms.
    Returns a summary with the image counts, the best epoch, its validation metrics, the time taken and the
    files written (empty on every process but rank 0).
    """
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
    files = _RunFiles(run_dir, Path(metrics_path) if metrics_path else run_dir / "metrics.json",
                      Path(plots_path) if plots_path else run_dir / "plots" / "train.csv")
    processes = init_processes()
    dev = run_device(processes, device)
    say = echo if processes.main else (lambda _message: None)
    tables, train_set, val_set, problem_counts = _datasets(data_dir, settings, skip_missing, transforms, say)

    torch.manual_seed(settings.seed)
    model = (model_factory or (lambda s: build_model(s.config, s.image_size, s.reference_mode)))(settings)
    if settings.init and not resume:
        report = load_official_checkpoint(model, settings.init)
        say(f"initialised from {settings.init}: {report.summary()}")
    model.to(dev)
    run = _Training.create(model, settings, len(train_set), processes, dev)
    start_epoch, history, best = 0, [], {"epoch": -1, "srcc": -math.inf}
    if resume:
        start_epoch, history, best = run.restore(files.checkpoint)
        say(f"resuming after epoch {start_epoch} of {settings.epochs} from {files.checkpoint}")
    run.wrap_for_processes()

    if processes.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(start_epoch, settings.epochs):
        train_loss = _train_epoch(run, train_set, epoch, workers, progress)
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": run.learning_rate(), "train_loss": train_loss}
        if processes.main:
            val_metrics = _validate_epoch(run, val_set, epoch, workers, progress, row)
            history.append(row)
            best = _keep_epoch(run, files, epoch, val_metrics, history, best)
            say(f"epoch {epoch + 1}/{settings.epochs}: train loss {row['train_loss']:.4f}, val loss "
                f"{row['val_loss']:.4f}, val SRCC {val_metrics['srcc']:.3f}, PLCC {val_metrics['plcc']:.3f}, "
                f"acc {val_metrics['accuracy']:.3f}")
        barrier(processes)

    summary: dict[str, Any] = {}
    if processes.main:
        summary = _finish(run, files, tables, len(train_set), len(val_set), problem_counts, history, best, started)
    close_processes(processes)
    return summary
