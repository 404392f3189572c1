"""DeT throughput: icaa's DeT against a reference path that follows the published code's structure.

The reference (``ReferenceDeT`` below) is written the way the authors' ``ICAA17K_code/models/dat*.py`` compute:
NCHW maps, ``einops`` rearranges around every LayerNorm and MLP, einsum attention with an explicit softmax,
1x1 ``Conv2d`` projections, the delegate sign mask computed on the host through numpy (a device->host copy
and sync per delegate block), batch-averaged reference points and gate, eager float32. It uses the same
module names, so both models load the same weights. Each run first checks that the two give the same
scores (``allclose``, batch mode, float32), then times forward (eval, no grad) and forward+backward (train,
MSE loss) side by side and prints images/s and the ratio.

Examples::

    python benchmarks/det_speed.py                       # CPU, tiny and base, batch 2, short
    python benchmarks/det_speed.py --sizes dat_tiny --batch 8 --iters 5
    python benchmarks/det_speed.py --device cuda --batch 32 --dtype bfloat16 --compile
"""

from __future__ import annotations

import argparse
import math
import time

import einops
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from icaa.model import DeT
from icaa.model.config import resolve_config


# ----------------------------------------------------------------------------------------- reference path
class RefLayerNormProxy(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = einops.rearrange(x, "b c h w -> b h w c")
        x = self.norm(x)
        return einops.rearrange(x, "b h w c -> b c h w")


class RefMLP(nn.Module):
    def __init__(self, dim, expansion):
        super().__init__()
        self.chunk = nn.Sequential()
        self.chunk.add_module("linear1", nn.Linear(dim, dim * expansion))
        self.chunk.add_module("act", nn.GELU())
        self.chunk.add_module("linear2", nn.Linear(dim * expansion, dim))

    def forward(self, x):
        _, _, h, w = x.size()
        x = einops.rearrange(x, "b c h w -> b (h w) c")
        x = self.chunk(x)
        return einops.rearrange(x, "b (h w) c -> b c h w", h=h, w=w)


class RefLocalAttention(nn.Module):
    def __init__(self, dim, heads, window, shift=0, fmap=0):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.scale = (dim // heads) ** -0.5
        self.proj_qkv = nn.Linear(dim, 3 * dim)
        self.proj_out = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += window - 1
        rel[:, :, 1] += window - 1
        rel[:, :, 0] *= 2 * window - 1
        self.register_buffer("relative_position_index", rel.sum(-1))
        if shift:
            img = torch.zeros(fmap, fmap)
            cnt = 0
            for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                    img[hs, ws] = cnt
                    cnt += 1
            mw = einops.rearrange(img, "(r1 h1) (r2 w1) -> (r1 r2) (h1 w1)", h1=window, w1=window)
            mask = mw.unsqueeze(1) - mw.unsqueeze(2)
            self.register_buffer("attn_mask", mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0))

    def _attend(self, x, mask):
        b, c, h, w = x.size()
        n = self.window
        r1, r2 = h // n, w // n
        t = einops.rearrange(x, "b c (r1 h1) (r2 w1) -> b (r1 r2) (h1 w1) c", h1=n, w1=n)
        t = einops.rearrange(t, "b m n c -> (b m) n c")
        q, k, v = torch.chunk(self.proj_qkv(t), 3, dim=2)
        q = q * self.scale
        q, k, v = [einops.rearrange(z, "b n (h c1) -> b h n c1", h=self.heads) for z in (q, k, v)]
        attn = torch.einsum("b h m c, b h n c -> b h m n", q, k)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n * n, n * n, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if mask is not None:
            nw, ww, _ = mask.size()
            attn = einops.rearrange(attn, "(b n) h w1 w2 -> b n h w1 w2", n=nw, h=self.heads, w1=ww, w2=ww) \
                + mask.reshape(1, nw, 1, ww, ww)
            attn = einops.rearrange(attn, "b n h w1 w2 -> (b n) h w1 w2")
        attn = attn.softmax(dim=3)
        out = torch.einsum("b h m n, b h n c -> b h m c", attn, v)
        out = einops.rearrange(out, "b h n c1 -> b n (h c1)")
        out = self.proj_out(out)
        return einops.rearrange(out, "(b r1 r2) (h1 w1) c -> b c (r1 h1) (r2 w1)", r1=r1, r2=r2, h1=n, w1=n)

    def forward(self, x):
        if not self.shift:
            return self._attend(x, None), None, None
        s = self.shift
        y = self._attend(torch.roll(x, shifts=(-s, -s), dims=(2, 3)), self.attn_mask)
        return torch.roll(y, shifts=(s, s), dims=(2, 3)), None, None


class RefDelegateAttention(nn.Module):
    def __init__(self, fmap, heads, hc, groups, factor, stage):
        super().__init__()
        self.n_heads, self.n_head_channels, self.n_groups = heads, hc, groups
        self.nc = heads * hc
        self.n_group_channels = self.nc // groups
        self.n_group_heads = heads // groups
        self.scale = hc ** -0.5
        self.factor = factor
        kk = (9, 7, 5, 3)[stage]
        gc = self.n_group_channels
        self.conv_offset = nn.Sequential(nn.Conv2d(gc, gc, kk, 1, kk // 2, groups=gc), RefLayerNormProxy(gc),
                                         nn.GELU(), nn.Conv2d(gc, 2, 1, 1, 0, bias=False))
        self.proj_q, self.proj_k, self.proj_v, self.proj_out = (nn.Conv2d(self.nc, self.nc, 1) for _ in range(4))
        self.rpe_table = nn.Parameter(torch.zeros(heads, 2 * fmap - 1, 2 * fmap - 1))
        self.ref_point14 = nn.Conv2d(self.nc, 2, 1)
        self.ref_gate = nn.Conv2d(self.nc, 1, 1)

    def _ref_points(self, h, w, b, dtype, device):
        ref_y, ref_x = torch.meshgrid(torch.linspace(0.5, h - 0.5, h, dtype=dtype, device=device),
                                      torch.linspace(0.5, w - 0.5, w, dtype=dtype, device=device), indexing="ij")
        ref = torch.stack((ref_y, ref_x), -1)
        ref[..., 1].div_(w).mul_(2).sub_(1)
        ref[..., 0].div_(h).mul_(2).sub_(1)
        return ref[None, ...].expand(b * self.n_groups, -1, -1, -1)

    def forward(self, x):
        b, c, h, w = x.size()
        dtype, device = x.dtype, x.device
        q = self.proj_q(x)
        q_off = einops.rearrange(q, "b (g c) h w -> (b g) c h w", g=self.n_groups, c=self.n_group_channels)
        offset = self.conv_offset(q_off)
        hk, wk = offset.size(2), offset.size(3)
        n_sample = hk * wk
        offset_range = torch.tensor([1.0 / hk, 1.0 / wk], device=device).reshape(1, 2, 1, 1)
        offset = offset.tanh().mul(offset_range).mul(self.factor)
        offset = einops.rearrange(offset, "b p h w -> b h w p")
        reference = self.ref_point14(x).mean(dim=0, keepdim=True)
        reference = einops.rearrange(reference, "b p h w -> b h w p").tanh().expand(b * self.n_groups, -1, -1, -1)
        gate = self.ref_gate(x).mean(dim=0, keepdim=True)
        gate = (einops.rearrange(gate, "b p h w -> b h w p") * -99999).sigmoid().expand(b * self.n_groups, -1, -1, -1)
        # the published sign mask, through numpy on the host
        off_x, off_y = [t.detach().cpu().numpy() for t in torch.chunk(offset, 2, dim=3)]
        ref_x, ref_y = [t.detach().cpu().numpy() for t in torch.chunk(reference, 2, dim=3)]
        same = np.where(off_x * ref_x <= 0.0, 0, 1) * np.where(off_y * ref_y <= 0.0, 0, 1)
        manual = np.where(same <= 0.0, 0.25, 1)
        manual = torch.cat((torch.from_numpy(manual), torch.from_numpy(manual)), 3).float().to(device)
        pos = (offset * manual + reference) * gate
        sampled = F.grid_sample(x.reshape(b * self.n_groups, self.n_group_channels, h, w), pos[..., (1, 0)],
                                mode="bilinear", align_corners=True)
        sampled = sampled.reshape(b, c, 1, n_sample)
        q = q.reshape(b * self.n_heads, self.n_head_channels, h * w)
        k = self.proj_k(sampled).reshape(b * self.n_heads, self.n_head_channels, n_sample)
        v = self.proj_v(sampled).reshape(b * self.n_heads, self.n_head_channels, n_sample)
        attn = torch.einsum("b c m, b c n -> b m n", q, k).mul(self.scale)
        rpe = self.rpe_table[None, ...].expand(b, -1, -1, -1)
        q_grid = self._ref_points(h, w, b, dtype, device)
        disp = (q_grid.reshape(b * self.n_groups, h * w, 2).unsqueeze(2)
                - pos.reshape(b * self.n_groups, n_sample, 2).unsqueeze(1)).mul(0.5)
        bias = F.grid_sample(rpe.reshape(b * self.n_groups, self.n_group_heads, 2 * h - 1, 2 * w - 1),
                             disp[..., (1, 0)], mode="bilinear", align_corners=True)
        attn = F.softmax(attn + bias.reshape(b * self.n_heads, h * w, n_sample), dim=2)
        out = torch.einsum("b m n, b c n -> b c m", attn, v).reshape(b, c, h, w)
        return self.proj_out(out), pos.reshape(b, self.n_groups, hk, wk, 2), \
            reference.reshape(b, self.n_groups, hk, wk, 2)


class RefStage(nn.Module):
    def __init__(self, cfg, i, fmap):
        super().__init__()
        dim, heads, depth = cfg.dims[i], cfg.heads[i], cfg.depths[i]
        self.depth = depth
        self.layer_norms = nn.ModuleList([RefLayerNormProxy(dim) for _ in range(2 * depth)])
        self.mlps = nn.ModuleList([RefMLP(dim, cfg.expansion) for _ in range(depth)])
        self.attns = nn.ModuleList()
        win = cfg.window_sizes[i]
        for letter in cfg.stage_spec[i]:
            if letter == "L":
                self.attns.append(RefLocalAttention(dim, heads, win))
            elif letter == "S":
                self.attns.append(RefLocalAttention(dim, heads, win, math.ceil(win / 2), fmap))
            else:
                self.attns.append(RefDelegateAttention(fmap, heads, dim // heads, cfg.groups[i],
                                                       cfg.offset_range_factor[i], i))

    def forward(self, x):
        for d in range(self.depth):
            x0 = x
            x, _, _ = self.attns[d](self.layer_norms[2 * d](x))
            x = x + x0
            x0 = x
            x = self.mlps[d](self.layer_norms[2 * d + 1](x)) + x0
        return x


class RefSoftHistogram(nn.Module):
    def __init__(self, n=36, bins=6):
        super().__init__()
        self.bin_centers_conv = nn.Conv1d(n, n * bins, 1, groups=n, bias=True)
        self.bin_widths_conv = nn.Conv1d(n * bins, n * bins, 1, groups=n * bins, bias=True)
        self.centers = nn.Parameter(torch.zeros(n * bins))
        self.widths = self.bin_widths_conv.weight

    def forward(self, x):
        x = self.bin_centers_conv(x.unsqueeze(-1))
        x = self.bin_widths_conv(torch.abs(x))
        return torch.relu(x).flatten(1)


class ReferenceDeT(nn.Module):
    """The published computation, eager float32, same state-dict keys as ``icaa.model.DeT``."""

    def __init__(self, cfg):
        super().__init__()
        self.patch_proj = nn.Sequential(nn.Conv2d(3, cfg.dim_stem, cfg.patch_size, cfg.patch_size),
                                        RefLayerNormProxy(cfg.dim_stem))
        fmap = cfg.img_size // cfg.patch_size
        self.stages = nn.ModuleList()
        for i in range(4):
            self.stages.append(RefStage(cfg, i, fmap))
            fmap //= 2
        self.down_projs = nn.ModuleList([nn.Sequential(nn.Conv2d(cfg.dims[i], cfg.dims[i + 1], 2, 2, 0, bias=False),
                                                       RefLayerNormProxy(cfg.dims[i + 1])) for i in range(3)])
        self.cls_norm = RefLayerNormProxy(cfg.dims[-1])
        self.cls_head = nn.Linear(cfg.dims[-1], cfg.num_classes)
        self.hst_head = nn.Linear(cfg.head_in_features, 36)
        self.hist_feature = RefSoftHistogram()
        self.class_head = nn.Linear(216, cfg.num_classes)
        self.class_head2 = nn.Linear(216, cfg.num_classes)

    def forward(self, x):
        x = self.patch_proj(x)
        for i in range(4):
            x = self.stages[i](x)
            if i < 3:
                x = self.down_projs[i](x)
        x = torch.flatten(F.adaptive_avg_pool2d(self.cls_norm(x), 1), 1)
        x = self.hist_feature(self.hst_head(x))
        return torch.cat([torch.sigmoid(self.class_head(x)), torch.sigmoid(self.class_head2(x))], dim=1)


# ----------------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_pair(fn_a, fn_b, iters: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """Fastest of ``iters`` timed calls (seconds) of each function, the two called alternately so that both
    see the same machine conditions; the minimum is the figure least disturbed by other work on a shared
    machine."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    best = [float("inf"), float("inf")]
    for _ in range(iters):
        for slot, fn in enumerate((fn_a, fn_b)):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            best[slot] = min(best[slot], time.perf_counter() - start)
    return best[0], best[1]


def bench_size(name: str, args, device: torch.device) -> list[dict]:
    cfg = resolve_config(name, drop_path_rate=0.0)
    torch.manual_seed(0)
    fast = DeT(cfg, reference_mode="batch").to(device)
    ref = ReferenceDeT(cfg).to(device)
    ref.load_state_dict(fast.state_dict(), strict=True)
    images = torch.randn(args.batch, 3, cfg.img_size, cfg.img_size, device=device)
    targets = torch.rand(args.batch, 2, device=device)
    fast.eval(), ref.eval()
    with torch.no_grad():
        expected, got = ref(images), fast(images)
    if not torch.allclose(got, expected, rtol=0, atol=1e-5):
        raise AssertionError(f"{name}: outputs differ by {(got - expected).abs().max().item():.2e}")
    # the optimised model's options: per-image points (the default for prediction), dtype, layout, compile
    fast.reference_mode = args.mode
    autocast = torch.autocast(device.type, dtype=getattr(torch, args.dtype), enabled=args.dtype != "float32")
    fast_in = images
    if args.channels_last:
        fast = fast.to(memory_format=torch.channels_last)
        fast_in = images.contiguous(memory_format=torch.channels_last)
    run_fast = torch.compile(fast) if args.compile else fast

    def fwd(model, x, amp):
        def step():
            with torch.no_grad(), amp:
                model(x)
        return step

    def fwd_bwd(model, x, amp):
        params = [p for p in model.parameters() if p.requires_grad]

        def step():
            with amp:
                loss = F.mse_loss(model(x).float(), targets)
            loss.backward()
            for p in params:
                p.grad = None
        return step

    nullamp = torch.autocast(device.type, enabled=False)
    rows = []
    for what, make in (("forward", fwd), ("forward+backward", fwd_bwd)):
        train = what != "forward"
        fast.train(train), ref.train(train)
        step_fast = make(run_fast, fast_in, autocast)
        if args.compile:
            # compilation (and recompilation for this mode) happens here, outside the timed calls
            _sync(device)
            start = time.perf_counter()
            step_fast()
            step_fast()
            _sync(device)
            print(f"{name:>9} {what:>16}: compile + 2 calls {time.perf_counter() - start:.1f} s "
                  "(not in the throughput)", flush=True)
        t_ref, t_fast = _time_pair(make(ref, images, nullamp), step_fast, args.iters, args.warmup, device)
        rows.append({"size": name, "pass": what, "reference_img_s": args.batch / t_ref,
                     "icaa_img_s": args.batch / t_fast, "ratio": t_ref / t_fast})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["dat_tiny", "dat_base"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--iters", type=int, default=6,
                        help="timed calls per model and pass, alternating; the fastest is reported (single calls "
                             "vary by about 10%% on a shared 2-core VM)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--mode", choices=["per_image", "batch"], default="per_image",
                        help="reference mode of the timed icaa model (equality is always checked in batch mode)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                        help="autocast dtype of the icaa model (the reference stays float32)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the icaa model")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} batch={args.batch} "
          f"iters={args.iters} mode={args.mode} dtype={args.dtype} channels_last={args.channels_last} "
          f"compile={args.compile}")
    if device.type == "cuda":
        print(f"gpu={torch.cuda.get_device_name(device)}")
    rows = []
    for name in args.sizes:
        for row in bench_size(name, args, device):
            rows.append(row)
            print(f"{row['size']:>9} {row['pass']:>16}: reference {row['reference_img_s']:8.2f} img/s   "
                  f"icaa {row['icaa_img_s']:8.2f} img/s   ratio {row['ratio']:.2f}x", flush=True)
    return rows


if __name__ == "__main__":
    main()
