"""DeT layers against plain re-statements of the published computation: window attention (local and shifted,
both the SDPA inference path and the matmul training path, outputs and gradients), the subnormal-flushing
softmax, and the stem / down projections done as patch matmuls instead of strided convolutions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from icaa.model.det import _patch_linear
from icaa.model.layers import LocalAttention, ShiftWindowAttention, _SoftmaxFlushSubnormal


def _published_window_attention(attn: LocalAttention, x: torch.Tensor) -> torch.Tensor:
    """The published order of operations: roll, cut into windows, qkv, einsum, + bias (+ mask), softmax,
    einsum, proj, windows back to the map, roll back."""
    b, h, w, c = x.shape
    n, heads = attn.window_size, attn.heads
    shift = getattr(attn, "shift_size", 0)
    if shift:
        x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
    r1, r2 = h // n, w // n
    t = x.reshape(b, r1, n, r2, n, c).permute(0, 1, 3, 2, 4, 5).reshape(b * r1 * r2, n * n, c)
    q, k, v = attn.proj_qkv(t).chunk(3, dim=-1)
    q, k, v = (z.reshape(b * r1 * r2, n * n, heads, c // heads).transpose(1, 2) for z in (q, k, v))
    scores = torch.einsum("bhmc,bhnc->bhmn", q * (c // heads) ** -0.5, k)
    table = attn.relative_position_bias_table[attn.relative_position_index.view(-1)]
    scores = scores + table.view(n * n, n * n, heads).permute(2, 0, 1).unsqueeze(0)
    if shift:
        scores = (scores.view(b, r1 * r2, heads, n * n, n * n) + attn.attn_mask.view(1, r1 * r2, 1, n * n, n * n))
        scores = scores.view(b * r1 * r2, heads, n * n, n * n)
    out = torch.einsum("bhmn,bhnc->bhmc", scores.softmax(dim=-1), v).transpose(1, 2).reshape(-1, n * n, c)
    out = attn.proj_out(out).view(b, r1, r2, n, n, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
    if shift:
        out = torch.roll(out, shifts=(shift, shift), dims=(1, 2))
    return out


def _window_layer(kind: str) -> LocalAttention:
    torch.manual_seed(0)
    if kind == "local":
        attn = LocalAttention(32, 2, 7, 0.0, 0.0)
    else:
        attn = ShiftWindowAttention(32, 2, 7, 0.0, 0.0, 4, 14)
    with torch.no_grad():
        attn.relative_position_bias_table.normal_(std=0.5)  # a bias that matters, unlike the 0.01 init
    return attn


@pytest.mark.parametrize("kind", ["local", "shifted"])
def test_window_attention_inference_matches_published_computation(kind):
    attn = _window_layer(kind)
    x = torch.randn(2, 14, 14, 32)
    with torch.no_grad():  # the SDPA path on strided q, k, v
        got, _, _ = attn(x)
        expected = _published_window_attention(attn, x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["local", "shifted"])
def test_window_attention_training_matches_published_outputs_and_gradients(kind):
    attn = _window_layer(kind)
    x = torch.randn(2, 14, 14, 32, requires_grad=True)
    upstream = torch.randn(2, 14, 14, 32)
    got, _, _ = attn(x)  # the matmul path: the bias table needs a gradient
    got_grads = torch.autograd.grad(got, [x, *attn.parameters()], upstream)
    expected = _published_window_attention(attn, x)
    expected_grads = torch.autograd.grad(expected, [x, *attn.parameters()], upstream)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    for g, e in zip(got_grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)


def test_softmax_flush_sets_only_subnormal_weights_to_zero_and_has_the_softmax_gradient():
    scores = torch.tensor([[0.0, -100.0, 3.0, -100.0 + 30.0]])
    weights = _SoftmaxFlushSubnormal.apply(scores)
    plain = scores.softmax(dim=-1)
    assert plain[0, 1] > 0 and plain[0, 1] < torch.finfo(torch.float32).tiny  # exp(-103) is subnormal
    assert weights[0, 1] == 0
    assert weights[0, 3] == plain[0, 3] > 0  # small but normal: kept
    torch.testing.assert_close(weights, plain, rtol=0, atol=1e-30)
    double = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_SoftmaxFlushSubnormal.apply, (double,))


@pytest.mark.parametrize("cin,cout,size", [(8, 16, 12), (64, 128, 6), (16, 32, 13)])
@pytest.mark.parametrize("channels_last_weight", [False, True])
def test_patch_linear_equals_the_strided_convolution(cin, cout, size, channels_last_weight):
    # (8 -> 16 on 12x12: the weight is smaller than the map; 64 -> 128 on 6x6: larger; 13x13: odd, cropped)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, 2, 2, 0, bias=False)
    if channels_last_weight:
        conv = conv.to(memory_format=torch.channels_last)
    x = torch.randn(2, size, size, cin)
    expected = conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(_patch_linear(x, conv), expected, rtol=0, atol=1e-5)


def test_stem_patch_linear_equals_the_stem_convolution():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 16, 4, 4, 0)
    images = torch.randn(2, 3, 30, 30)  # 30 is not a multiple of 4: the conv drops the last 2 rows/cols
    expected = conv(images).permute(0, 2, 3, 1)
    torch.testing.assert_close(_patch_linear(images, conv, channels_first=True), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(_patch_linear(images.contiguous(memory_format=torch.channels_last), conv,
                                             channels_first=True), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("conv", [nn.Conv2d(8, 16, 3, 2, 1), nn.Conv2d(8, 16, 3, 1, 1), nn.Conv2d(8, 16, 2, 2, groups=2)],
                         ids=["padded", "overlapping", "grouped"])
def test_patch_linear_falls_back_to_the_convolution_when_it_is_not_a_patch_projection(conv):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16)
    expected = conv(x).permute(0, 2, 3, 1)
    torch.testing.assert_close(_patch_linear(x.permute(0, 2, 3, 1), conv), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(_patch_linear(x, conv, channels_first=True), expected, rtol=0, atol=1e-6)
