"""Checkpoint adapter: official DeT state dicts and ImageNet DAT v1 checkpoints into :class:`DeT`.

- Official DeT checkpoints (ICAA17K / SPAQ, published by He et al.) are plain ``state_dict``s of ``dat_base``
  with exactly the keys of ``../shared/reference/det/dat_base.state_dict.tsv`` (quirks included:
  ``hist_feature.centers`` and the ``hist_feature.widths`` alias). They load with ``strict=True``.
- ImageNet DAT v1 checkpoints (Xia et al., ``dat_{tiny,small,base}_in1k_224.pth``) hold the backbone under
  ``"model"`` with a 1000-class ``cls_head`` and no DeT parts. They load as a backbone initialisation: the
  backbone keys are copied, ``cls_head`` is skipped when its shape differs, and the delegate/head keys keep
  their fresh initialisation; the :class:`CheckpointReport` says which keys went where.

Nothing is downloaded: pass a path or an already loaded mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Mapping

import torch
import torch.nn.functional as F

__all__ = ["CheckpointReport", "checkpoint_filter_fn", "load_official_checkpoint", "unwrap_state_dict"]

_WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "net")


@dataclass
class CheckpointReport:
    """What a checkpoint load did.

    ``kind``: ``"det"`` (full DeT state dict, strict) or ``"dat_backbone"`` (backbone initialisation).
    ``loaded``: keys copied. ``skipped``: checkpoint keys not used, with the reason. ``initialised``: model
    keys absent from the checkpoint that keep their fresh initialisation. ``resized``: position-bias tables
    interpolated to the model's size.
    """

    kind: str
    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    initialised: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.kind}: {len(self.loaded)} keys loaded"]
        if self.resized:
            parts.append(f"{len(self.resized)} resized")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped ({', '.join(sorted(self.skipped)[:5])}"
                         f"{', ...' if len(self.skipped) > 5 else ''})")
        if self.initialised:
            parts.append(f"{len(self.initialised)} kept their initialisation ("
                         f"{', '.join(sorted(self.initialised)[:5])}{', ...' if len(self.initialised) > 5 else ''})")
        return "; ".join(parts)


def unwrap_state_dict(checkpoint: Any) -> dict[str, torch.Tensor]:
    """The tensor mapping inside a checkpoint: a plain state dict, or one under ``model``/``state_dict``;
    a DDP ``module.`` prefix is removed."""
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"a checkpoint must be a mapping (state dict or dict holding one), got {type(checkpoint).__name__}")
    state = checkpoint
    if not all(torch.is_tensor(v) for v in state.values()):
        for key in _WRAPPER_KEYS:
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping) and inner and all(torch.is_tensor(v) for v in inner.values()):
                state = inner
                break
        else:
            raise ValueError("no state dict found in the checkpoint: expected a mapping of tensors, or one under "
                             f"one of {_WRAPPER_KEYS}; top-level keys are {sorted(checkpoint)[:10]}")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def _resize_table(key: str, value: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """Bicubic resize of a relative-position table to a new feature-map size (as DAT's ``load_pretrained``)."""
    if key.endswith("relative_position_bias_table") and value.ndim == 2 and value.shape[1] == shape[1]:
        n_old, n_new = int(math.isqrt(value.shape[0])), int(math.isqrt(shape[0]))
        if n_old ** 2 != value.shape[0] or n_new ** 2 != shape[0]:
            return None
        grid = value.t().reshape(1, value.shape[1], n_old, n_old)
        return F.interpolate(grid, (n_new, n_new), mode="bicubic").reshape(value.shape[1], -1).t()
    if key.endswith("rpe_table") and value.ndim == 3 and value.shape[0] == shape[0]:
        return F.interpolate(value.unsqueeze(0), tuple(shape[1:]), mode="bicubic").squeeze(0)
    return None


def checkpoint_filter_fn(state_dict: Mapping[str, torch.Tensor], model: torch.nn.Module
                         ) -> tuple[dict[str, torch.Tensor], CheckpointReport]:
    """Adapt a checkpoint's tensors to ``model`` (timm's ``checkpoint_filter_fn`` habit).

    Returns ``(state_dict_for_model, report)``. A state dict that has every key of the model with matching
    shapes passes through unchanged (``kind="det"``); otherwise matching keys are kept, position-bias
    tables are resized, mismatching or unknown keys are reported as skipped and the model's own values fill
    the rest (``kind="dat_backbone"``), so the result always loads with ``strict=True``.
    """
    state = unwrap_state_dict(state_dict)
    target = model.state_dict()
    if set(state) == set(target) and all(state[k].shape == target[k].shape for k in target):
        return dict(state), CheckpointReport(kind="det", loaded=sorted(state))
    report = CheckpointReport(kind="dat_backbone")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in target:
            report.skipped[key] = "not a DeT key"
            continue
        want = target[key].shape
        if value.shape == want:
            out[key] = value
            report.loaded.append(key)
            continue
        resized = _resize_table(key, value, want)
        if resized is not None:
            out[key] = resized.to(target[key].dtype)
            report.resized.append(key)
            report.loaded.append(key)
        else:
            report.skipped[key] = f"shape {tuple(value.shape)} != model {tuple(want)}"
    for key, value in target.items():
        if key not in out:
            out[key] = value
            report.initialised.append(key)
    # The alias hist_feature.widths must stay the same tensor as bin_widths_conv.weight.
    if "hist_feature.bin_widths_conv.weight" in out and "hist_feature.widths" in out:
        out["hist_feature.widths"] = out["hist_feature.bin_widths_conv.weight"]
    return out, report


def load_official_checkpoint(model: torch.nn.Module, checkpoint: str | PathLike | Mapping[str, Any],
                             strict: bool | None = None) -> CheckpointReport:
    """Load an official DeT state dict (strict) or an ImageNet DAT checkpoint (backbone init) into ``model``.

    ``checkpoint``: a path (read with ``torch.load(map_location="cpu")``) or a loaded mapping.
    ``strict=True`` refuses anything but a complete DeT state dict; ``None`` (default) accepts both kinds.
    Returns the :class:`CheckpointReport`.

    Example
    -------
    >>> model = DeT.from_config("dat_base")                                     # doctest: +SKIP
    >>> report = load_official_checkpoint(model, "dat_base_in1k_224.pth")       # doctest: +SKIP
    >>> print(report.summary())                                                 # doctest: +SKIP
    dat_backbone: 450 keys loaded; 2 skipped (cls_head.bias, cls_head.weight); ...
    """
    if not isinstance(checkpoint, Mapping):
        checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=False)
    state, report = checkpoint_filter_fn(checkpoint, model)
    if strict and report.kind != "det":
        raise ValueError("not a complete DeT state dict for this config: " + report.summary())
    model.load_state_dict(state, strict=True)
    return report
