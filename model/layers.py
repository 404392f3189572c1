"""DeT layers: window attention (local / shifted), delegate attention, MLP, soft hue histogram.

Every layer works on channels-last token maps ``(B, H, W, C)``, so LayerNorm, the MLP and the 1x1 projections
are plain ``F.linear`` calls with no layout shuffles. Parameters keep the names and shapes of the published
code (DAT v1 ``models/dat_blocks.py`` as modified by ICAA17K's ``ICAA17K_code/models/dat_blocks.py``), so
official state dicts load with ``strict=True``; e.g. the 1x1 convolutions keep their ``(C, C, 1, 1)`` weights.

References
----------
Xia, Pan, Song, Li, Huang, "Vision Transformer with Deformable Attention", CVPR 2022 (DAT).
He, Ming, Li, Sun, Zheng, Ma, "Thinking Image Color Aesthetics Assessment: Models, Datasets and
Benchmarks", ICCV 2023 (DeT: delegate attention, Eq. 2-4; colour-space segmentation, Eq. 5).
Liu et al., "Swin Transformer", ICCV 2021 (window attention, relative position bias, shifted windows).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DropPath",
    "LayerNormProxy",
    "TransformerMLP",
    "LocalAttention",
    "ShiftWindowAttention",
    "DelegateAttention",
    "SoftHistogram",
    "attention",
    "GATE_SHARPNESS",
    "NEAR_OFFSET_SCALE",
]

GATE_SHARPNESS = -99999.0
"""alpha of the gate ``sigmoid(alpha * Net_g(X))`` in the published code: large enough to make it 0/1."""

NEAR_OFFSET_SCALE = 0.25
"""Published quirk: an offset is scaled by this wherever it and its reference point differ in sign (x or y)."""


def _dropout(rate: float) -> nn.Module:
    """Dropout, or Identity at rate 0 (no parameters either way, so state-dict keys are unchanged)."""
    return nn.Dropout(rate) if rate > 0 else nn.Identity()


class _SoftmaxFlushSubnormal(torch.autograd.Function):
    """Softmax over the last dim with weights below the smallest normal float (``finfo.tiny``, 1.2e-38 in
    float32) set to 0, and its exact backward for those weights.

    The shifted-window mask adds -100 to cross-region pairs, so about half of those blocks' weights come out
    near exp(-100) ~ 4e-44: subnormal numbers, on which x86 matrix multiplies run many times slower (with them,
    forward+backward of a dat_base stage-I shifted block took 54 ms on a 2-core Xeon, 23 ms without; the
    published code pays this). Flushed, they change a weight by less than 1.2e-38; the gradient uses the
    flushed weights too, so the backward matmuls see no subnormals either. (CPU SDPA, the inference path, is
    not slowed by them.)
    """

    @staticmethod
    def forward(scores: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(scores, dim=-1)
        return F.threshold(weights, torch.finfo(weights.dtype).tiny, 0.0, inplace=True)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (weights,) = ctx.saved_tensors
        return torch._softmax_backward_data(grad, weights, -1, weights.dtype)


def _fused_attention(bias: torch.Tensor | None, q: torch.Tensor) -> bool:
    """Whether :func:`attention` runs ``scaled_dot_product_attention`` (else batched matmuls and a softmax)."""
    return bias is None or not (bias.requires_grad and torch.is_grad_enabled()) or q.device.type != "cpu"


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
              dropout_p: float = 0.0) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d) + bias) v`` for ``(N, heads, L, d)`` tensors and a 4-D additive ``bias``.

    ``scaled_dot_product_attention`` does it, except when the bias needs a gradient on CPU: there its
    fused kernel does not apply and its generic fallback adds passes (a fully-masked-row check) that this
    plain sequence of batched matmuls and one softmax avoids. That softmax flushes subnormal weights to 0
    (:class:`_SoftmaxFlushSubnormal`).
    """
    if _fused_attention(bias, q):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
    scores = torch.matmul(q * (q.shape[-1] ** -0.5), k.transpose(-2, -1))
    weights = _SoftmaxFlushSubnormal.apply(scores + bias)
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p)
    return torch.matmul(weights, v)


def _trunc_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


class DropPath(nn.Module):
    """Stochastic depth per sample (Huang et al. 2016), identity in eval mode or at rate 0."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class LayerNormProxy(nn.Module):
    """LayerNorm over channels; holds ``.norm`` as the published ``LayerNormProxy`` does (key ``*.norm.*``).

    Input and output ``(..., C)`` (channels last).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class TransformerMLP(nn.Module):
    """Linear -> GELU -> Linear, ``(B, H, W, C) -> (B, H, W, C)``; keys ``chunk.linear1`` / ``chunk.linear2``."""

    def __init__(self, channels: int, expansion: int, drop: float) -> None:
        super().__init__()
        self.chunk = nn.Sequential()
        self.chunk.add_module("linear1", nn.Linear(channels, channels * expansion))
        self.chunk.add_module("act", nn.GELU())
        self.chunk.add_module("drop1", _dropout(drop))
        self.chunk.add_module("linear2", nn.Linear(channels * expansion, channels))
        self.chunk.add_module("drop2", _dropout(drop))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.chunk
        hidden = c.linear1(x)
        if torch.is_grad_enabled():
            hidden = c.act(hidden)
        else:
            # inference: GELU in place saves allocating (and page-faulting) the widest tensor of the block
            hidden = torch.ops.aten.gelu_(hidden)
        return c.drop2(c.linear2(c.drop1(hidden)))


def _relative_position_index(window: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


class LocalAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping ``window x window`` windows with a learned relative
    position bias (Swin). ``(B, H, W, C) -> (B, H, W, C)``; H and W must be multiples of the window.

    The bias (and the shifted-window mask) go to ``scaled_dot_product_attention`` as an additive ``attn_mask``,
    which is the same sum the published einsum code forms before its softmax.
    """

    def __init__(self, dim: int, heads: int, window_size: int, attn_drop: float, proj_drop: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.window_size = int(window_size)
        self.proj_qkv = nn.Linear(dim, 3 * dim)
        self.proj_out = nn.Linear(dim, dim)
        self.attn_drop = float(attn_drop)
        self.proj_drop = _dropout(proj_drop)
        n = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * n - 1) ** 2, heads))
        _trunc_normal_(self.relative_position_bias_table, std=0.01)
        self.register_buffer("relative_position_index", _relative_position_index(n))

    def _bias(self, like: torch.Tensor) -> torch.Tensor:
        """``(heads, N, N)`` relative position bias in the compute dtype of ``like`` (autocast's if on)."""
        n2 = self.window_size ** 2
        table = self.relative_position_bias_table
        bias = table[self.relative_position_index.view(-1)].view(n2, n2, -1).permute(2, 0, 1)
        device = like.device.type
        return bias.to(torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else like.dtype)

    def _check(self, x: torch.Tensor) -> tuple[int, int]:
        b, h, w, c = x.shape
        n = self.window_size
        if h % n or w % n:
            raise ValueError(f"feature map {h}x{w} is not a multiple of the {n}x{n} window; use an input size "
                             f"divisible by {n * 32} pixels (224 for the published configs)")
        return h // n, w // n

    def _attend(self, windows: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``windows``: ``(B, nW * N, C)`` tokens in window order -> attention output, same shape and order."""
        b, _, c = windows.shape
        n2 = self.window_size ** 2
        heads, hd = self.heads, c // self.heads
        # qkv on the windowed tokens; q, k, v are strided views of it (no copy): CPU SDPA reads any strides
        # with a unit last one, and returns its output token-major, so the way back is a view too.
        qkv = self.proj_qkv(windows).view(-1, n2, 3, heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B*nW, heads, N, hd)
        bias = self._bias(windows)
        if mask is None:
            bias = bias.unsqueeze(0)  # (1, heads, N, N), broadcast over windows
        else:
            # (B*nW, heads, N, N) formed in one broadcast add (a 5-D call would leave the fused kernel)
            nw = mask.shape[0]
            bias = (mask.to(bias.dtype).view(1, nw, 1, n2, n2) + bias.unsqueeze(0)).expand(b, -1, -1, -1, -1)
            bias = bias.reshape(b * nw, heads, n2, n2)
        if not _fused_attention(bias, q):
            # the matmul path needs each of q, k, v in one piece: one copy of qkv rather than three
            q, k, v = qkv.contiguous().unbind(0)
        out = attention(q, k, v, bias, self.attn_drop if self.training else 0.0)
        out = out.transpose(1, 2).reshape(b, -1, c)
        return self.proj_drop(self.proj_out(out))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        """``x``: ``(B, H, W, C)``. Returns ``(out (B, H, W, C), None, None)`` like the other attentions."""
        b, h, w, c = x.shape
        r1, r2 = self._check(x)
        n = self.window_size
        if _fused_attention(self.relative_position_bias_table, x):
            # SDPA reads strided q, k, v: cut the C-wide map into windows (one copy; the 3C-wide qkv is never
            # reordered), and back in one copy.
            windows = x.view(b, r1, n, r2, n, c).transpose(2, 3).reshape(b, h * w, c)
            out = self._attend(windows, None)
            return out.view(b, r1, r2, n, n, c).transpose(2, 3).reshape(b, h, w, c), None, None
        # The matmul path needs q, k, v in one piece each: qkv on the map, then one copy cuts it into windows,
        # heads first, and one copy brings the heads and windows back to the map.
        heads, hd = self.heads, c // self.heads
        qkv = self.proj_qkv(x).view(b, r1, n, r2, n, 3, heads, hd)
        q, k, v = qkv.permute(5, 0, 1, 3, 6, 2, 4, 7).reshape(3, b * r1 * r2, heads, n * n, hd).unbind(0)
        out = attention(q, k, v, self._bias(x).unsqueeze(0), self.attn_drop if self.training else 0.0)
        out = out.view(b, r1, r2, heads, n, n, hd).permute(0, 1, 4, 2, 5, 3, 6).reshape(b, h, w, c)
        return self.proj_drop(self.proj_out(out)), None, None


class _PermuteTokens(torch.autograd.Function):
    """``out[:, i] = x[:, index[i]]`` for a permutation ``index``; its gradient is the gather by the inverse
    permutation (``index_select``'s own backward would zero-fill and scatter-add)."""

    @staticmethod
    def forward(x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, index)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[2])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(1, inverse), None, None


class ShiftWindowAttention(LocalAttention):
    """Window attention on the map rolled by ``shift_size`` (Swin); cross-region pairs get -100 added, as in
    the published code (a finite value, not -inf: kept for conformance).

    The roll and the cut into windows are one gather of the tokens by a precomputed permutation (and the way
    back one gather by its inverse) instead of four roll copies and two window copies.
    """

    def __init__(self, dim: int, heads: int, window_size: int, attn_drop: float, proj_drop: float,
                 shift_size: int, fmap_size: int) -> None:
        super().__init__(dim, heads, window_size, attn_drop, proj_drop)
        if not 0 < shift_size < self.window_size:
            raise ValueError(f"shift size {shift_size} must be in 1..{self.window_size - 1}")
        self.shift_size = int(shift_size)
        self.fmap_size = int(fmap_size)
        n, s = self.window_size, self.shift_size
        region = torch.zeros(fmap_size, fmap_size)
        slices = (slice(0, -n), slice(-n, -s), slice(-s, None))
        for i, hs in enumerate(slices):
            for j, ws in enumerate(slices):
                region[hs, ws] = i * 3 + j
        r = fmap_size // n
        region = region.view(r, n, r, n).permute(0, 2, 1, 3).reshape(r * r, n * n)
        diff = region.unsqueeze(1) - region.unsqueeze(2)
        self.register_buffer("attn_mask", torch.where(diff != 0, -100.0, 0.0))
        # token t of the window order (of the map rolled by -s) is raster token index[t] of the input map;
        # not saved in state dicts (derived from the config)
        raster = torch.arange(fmap_size * fmap_size).view(fmap_size, fmap_size)
        index = torch.roll(raster, shifts=(-s, -s), dims=(0, 1)).view(r, n, r, n).transpose(1, 2).reshape(-1)
        self.register_buffer("token_index", index, persistent=False)
        self.register_buffer("token_inverse", torch.argsort(index), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        b, h, w, c = x.shape
        self._check(x)
        if h != self.fmap_size or w != self.fmap_size:
            raise ValueError(f"shifted-window attention was built for a {self.fmap_size}x{self.fmap_size} map, "
                             f"got {h}x{w}; build the model with img_size matching the input")
        windows = _PermuteTokens.apply(x.reshape(b, h * w, c), self.token_index, self.token_inverse)
        out = self._attend(windows, self.attn_mask)
        return _PermuteTokens.apply(out, self.token_inverse, self.token_index).view(b, h, w, c), None, None


def _as_linear(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    return conv.weight.flatten(1), conv.bias


class DelegateAttention(nn.Module):
    """Delegate ("deformable gate") attention of DeT: DAT's deformable attention whose reference points come
    from a learned 1x1 conv (``ref_point14``, Net_i) and pass a hard gate (``ref_gate``, Net_g).

    For each query map ``x`` (``(B, H, W, C)``):

    - offsets: DAT's depthwise-conv offset net per group, ``tanh`` bounded to ``offset_range_factor / size``;
    - reference ``r = tanh(Net_i(x))`` and gate ``g = sigmoid(-99999 * Net_g(x))``; in ``batch`` mode the
      conv outputs are averaged over the batch first (the published behaviour), in ``per_image`` mode not;
    - offsets whose sign differs from the reference's in x or y are scaled by 0.25 (published quirk, computed
      on the device here instead of through numpy; it carries no gradient in either);
    - points ``p = (offset + r) * g``; keys/values are bilinearly sampled at ``p``; attention adds DAT's
      relative position bias sampled from ``rpe_table`` at the query-to-point displacement.

    Returns ``(out (B, H, W, C), points (B, G, H, W, 2), references (B, G, H, W, 2))``; points are (y, x)
    in [-1, 1] coordinates, as the published code returns them.
    """

    def __init__(self, fmap_size: int, heads: int, head_channels: int, groups: int, attn_drop: float,
                 proj_drop: float, stride: int, offset_range_factor: float, use_pe: bool, stage_index: int,
                 reference_mode: str = "per_image") -> None:
        super().__init__()
        if stride != 1:
            raise ValueError(f"delegate attention samples one point per query (stride 1), got stride {stride}")
        self.n_heads = heads
        self.n_head_channels = head_channels
        self.nc = heads * head_channels
        self.n_groups = groups
        if self.nc % groups or heads % groups:
            raise ValueError(f"{heads} heads / {self.nc} channels do not split into {groups} groups")
        self.n_group_channels = self.nc // groups
        self.n_group_heads = heads // groups
        self.fmap_size = int(fmap_size)
        self.offset_range_factor = float(offset_range_factor)
        self.use_pe = bool(use_pe)
        self.attn_drop = float(attn_drop)
        self.reference_mode = reference_mode
        kk = (9, 7, 5, 3)[stage_index]
        gc = self.n_group_channels
        self.conv_offset = nn.Sequential(
            nn.Conv2d(gc, gc, kk, stride, kk // 2, groups=gc),
            LayerNormProxy(gc),
            nn.GELU(),
            nn.Conv2d(gc, 2, 1, 1, 0, bias=False),
        )
        self.proj_q = nn.Conv2d(self.nc, self.nc, 1)
        self.proj_k = nn.Conv2d(self.nc, self.nc, 1)
        self.proj_v = nn.Conv2d(self.nc, self.nc, 1)
        self.proj_out = nn.Conv2d(self.nc, self.nc, 1)
        self.proj_drop = _dropout(proj_drop)
        if self.use_pe:
            self.rpe_table = nn.Parameter(torch.zeros(heads, 2 * self.fmap_size - 1, 2 * self.fmap_size - 1))
            _trunc_normal_(self.rpe_table, std=0.01)
        else:
            self.rpe_table = None
        self.ref_point14 = nn.Conv2d(self.nc, 2, 1)
        self.ref_gate = nn.Conv2d(self.nc, 1, 1)

    @property
    def reference_mode(self) -> str:
        return self._reference_mode

    @reference_mode.setter
    def reference_mode(self, mode: str) -> None:
        if mode not in ("per_image", "batch"):
            raise ValueError(f"reference_mode must be 'per_image' or 'batch', got {mode!r}")
        self._reference_mode = mode

    @staticmethod
    def _grid(h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Pixel-centre grid in [-1, 1], (y, x) last, ``(H, W, 2)`` (DAT v1 ``_get_ref_points``)."""
        ys = (torch.arange(h, dtype=dtype, device=device) + 0.5) / h * 2 - 1
        xs = (torch.arange(w, dtype=dtype, device=device) + 0.5) / w * 2 - 1
        return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1)

    def _points(self, x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling points and references, both ``(B, G, H, W, 2)`` float32 (y, x)."""
        b, h, w, _ = x.shape
        g, gc = self.n_groups, self.n_group_channels
        # Offsets: depthwise conv on each group's channels (channels-last view, no copy), LN, GELU, 1x1 -> 2.
        q_off = q.float().view(b, h, w, g, gc).permute(0, 3, 4, 1, 2).reshape(b * g, gc, h, w)
        off = self.conv_offset[0](q_off).permute(0, 2, 3, 1)
        off = self.conv_offset[2](self.conv_offset[1](off))
        off = F.linear(off, self.conv_offset[3].weight.flatten(1))  # B*G, H, W, 2
        if self.offset_range_factor > 0:
            # (y, x) bounds factor/H and factor/W, built on the device (no host-to-device copy)
            scale = torch.stack((off.new_full((), self.offset_range_factor / h),
                                 off.new_full((), self.offset_range_factor / w)))
            off = off.tanh() * scale
        off = off.view(b, g, h, w, 2)
        # Offsets, reference points and gate run in float32 (the caller disables autocast): the 0/1 gate and
        # the sign mask must not flip with rounding. These convs are a small share of the work.
        # Net_i (2 outputs) and Net_g (1 output) in one 3-output matmul: one pass over x instead of two.
        weight = torch.cat((self.ref_point14.weight.flatten(1), self.ref_gate.weight.flatten(1))).float()
        bias = torch.cat((self.ref_point14.bias, self.ref_gate.bias)).float()
        ref, gate = F.linear(x.float(), weight, bias).split((2, 1), dim=-1)
        if self._reference_mode == "batch":
            ref = ref.mean(0, keepdim=True)
            gate = gate.mean(0, keepdim=True)
        ref = ref.tanh().unsqueeze(1)  # B|1, 1, H, W, 2
        gate = (gate * GATE_SHARPNESS).sigmoid().unsqueeze(1)
        prod = off * ref
        same_sign = ((prod[..., :1] > 0) & (prod[..., 1:] > 0))
        off = torch.where(same_sign, off, off * NEAR_OFFSET_SCALE)
        pos = (off + ref) * gate
        return pos, ref.expand(b, g, h, w, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x``: ``(B, H, W, C)`` -> ``(out (B, H, W, C), points (B, G, H, W, 2), references (B, G, H, W, 2))``."""
        b, h, w, c = x.shape
        g, gc, nh, hc = self.n_groups, self.n_group_channels, self.n_heads, self.n_head_channels
        if h != self.fmap_size or w != self.fmap_size:
            raise ValueError(f"delegate attention was built for a {self.fmap_size}x{self.fmap_size} map, got "
                             f"{h}x{w}; build the model with img_size matching the input")
        q = F.linear(x, *_as_linear(self.proj_q))  # B, H, W, C
        with torch.autocast(x.device.type, enabled=False):
            pos, ref = self._points(x, q)
        ns = h * w
        grid = pos.flip(-1).reshape(b * g, h, w, 2)  # (y, x) -> (x, y) for grid_sample
        x_groups = x.view(b, h, w, g, gc).permute(0, 3, 4, 1, 2).reshape(b * g, gc, h, w)
        sampled = F.grid_sample(x_groups, grid.to(x_groups.dtype), mode="bilinear", align_corners=True)
        sampled = sampled.view(b, c, ns).transpose(1, 2).contiguous()  # B, Ns, C: one copy for both k and v
        k = F.linear(sampled, *_as_linear(self.proj_k))
        v = F.linear(sampled, *_as_linear(self.proj_v))
        qh = q.view(b, ns, nh, hc).transpose(1, 2)
        kh = k.view(b, ns, nh, hc).transpose(1, 2)
        vh = v.view(b, ns, nh, hc).transpose(1, 2)
        bias = None
        if self.use_pe:
            # (query - point) / 2 in (x, y) order, formed in one pass over the large (B*G, HW, Ns, 2)
            # tensor: halving the small operands first is exact in binary floating point. The pass runs
            # coordinate-first, (B*G, 2, HW, Ns), along contiguous rows (an innermost dim of 2 is several times
            # slower); grid_sample reads the (x, y) pairs of the permuted view through its strides.
            q_half = (self._grid(h, w, pos.dtype, pos.device).flip(-1).view(ns, 2).t() * 0.5).reshape(1, 2, ns, 1)
            p_half = (grid.view(b * g, ns, 2).transpose(1, 2) * 0.5).reshape(b * g, 2, 1, ns)
            displacement = (q_half - p_half).permute(0, 2, 3, 1)  # B*G, HW(query), Ns, 2
            table = self.rpe_table.view(1, g, self.n_group_heads, 2 * h - 1, 2 * w - 1)
            table = table.expand(b, -1, -1, -1, -1).reshape(b * g, self.n_group_heads, 2 * h - 1, 2 * w - 1)
            bias = F.grid_sample(table.to(displacement.dtype), displacement, mode="bilinear",
                                 align_corners=True)  # B*G, Hg, HW, Ns
            bias = bias.view(b, nh, ns, ns).to(qh.dtype)
        out = attention(qh, kh, vh, bias, self.attn_drop if self.training else 0.0)
        out = out.transpose(1, 2).reshape(b, h, w, c)
        out = self.proj_drop(F.linear(out, *_as_linear(self.proj_out)))
        return out, pos, ref


class SoftHistogram(nn.Module):
    """Learnable soft histogram of DeT's colour-space segmentation (Eq. 5): for each of ``n_features``
    inputs and ``num_bins`` bins, ``relu(1 + w_i * |x - c_i|)`` with learnable centres ``c`` (the bias of
    ``bin_centers_conv`` is ``-c``) and widths ``w`` (initialised to -12, so ``relu(1 - 12|x - c|)``).

    ``(B, n_features) -> (B, n_features * num_bins)``; output ``j`` is feature ``j // num_bins``, bin
    ``j % num_bins``. Quirks kept for checkpoint compatibility: ``centers`` is a stale copy of the initial
    centres that the published model saves but never reads, and ``widths`` is the very same Parameter as
    ``bin_widths_conv.weight`` (two state-dict keys, one tensor).
    """

    def __init__(self, n_features: int = 36, num_bins: int = 6) -> None:
        super().__init__()
        self.n_features = n_features
        self.num_bins = num_bins
        total = n_features * num_bins
        centres = ((torch.arange(num_bins, dtype=torch.float32) + 0.5) / num_bins).repeat(n_features)
        self.bin_centers_conv = nn.Conv1d(n_features, total, 1, groups=n_features, bias=True)
        self.bin_centers_conv.weight.data.fill_(1.0)
        self.bin_centers_conv.weight.requires_grad_(False)
        self.bin_centers_conv.bias.data.copy_(-centres)
        self.bin_widths_conv = nn.Conv1d(total, total, 1, groups=total, bias=True)
        self.bin_widths_conv.weight.data.fill_(-12.0)
        self.bin_widths_conv.bias.data.fill_(1.0)
        self.bin_widths_conv.bias.requires_grad_(False)
        self.centers = nn.Parameter(centres.clone(), requires_grad=False)  # stale, saved, unused
        self.widths = self.bin_widths_conv.weight  # alias: same tensor under a second key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, n_features)`` -> ``(B, n_features * num_bins)``."""
        # The grouped 1x1 convs are elementwise: x repeated per bin, then affine, abs, affine, relu.
        xb = x.repeat_interleave(self.num_bins, dim=1)
        centred = xb * self.bin_centers_conv.weight.view(-1) + self.bin_centers_conv.bias
        return torch.relu(centred.abs() * self.bin_widths_conv.weight.view(-1) + self.bin_widths_conv.bias)
