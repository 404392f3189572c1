"""``icaa-train``: train, evaluate and predict with DeT.

torch is imported inside the commands (through :mod:`icaa.model.engine` and :mod:`icaa.model.evaluation`), so
``icaa-train --help`` starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from icaa.common.cli import HELP_SETTINGS, exit_without_teardown, fail, run_app
from icaa.common.errors import IcaaError

__all__ = ["app", "main", "console_main"]

app = typer.Typer(
    name="icaa-train",
    help="Train, evaluate and predict with the Delegate Transformer (DeT) on colour-aesthetics labels "
         "(ICAA17K or SPAQ layout).",
    no_args_is_help=True,
    **HELP_SETTINGS,
)


def _echo(message: str) -> None:
    typer.echo(message, err=True)


@app.command("fit")
def fit_command(
    data: Annotated[Path, typer.Option("--data", exists=True, file_okay=False,
                                       help="Dataset folder: train.csv [val.csv] [test.csv] (ICAA17K: ID,color,MOS,"
                                            "probability; or 1train.csv; SPAQ: spaqTrain.csv) and the images, "
                                            "under DATA/images/ if that folder exists, else under DATA/.")],
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Run folder (checkpoints, weights, metrics).")],
    config: Annotated[str, typer.Option(help="DeT config: dat_tiny, dat_small, dat_base, dat_micro or a JSON "
                                             "file with the published config keys.")] = "dat_tiny",
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 25,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per step and per process.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak AdamW learning rate.")] = 1e-4,
    head_lr_scale: Annotated[float, typer.Option(help="Learning-rate multiplier of the two output layers "
                                                      "(class_head, class_head2).")] = 10.0,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (not on norms, biases, tables).")] = 0.05,
    warmup_epochs: Annotated[float, typer.Option(help="Linear warm-up length in epochs, then cosine decay.")] = 1.0,
    min_lr_ratio: Annotated[float, typer.Option(help="Final learning rate / peak learning rate.")] = 0.01,
    clip_grad_norm: Annotated[float, typer.Option(help="Gradient-norm clip (0: off).")] = 5.0,
    amp: Annotated[str, typer.Option(help="Mixed precision: none, bf16 or fp16 (fp16 with a grad scaler, CUDA).")] = "none",
    targets: Annotated[str, typer.Option(help="colour (colour score only, 'Ours *1') or both (colour + overall, "
                                              "'Ours *2').")] = "colour",
    loss: Annotated[str, typer.Option(help="mse (the paper's) or smooth_l1.")] = "mse",
    image_size: Annotated[int, typer.Option(help="Input size in pixels (224 for the published configs).")] = 224,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, shuffling and augmentation.")] = 0,
    val_fraction: Annotated[float, typer.Option(help="Share of photos carved from train for validation when "
                                                     "there is no val.csv (grouped by file name).")] = 0.1,
    layout: Annotated[Optional[str], typer.Option(help="icaa17k or spaq (default: detected from the CSV header).")] = None,
    attribute: Annotated[str, typer.Option(help="SPAQ column used as the colour target.")] = "Colorfulness",
    init: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False,
                                                 help="Initial weights: an official DeT state dict or an ImageNet "
                                                      "DAT checkpoint (backbone only). Default: from scratch.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    skip_missing: Annotated[bool, typer.Option(help="Train without missing/unreadable images instead of refusing.")] = False,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 2,
    device: Annotated[Optional[str], typer.Option(help="torch device (default: cuda if available, else cpu).")] = None,
    metrics: Annotated[Optional[Path], typer.Option(dir_okay=False, help="metrics.json path (default OUT/metrics.json).")] = None,
    plots: Annotated[Optional[Path], typer.Option(dir_okay=False, help="Per-epoch CSV (default OUT/plots/train.csv).")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train DeT; select the best epoch on the validation split (never test).

    Example: icaa-train fit --data dataset --out work/train --config dat_tiny --epochs 2 --batch-size 8

    Multi-GPU: torchrun --nproc_per_node 4 -m icaa.model.cli fit --data dataset --out runs/base --config dat_base
    """
    from icaa.model.engine import TrainSettings, fit

    settings = TrainSettings(config=config, image_size=image_size, epochs=epochs, batch_size=batch_size, lr=lr,
                             head_lr_scale=head_lr_scale,
                             weight_decay=weight_decay, warmup_epochs=warmup_epochs, min_lr_ratio=min_lr_ratio,
                             clip_grad_norm=clip_grad_norm, amp=amp, targets=targets, loss=loss, seed=seed,
                             val_fraction=val_fraction, layout=layout, attribute=attribute,
                             init=str(init) if init else None)
    try:
        summary = fit(data, out, settings, workers=workers, resume=resume, skip_missing=skip_missing,
                      progress=progress, device=device, metrics_path=metrics, plots_path=plots, echo=_echo)
    except IcaaError as error:
        raise fail(error) from None
    if summary:
        val = summary.get("val", {})
        typer.echo(f"trained {summary['train_images']} images x {summary['epochs']} epochs in {summary['seconds']} s; "
                   f"best epoch {summary['best_epoch']}: val SRCC {val.get('srcc', float('nan')):.3f}, PLCC "
                   f"{val.get('plcc', float('nan')):.3f}, accuracy {val.get('accuracy', float('nan')):.3f} "
                   f"(majority {val.get('majority_accuracy', float('nan')):.3f}), MSE {val.get('mse', float('nan')):.3f}")
        if summary.get("warning"):
            typer.secho(f"warning: {summary['warning']}", fg=typer.colors.YELLOW, err=True)
        typer.echo("outputs: " + ", ".join(f"{k} {v}" for k, v in summary["outputs"].items()))


@app.command("evaluate")
def evaluate_command(
    weights: Annotated[Path, typer.Option("--weights", exists=True, dir_okay=False,
                                          help="icaa-train weights (best.pt) or an official DeT state dict.")],
    data: Annotated[Path, typer.Option("--data", exists=True, file_okay=False, help="Dataset folder (as for fit).")],
    split: Annotated[str, typer.Option(help="Split to score: test, val, train or all.")] = "test",
    config: Annotated[str, typer.Option(help="Config of an official state dict (icaa-train files carry theirs).")] = "dat_base",
    layout: Annotated[Optional[str], typer.Option(help="icaa17k or spaq (default: detected).")] = None,
    attribute: Annotated[str, typer.Option(help="SPAQ column used as the colour target.")] = "Colorfulness",
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch.")] = 32,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 2,
    skip_missing: Annotated[bool, typer.Option(help="Score without missing/unreadable images instead of refusing.")] = False,
    reference_mode: Annotated[str, typer.Option(help="per_image (default) or batch (the published code's).")] = "per_image",
    device: Annotated[Optional[str], typer.Option(help="torch device.")] = None,
    metrics: Annotated[Optional[Path], typer.Option(dir_okay=False, help="Write the metrics JSON here.")] = None,
    predictions: Annotated[Optional[Path], typer.Option(dir_okay=False, help="Write per-image predictions (CSV).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Score a split and print SRCC, PLCC, accuracy at 5 (with the majority-class accuracy) and MSE as JSON.

    Example: icaa-train evaluate --weights work/train/best.pt --data dataset --split test --metrics test.json
    """
    from icaa.model.evaluation import evaluate

    try:
        result = evaluate(weights, data, split, layout=layout, attribute=attribute, config=config,
                          batch_size=batch_size, workers=workers, skip_missing=skip_missing, device=device,
                          reference_mode=reference_mode, predictions_path=predictions, metrics_path=metrics,
                          progress=progress, echo=_echo)
    except IcaaError as error:
        raise fail(error) from None
    if result.get("warning"):
        typer.secho(f"warning: {result['warning']}", fg=typer.colors.YELLOW, err=True)
    typer.echo(json.dumps(result, indent=2))


@app.command("predict")
def predict_command(
    images: Annotated[List[Path], typer.Argument(help="Image files and folders (every image file under a folder).")],
    weights: Annotated[Path, typer.Option("--weights", exists=True, dir_okay=False,
                                          help="icaa-train weights (best.pt) or an official DeT state dict.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
                                                   help="Write .csv or .json (default: CSV on stdout).")] = None,
    config: Annotated[str, typer.Option(help="Config of an official state dict.")] = "dat_base",
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch.")] = 16,
    explain: Annotated[bool, typer.Option(help="Add the pipeline's dominant/auxiliary colours and class.")] = False,
    device: Annotated[Optional[str], typer.Option(help="torch device.")] = None,
) -> None:
    """Colour (and, when trained, overall) scores 0-10 of image files and folders; bad files are skipped.

    Each image is scored on its own. overall_score appears only for weights whose overall head was trained
    (fit --targets both, or an official DeT checkpoint). A missing or unreadable file gets a row with its
    status and no score, and the others are scored.

    Example: icaa-train predict photo1.jpg my_photos/ --weights work/train/best.pt -o scores.csv
    """
    from icaa.common.files import atomic_write_text
    from icaa.model.evaluation import predict

    try:
        if output is not None and output.suffix.lower() not in (".csv", ".json"):
            raise IcaaError(f"--output must end in .csv or .json, got {output.name}")
        if output is not None and any(output.resolve() == Path(p).resolve() for p in [*images, weights]):
            raise IcaaError(f"--output {output} is one of the inputs; choose another output path")
        table = predict(images, weights, config=config, batch_size=batch_size, device=device, explain=explain)
        if output is None:
            typer.echo(table.to_csv(index=False), nl=False)
        elif output.suffix.lower() == ".json":
            atomic_write_text(output, table.to_json(orient="records", indent=2) + "\n")
        else:
            atomic_write_text(output, table.to_csv(index=False))
    except IcaaError as error:
        raise fail(error) from None
    skipped = table[table["status"] != "ok"]
    for row in skipped.itertuples(index=False):
        typer.echo(f"skipped {row.image}: {row.status} ({row.detail})", err=True)
    scored = len(table) - len(skipped)
    typer.echo(f"scored {scored} images, skipped {len(skipped)}" + (f" -> {output}" if output else ""), err=True)
    if scored == 0:
        raise typer.Exit(code=1)


def main() -> None:
    """Run ``icaa-train`` with ``sys.argv``; ends in SystemExit with the exit status."""
    run_app(app)


def console_main() -> None:
    """Entry point of the ``icaa-train`` console script: :func:`main`, then a quick exit."""
    exit_without_teardown(main)


if __name__ == "__main__":
    main()
