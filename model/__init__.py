"""icaa.model: the Delegate Transformer (DeT) and its training CLI ``icaa-train``.

``from icaa.model import DeT``; ``DeT.from_config("dat_base", reference_mode="per_image")``.
"""

from icaa.model.checkpoint import CheckpointReport, checkpoint_filter_fn, load_official_checkpoint
from icaa.model.config import DET_CONFIGS, REFERENCE_MODES, DeTConfig
from icaa.model.det import CONFORMANCE_TOLERANCES, DeT, conformance_tolerance

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
