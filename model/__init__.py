"""icaa.model: the Delegate Transformer (DeT) and its training CLI ``icaa-train``.

``from icaa.model import DeT``; ``DeT.from_config("dat_base", reference_mode="per_image")``.

The exports load lazily (PEP 562), so importing ``icaa.model.cli`` for ``icaa-train --help`` does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DeT",
    "DeTConfig",
    "DET_CONFIGS",
    "REFERENCE_MODES",
    "CONFORMANCE_TOLERANCES",
    "conformance_tolerance",
    "CheckpointReport",
    "checkpoint_filter_fn",
    "load_official_checkpoint",
]

_HOMES = {
    "DeT": "det",
    "CONFORMANCE_TOLERANCES": "det",
    "conformance_tolerance": "det",
    "DeTConfig": "config",
    "DET_CONFIGS": "config",
    "REFERENCE_MODES": "config",
    "CheckpointReport": "checkpoint",
    "checkpoint_filter_fn": "checkpoint",
    "load_official_checkpoint": "checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(f"icaa.model.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'icaa.model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
