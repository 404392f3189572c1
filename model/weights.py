"""Weights files of ``icaa-train`` and the DeT each one rebuilds.

A weights file (``best.pt``, ``last.pt``) is ``{"format": "icaa-det-weights", "config", "image_size",
"state_dict", ...}``; a resume checkpoint (``checkpoint.pt``) is ``{"format": "icaa-train-checkpoint",
"model", "config", "image_size", ...}``. Both carry their config, so they load with no option;
:func:`load_weights` also takes an official DeT state dict through :mod:`icaa.model.checkpoint`. Every file is
written through a temporary file and a rename.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any, Mapping

import torch

from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_bytes
from icaa.model.checkpoint import load_official_checkpoint
from icaa.model.config import image_size_fits, resolve_config, valid_image_sizes
from icaa.model.det import DeT

__all__ = ["check_image_size", "build_model", "config_dict", "save_weights", "load_weights", "atomic_torch_save"]


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


def build_model(config: Any = "dat_tiny", image_size: int = 224, reference_mode: str = "per_image") -> DeT:
    """A DeT from a config name (``dat_tiny``...), a dict or a JSON path, for ``image_size`` pixel inputs."""
    check_image_size(config, image_size)
    config = _resolve_config(config)
    try:
        return DeT.from_config(config, reference_mode=reference_mode, img_size=int(image_size))
    except (ValueError, TypeError) as error:
        raise IcaaError(f"cannot build DeT from config {config!r} at {image_size} px: {error}") from None


def config_dict(model) -> dict:
    """The JSON-safe config a file stores beside ``model``'s weights (empty for a model without ``cfg``)."""
    cfg = dataclasses.asdict(model.cfg) if hasattr(model, "cfg") else {}
    cfg.pop("extra", None)
    return json.loads(json.dumps(cfg))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` through a temporary file and a rename."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def save_weights(model, path: str | Path, image_size: int, extra: Mapping[str, Any] | None = None) -> None:
    """Write ``{"format": "icaa-det-weights", "config", "image_size", "state_dict", ...}`` atomically."""
    atomic_torch_save({"format": "icaa-det-weights", "config": config_dict(model), "image_size": int(image_size),
                       "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                       **dict(extra or {})}, Path(path))


def load_weights(path: str | Path, config: Any = "dat_base", image_size: int | None = None,
                 reference_mode: str = "per_image"):
    """``(model, image_size)`` from an ``icaa-train`` weights file, or from an official DeT state dict
    (which needs ``config``, the published one being ``dat_base``). The model is in eval mode on CPU."""
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
