"""DeT configurations: one frozen dataclass per size, as the published DAT v1 configs spell them.

The keys are those of the authors' config files (``../shared/reference/det/dat_*.config.json``), so a dict
written by the published code is accepted as is. Two keys are ours:

- ``hist_in_features``: inputs of the hue-partition head ``hst_head``. ``None`` (default) reads ``dims[-1]``,
  so every size runs. The published head hard-codes 1024, which only fits ``dat_base``; set 1024 to rebuild a
  published non-base state dict key for key (such a model loads but cannot run a forward pass).
- ``hist_num_features`` / ``hist_num_bins``: the soft histogram's 36 features x 6 bins.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["DeTConfig", "DET_CONFIGS", "REFERENCE_MODES", "resolve_config", "image_size_fits", "valid_image_sizes"]

REFERENCE_MODES = ("per_image", "batch")
"""``per_image``: each image's delegate points depend on that image only (default, for prediction).
``batch``: reference points and gate are averaged over the batch, as the published code does."""


def _tuple4(values: Any) -> tuple:
    return tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in values)


@dataclass(frozen=True)
class DeTConfig:
    """Architecture of a Delegate Transformer (DAT v1 backbone + soft hue-histogram head).

    Field names and meanings follow DAT v1 (Xia et al., CVPR 2022) ``models/dat.py``; per-stage fields are
    4-tuples (stages I-IV). ``stage_spec`` letters: ``L`` local window attention, ``S`` shifted window
    attention, ``D`` delegate (deformable, gated) attention.
    """

    img_size: int = 224
    patch_size: int = 4
    num_classes: int = 1
    expansion: int = 4
    dim_stem: int = 96
    dims: tuple = (96, 192, 384, 768)
    depths: tuple = (2, 2, 6, 2)
    stage_spec: tuple = (("L", "S"), ("L", "S"), ("L", "D", "L", "D", "L", "D"), ("L", "D"))
    heads: tuple = (3, 6, 12, 24)
    window_sizes: tuple = (7, 7, 7, 7)
    groups: tuple = (-1, -1, 3, 6)
    use_pes: tuple = (False, False, True, True)
    dwc_pes: tuple = (False, False, False, False)
    strides: tuple = (-1, -1, 1, 1)
    sr_ratios: tuple = (-1, -1, -1, -1)
    offset_range_factor: tuple = (-1, -1, 2, 2)
    no_offs: tuple = (False, False, False, False)
    fixed_pes: tuple = (False, False, False, False)
    use_dwc_mlps: tuple = (False, False, False, False)
    use_conv_patches: bool = False
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.2
    hist_in_features: int | None = None
    hist_num_features: int = 36
    hist_num_bins: int = 6
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("dims", "depths", "heads", "window_sizes", "groups", "use_pes", "dwc_pes", "strides",
                     "sr_ratios", "offset_range_factor", "no_offs", "fixed_pes", "use_dwc_mlps", "stage_spec"):
            value = getattr(self, name)
            if len(value) != 4:
                raise ValueError(f"DeTConfig.{name} must have 4 entries (one per stage), got {list(value)!r}")
            object.__setattr__(self, name, _tuple4(value))
        for i, (spec, depth) in enumerate(zip(self.stage_spec, self.depths)):
            if len(spec) != depth:
                raise ValueError(f"stage {i}: stage_spec has {len(spec)} letters but depths[{i}] is {depth}")
            bad = sorted(set(spec) - {"L", "S", "D"})
            if bad:
                raise ValueError(f"stage {i}: stage_spec letters must be L, S or D, got {bad}")
            if self.dims[i] % self.heads[i]:
                raise ValueError(f"stage {i}: dims {self.dims[i]} is not divisible by heads {self.heads[i]}")
        if self.use_conv_patches or any(self.dwc_pes) or any(self.fixed_pes) or any(self.use_dwc_mlps) \
                or any(self.no_offs):
            raise ValueError("use_conv_patches, dwc_pes, fixed_pes, use_dwc_mlps and no_offs are DAT options that "
                             "no DeT config uses; they are not implemented")

    @property
    def head_in_features(self) -> int:
        return self.dims[-1] if self.hist_in_features is None else int(self.hist_in_features)

    def to_dict(self) -> dict:
        """The published keys (lists, as in the authors' JSON) plus ours."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "DeTConfig":
        """Build from the published keys; unknown keys (e.g. DAT's ``ns_per_pts``) are kept in ``extra``."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in values.items() if k in known}
        extra = {k: v for k, v in values.items() if k not in known}
        return cls(**kwargs, extra=extra)


_D9 = ("L", "D") * 9

DET_CONFIGS: dict[str, DeTConfig] = {
    # The architecture of the published micro fixture (dims 16-128, 2 blocks per stage, 0.6M parameters):
    # for tests and CPU smoke runs, not a published model.
    "dat_micro": DeTConfig(
        dim_stem=16, dims=(16, 32, 64, 128), depths=(2, 2, 2, 2),
        stage_spec=(("L", "S"), ("L", "S"), ("L", "D"), ("L", "D")), heads=(1, 2, 4, 8), groups=(-1, -1, 2, 4),
        drop_path_rate=0.0,
    ),
    # DAT-T v1 (configs/dat_tiny.yaml) with the DeT head.
    "dat_tiny": DeTConfig(),
    # DAT-S v1 (configs/dat_small.yaml).
    "dat_small": DeTConfig(
        dim_stem=96, dims=(96, 192, 384, 768), depths=(2, 2, 18, 2),
        stage_spec=(("L", "S"), ("L", "S"), _D9, ("L", "D")), heads=(3, 6, 12, 24), groups=(-1, -1, 3, 6),
        drop_path_rate=0.3,
    ),
    # DAT-B v1 (configs/dat_base.yaml): the published DeT (../shared/reference/det/dat_base.config.json).
    "dat_base": DeTConfig(
        dim_stem=128, dims=(128, 256, 512, 1024), depths=(2, 2, 18, 2),
        stage_spec=(("L", "S"), ("L", "S"), _D9, ("L", "D")), heads=(4, 8, 16, 32), groups=(-1, -1, 4, 8),
        drop_path_rate=0.5,
    ),
}


def resolve_config(cfg: str | Mapping[str, Any] | DeTConfig, **overrides: Any) -> DeTConfig:
    """A config from a name in ``DET_CONFIGS``, a dict with the published keys, or a ``DeTConfig``."""
    if isinstance(cfg, DeTConfig):
        base = cfg
    elif isinstance(cfg, str):
        if cfg not in DET_CONFIGS:
            raise ValueError(f"unknown DeT config {cfg!r}; expected one of {sorted(DET_CONFIGS)} or a dict")
        base = DET_CONFIGS[cfg]
    elif isinstance(cfg, Mapping):
        base = DeTConfig.from_dict(cfg)
    else:
        raise TypeError(f"cfg must be a config name, a dict or a DeTConfig, got {type(cfg).__name__}")
    if overrides:
        base = DeTConfig.from_dict({**base.to_dict(), **base.extra, **overrides})
    return base


def image_size_fits(cfg: DeTConfig, image_size: int) -> bool:
    """Whether ``image_size`` pixels go through every stage: the patch stem and the three 2x2 down projections
    divide it evenly, and each window-attention stage's feature map is a whole number of windows.

    >>> image_size_fits(DET_CONFIGS["dat_tiny"], 224), image_size_fits(DET_CONFIGS["dat_tiny"], 256)
    (True, False)
    """
    if image_size <= 0 or image_size % (cfg.patch_size * 8):
        return False
    for index, letters in enumerate(cfg.stage_spec):
        fmap = image_size // cfg.patch_size // 2 ** index
        if any(letter in ("L", "S") for letter in letters) and fmap % cfg.window_sizes[index]:
            return False
    return True


def valid_image_sizes(cfg: DeTConfig, largest: int = 1024) -> list[int]:
    """Every input size up to ``largest`` pixels that ``cfg`` accepts (:func:`image_size_fits`).

    >>> valid_image_sizes(DET_CONFIGS["dat_tiny"])
    [224, 448, 672, 896]
    """
    return [size for size in range(cfg.patch_size * 8, largest + 1, cfg.patch_size * 8) if image_size_fits(cfg, size)]
