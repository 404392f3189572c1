"""Delegate Transformer (DeT): a DAT v1 backbone with delegate attention and a soft hue-histogram head.

Implements He, Ming, Li, Sun, Zheng, Ma, "Thinking Image Color Aesthetics Assessment: Models, Datasets and
Benchmarks", ICCV 2023, on the backbone of Xia, Pan, Song, Li, Huang, "Vision Transformer with Deformable
Attention", CVPR 2022 (DAT v1, ``LeapLabTHU/DAT`` at 566a593). Module names and parameter shapes are those of
the authors' released code, so their checkpoints load with ``strict=True``; the forward pass is rewritten
(channels-last tokens, ``scaled_dot_product_attention``, no host round-trips) and reproduces the published
outputs (``../shared/reference/det/det_micro_fixture.pt``) within ``CONFORMANCE_TOLERANCES``.

Example
-------
>>> import torch
>>> from icaa.model import DeT
>>> model = DeT.from_config("dat_tiny").eval()
>>> with torch.no_grad():
...     scores = model(torch.randn(2, 3, 224, 224))   # (2, 2): [overall, colour] in 0..1
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from icaa.model.config import REFERENCE_MODES, DeTConfig, resolve_config
from icaa.model.layers import (
    DelegateAttention,
    DropPath,
    LayerNormProxy,
    LocalAttention,
    ShiftWindowAttention,
    SoftHistogram,
    TransformerMLP,
)

__all__ = ["DeT", "TransformerStage", "CONFORMANCE_TOLERANCES", "conformance_tolerance"]

# Max |difference| to the published model's outputs (scores in 0..1) that each execution mode guarantees on
# the micro fixture; the conformance tests read this table. Keys: (compute dtype under autocast, reference
# mode). channels_last inputs and torch.compile keep the float32 rows. Measured on the fixture (CPU): float32
# <= 2e-7, bfloat16 <= 3.4e-3, float16 <= 4e-4; the table leaves about 3x headroom. Offsets, reference points
# and the gate always run in float32, so reduced precision never flips a gate.
CONFORMANCE_TOLERANCES: dict[tuple[str, str], float] = {
    ("float32", "batch"): 1e-5,
    ("float32", "per_image"): 1e-5,
    ("bfloat16", "batch"): 1e-2,
    ("bfloat16", "per_image"): 1e-2,
    ("float16", "batch"): 2e-3,
    ("float16", "per_image"): 2e-3,
}


def conformance_tolerance(dtype: str | torch.dtype = "float32", reference_mode: str = "per_image") -> float:
    """The tolerance of ``CONFORMANCE_TOLERANCES`` for a compute dtype and reference mode."""
    name = str(dtype).replace("torch.", "")
    try:
        return CONFORMANCE_TOLERANCES[(name, reference_mode)]
    except KeyError:
        raise ValueError(f"no conformance tolerance for dtype {name!r} and mode {reference_mode!r}; known: "
                         f"{sorted(CONFORMANCE_TOLERANCES)}") from None


def _patch_linear(x: torch.Tensor, conv: nn.Conv2d, channels_first: bool = False) -> torch.Tensor:
    """``conv`` (kernel = stride, no padding: the stem and the down projections) as one matmul over the
    non-overlapping patches of ``x`` -> ``(B, H/k, W/k, C_out)``, channels last.

    ``x`` is ``(B, H, W, C)``, or ``(B, C, H, W)`` with ``channels_first``. A convolution on the channels-last
    map converts its weight to channels-last on every call (and again in the backward pass) and returns a map
    that needs a copy back; here one copy makes the patches, in the order that makes the smaller copy: (kh, kw,
    C) with a reordered weight when the weight is smaller than the map, (C, kh, kw), the weight's own order,
    when it is not (the late, wide stages); (kh, kw, C) always for a channels-last weight, whose reorder is
    then a view.
    """
    kh, kw = conv.kernel_size
    if tuple(conv.stride) != (kh, kw) or any(conv.padding) or tuple(conv.dilation) != (1, 1) or conv.groups != 1:
        # not a patch projection (a config with overlapping or padded convolutions): the convolution itself
        out = conv(x if channels_first else x.permute(0, 3, 1, 2))
        return out.permute(0, 2, 3, 1).contiguous()
    if channels_first:
        b, c, h, w = x.shape
        ho, wo = h // kh, w // kw
        x = x[:, :, :ho * kh, :wo * kw]  # what the strided conv reads (no-op for the usual sizes)
        patches = x.reshape(b, c, ho, kh, wo, kw).permute(0, 2, 4, 1, 3, 5).reshape(b, ho, wo, c * kh * kw)
        return F.linear(patches, conv.weight.reshape(conv.out_channels, -1), conv.bias)
    b, h, w, c = x.shape
    ho, wo = h // kh, w // kw
    x = x[:, :ho * kh, :wo * kw]
    weight_cl = conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    if not weight_cl and conv.weight.numel() > 2 * x.numel():
        patches = x.reshape(b, ho, kh, wo, kw, c).permute(0, 1, 3, 5, 2, 4).reshape(b, ho, wo, c * kh * kw)
        return F.linear(patches, conv.weight.view(conv.out_channels, -1), conv.bias)
    patches = x.reshape(b, ho, kh, wo, kw, c).transpose(2, 3).reshape(b, ho, wo, kh * kw * c)
    return F.linear(patches, conv.weight.permute(0, 2, 3, 1).reshape(conv.out_channels, -1), conv.bias)


class TransformerStage(nn.Module):
    """One DAT stage: ``depth`` blocks of (norm, attention, residual, norm, MLP, residual).

    ``(B, H, W, C) -> (B, H, W, C)`` plus per-block sampling points / references (``None`` for window blocks).
    """

    def __init__(self, cfg: DeTConfig, index: int, fmap_size: int, drop_path: list[float],
                 reference_mode: str) -> None:
        super().__init__()
        dim = cfg.dims[index]
        heads = cfg.heads[index]
        depth = cfg.depths[index]
        dim_in = cfg.dim_stem if index == 0 else cfg.dims[index - 1] * 2
        if dim_in != dim:
            raise ValueError(f"stage {index}: input width {dim_in} differs from dims[{index}] = {dim}; DAT v1 "
                             "configs use dims[i] = 2 * dims[i-1] and dim_stem = dims[0]")
        self.depth = depth
        self.layer_norms = nn.ModuleList([LayerNormProxy(dim) for _ in range(2 * depth)])
        self.mlps = nn.ModuleList([TransformerMLP(dim, cfg.expansion, cfg.drop_rate) for _ in range(depth)])
        self.attns = nn.ModuleList()
        window = cfg.window_sizes[index]
        for letter in cfg.stage_spec[index]:
            if letter == "L":
                attn = LocalAttention(dim, heads, window, cfg.attn_drop_rate, cfg.drop_rate)
            elif letter == "S":
                attn = ShiftWindowAttention(dim, heads, window, cfg.attn_drop_rate, cfg.drop_rate,
                                            math.ceil(window / 2), fmap_size)
            else:
                attn = DelegateAttention(fmap_size, heads, dim // heads, cfg.groups[index], cfg.attn_drop_rate,
                                         cfg.drop_rate, cfg.strides[index], cfg.offset_range_factor[index],
                                         cfg.use_pes[index], index, reference_mode)
            self.attns.append(attn)
        self.drop_path = nn.ModuleList([DropPath(rate) for rate in drop_path])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list, list]:
        positions, references = [], []
        for d in range(self.depth):
            y, pos, ref = self.attns[d](self.layer_norms[2 * d](x))
            # Residuals add in place into the branch output (a fresh tensor that autograd did not save),
            # which saves one large allocation per add.
            x = self.drop_path[d](y).add_(x)
            x = self.drop_path[d](self.mlps[d](self.layer_norms[2 * d + 1](x))).add_(x)
            positions.append(pos)
            references.append(ref)
        return x, positions, references


class DeT(nn.Module):
    """Delegate Transformer: image ``(B, 3, H, W)`` (ImageNet-normalised, 224 px for the published configs)
    -> scores ``(B, 2 * num_classes)`` in 0..1, ``[overall, colour]`` for ``num_classes = 1``.

    Build with :meth:`from_config`. ``reference_mode`` chooses how delegate points are computed:
    ``"per_image"`` (default; a score never depends on the other images of the batch) or ``"batch"``
    (reference points and gate averaged over the batch, exactly as the published model does).
    """

    def __init__(self, cfg: DeTConfig, reference_mode: str = "per_image") -> None:
        super().__init__()
        if reference_mode not in REFERENCE_MODES:
            raise ValueError(f"reference_mode must be one of {REFERENCE_MODES}, got {reference_mode!r}")
        self.cfg = cfg
        self._reference_mode = reference_mode
        self.patch_proj = nn.Sequential(
            nn.Conv2d(3, cfg.dim_stem, cfg.patch_size, cfg.patch_size, 0),
            LayerNormProxy(cfg.dim_stem),
        )
        fmap = cfg.img_size // cfg.patch_size
        rates = torch.linspace(0, cfg.drop_path_rate, sum(cfg.depths)).tolist()
        self.stages = nn.ModuleList()
        for i in range(4):
            start = sum(cfg.depths[:i])
            self.stages.append(TransformerStage(cfg, i, fmap, rates[start:start + cfg.depths[i]], reference_mode))
            fmap //= 2
        self.down_projs = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cfg.dims[i], cfg.dims[i + 1], 2, 2, 0, bias=False),
                          LayerNormProxy(cfg.dims[i + 1]))
            for i in range(3)
        ])
        self.cls_norm = LayerNormProxy(cfg.dims[-1])
        # DAT's classification head: DeT's forward never reads it, but official checkpoints hold it. Frozen,
        # so optimisers skip it and DDP does not wait for its gradient.
        self.cls_head = nn.Linear(cfg.dims[-1], cfg.num_classes)
        self.cls_head.requires_grad_(False)
        self.hst_head = nn.Linear(cfg.head_in_features, cfg.hist_num_features)
        self.hist_feature = SoftHistogram(cfg.hist_num_features, cfg.hist_num_bins)
        hist_width = cfg.hist_num_features * cfg.hist_num_bins
        self.class_head = nn.Linear(hist_width, cfg.num_classes)  # overall aesthetics
        self.class_head2 = nn.Linear(hist_width, cfg.num_classes)  # colour aesthetics
        self._init_weights()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, cfg: str | Mapping[str, Any] | DeTConfig = "dat_base", reference_mode: str = "per_image",
                    **overrides: Any) -> "DeT":
        """Build from a config name (``dat_tiny``, ``dat_small``, ``dat_base``), a dict with the published
        config keys (e.g. ``json.load`` of ``dat_base.config.json``) or a :class:`DeTConfig`; keyword
        overrides replace config fields (``drop_path_rate=0.1``, ``hist_in_features=1024``)."""
        return cls(resolve_config(cfg, **overrides), reference_mode=reference_mode)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear) and m is not self.hst_head:
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for head in (self.class_head, self.class_head2):
            nn.init.normal_(head.weight, std=0.02)

    @property
    def reference_mode(self) -> str:
        return self._reference_mode

    @reference_mode.setter
    def reference_mode(self, mode: str) -> None:
        if mode not in REFERENCE_MODES:
            raise ValueError(f"reference_mode must be one of {REFERENCE_MODES}, got {mode!r}")
        self._reference_mode = mode
        for m in self.modules():
            if isinstance(m, DelegateAttention):
                m.reference_mode = mode

    def no_weight_decay_keywords(self) -> set[str]:
        """Parameter-name fragments that optimisers should exclude from weight decay (as DAT does)."""
        return {"relative_position_bias_table", "rpe_table", "hist_feature", "norm"}

    # ------------------------------------------------------------------ forward
    def forward_features(self, x: torch.Tensor, return_points: bool = False):
        """``x``: ``(B, 3, H, W)`` -> normalised final feature map ``(B, H/32, W/32, dims[-1])`` (channels
        last); with ``return_points``, also per-stage lists of sampling points and references, each
        ``(B, G, h, w, 2)`` for delegate blocks and ``None`` for window blocks."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        x = self.patch_proj[1](_patch_linear(x, self.patch_proj[0], channels_first=True))
        positions, references = [], []
        for i, stage in enumerate(self.stages):
            x, pos, ref = stage(x)
            positions.append(pos)
            references.append(ref)
            if i < 3:
                down = self.down_projs[i]
                x = down[1](_patch_linear(x, down[0]))
        x = self.cls_norm(x)
        if return_points:
            return x, positions, references
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``x``: ``(B, h, w, C)`` from :meth:`forward_features` -> ``(B, 2 * num_classes)`` scores in 0..1
        (``pre_logits``: the ``(B, 216)`` hue-histogram features instead)."""
        if x.shape[-1] != self.hst_head.in_features:
            raise ValueError(f"the hue head takes {self.hst_head.in_features} features but the backbone gives "
                             f"{x.shape[-1]}: this config reproduces the published head, which hard-codes "
                             "1024 inputs and so only runs with dat_base; rebuild with hist_in_features=None")
        pooled = x.mean(dim=(1, 2))
        hist = self.hist_feature(self.hst_head(pooled))
        if pre_logits:
            return hist
        return torch.cat([torch.sigmoid(self.class_head(hist)), torch.sigmoid(self.class_head2(hist))], dim=1)

    def forward(self, x: torch.Tensor, return_points: bool = False):
        """``x``: ``(B, 3, H, W)`` -> ``(B, 2)`` ``[overall, colour]`` in 0..1; with ``return_points``,
        ``(scores, positions, references)`` where ``positions[i][j]`` is block ``j`` of stage ``i``."""
        if return_points:
            feats, positions, references = self.forward_features(x, return_points=True)
            return self.forward_head(feats), positions, references
        return self.forward_head(self.forward_features(x))
