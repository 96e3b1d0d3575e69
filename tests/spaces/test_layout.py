"""The token-major layout's fast paths against the plain layers they replace, in float64.

spaces/layers.py keeps tokens as [T, B, N, C] so that a 1x1 convolution is one matrix product
and a batch norm reduces contiguous rows; STM mixes tokens head-major; the patch embedding keeps
images channels-last and the neurons run on tensors as they are stored. Each must compute what
the [T, B, C, N] convolution, batch norm and per-sample token product compute: values, input
and parameter gradients, and batch-norm running statistics.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from spaces.blocks import PatchEmbed
from spaces.layers import PointwiseBN, grid_view, tokens_of
from spaces.mixers import mix_tokens
from spaces.neurons import LIF


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_pointwise_bn_equals_conv1d_then_batch_norm() -> None:
    layer = PointwiseBN(6, 10).double().train()
    with torch.no_grad():  # away from the identity affine, so that it shows in the gradients
        layer[1].weight.uniform_(0.5, 1.5, generator=_gen(1))
        layer[1].bias.uniform_(-0.5, 0.5, generator=_gen(2))
    reference = copy.deepcopy(layer)
    x = torch.randn(3, 4, 7, 6, generator=_gen(), dtype=torch.float64)  # [T, B, N, C]
    upstream = torch.randn(3, 4, 7, 10, generator=_gen(3), dtype=torch.float64)

    ours_x = x.clone().requires_grad_()
    out = layer(ours_x)
    out.backward(upstream)
    # The reference: nn.Conv1d's own forward and BatchNorm1d over (T*B, C, N).
    ref_x = x.clone().requires_grad_()
    channels_first = ref_x.flatten(0, 1).transpose(1, 2)
    conv = nn.Conv1d.forward(reference[0], channels_first)
    ref = reference[1](conv).transpose(1, 2).reshape(out.shape)
    ref.backward(upstream)

    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours_x.grad, ref_x.grad, rtol=1e-12, atol=1e-12)
    for p, q in zip(layer.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-12)
    for name in ("running_mean", "running_var"):
        torch.testing.assert_close(getattr(layer[1], name), getattr(reference[1], name))


def test_mix_tokens_equals_a_product_per_sample_and_head() -> None:
    heads, n, c = 4, 6, 12
    s = (torch.rand(3, 2, n, c, generator=_gen()) < 0.3).double().requires_grad_()
    weight = torch.randn(heads, n, n, generator=_gen(1), dtype=torch.float64).requires_grad_()
    upstream = torch.randn(3, 2, n, c, generator=_gen(2), dtype=torch.float64)
    out = mix_tokens(s, weight)
    grads = torch.autograd.grad(out, [s, weight], upstream)

    # out[t, b, m, c] = sum_n weight[h, n, m] s[t, b, n, c], channel c in head h = c // (C/H).
    per_head = s.unflatten(-1, (heads, c // heads))  # (T, B, N, H, C/H)
    ref = torch.einsum("tbnhj,hnm->tbmhj", per_head, weight).flatten(-2)
    ref_grads = torch.autograd.grad(ref, [s, weight], upstream)

    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)


def test_grid_view_is_the_row_major_token_grid_without_a_copy() -> None:
    x = torch.randn(5, 12, 7)  # (M, N, C), N = 3 x 4 tokens
    image = grid_view(x, (3, 4))
    assert image.shape == (5, 7, 3, 4)
    assert image.data_ptr() == x.data_ptr() and image.is_contiguous(
        memory_format=torch.channels_last
    )
    # Token k is grid position (k // 4, k % 4), as the patch embedding flattens it.
    assert torch.equal(image[2, :, 1, 3], x[2, 1 * 4 + 3])
    back = tokens_of(image)
    assert back.data_ptr() == x.data_ptr() and torch.equal(back, x)


def test_neuron_runs_on_a_channels_last_tensor_as_stored() -> None:
    x = torch.randn(4, 2, 5, 3, 3, generator=_gen(), dtype=torch.float64) * 2
    stored = x.movedim(2, -1).contiguous().movedim(-1, 2)  # (T, B, C, H, W), channels last
    upstream = torch.randn(x.shape, generator=_gen(1), dtype=torch.float64)
    neuron = LIF()

    leaf = stored.clone(memory_format=torch.preserve_format).requires_grad_()
    spikes = neuron(leaf)
    spikes.backward(upstream)
    ref_leaf = x.clone().requires_grad_()
    ref = neuron.step_by_step(ref_leaf)
    ref.backward(upstream)

    assert spikes.stride() == leaf.stride()  # same layout out: no copy in, none out
    assert 0.05 < float(ref.detach().mean()) < 0.95
    assert torch.equal(spikes, ref)
    torch.testing.assert_close(leaf.grad, ref_leaf.grad, rtol=1e-12, atol=1e-12)


def test_patch_embed_equals_its_layers_run_channels_first() -> None:
    torch.manual_seed(0)
    embed = PatchEmbed(3, 16, ndim=2, downsample=2, neuron=LIF).double().train()
    reference = copy.deepcopy(embed)
    x = torch.rand(2, 3, 8, 8, generator=_gen(1), dtype=torch.float64) * 3
    upstream = torch.randn(4, 2, 16, 16, generator=_gen(2), dtype=torch.float64)

    ours_x = x.clone().requires_grad_()
    out = embed(ours_x, 4)
    out.backward(upstream)

    # The same layers on contiguous (channels-first) tensors, the stem repeated over T = 4.
    ref_x = x.clone().requires_grad_()
    y = reference.stem(ref_x).unsqueeze(0).repeat(4, 1, 1, 1, 1)
    for neuron, layer in zip(reference.neurons, reference.body, strict=True):
        s = neuron.step_by_step(y.contiguous())
        z = layer(s.flatten(0, 1))
        y = z.reshape(4, 2, *z.shape[1:])
    shortcut = reference.shortcut(ref_x).unsqueeze(0).repeat(4, 1, 1, 1, 1)
    ref = torch.cat([y, shortcut], dim=2).flatten(3).transpose(2, 3)
    ref.backward(upstream)

    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours_x.grad, ref_x.grad, rtol=1e-10, atol=1e-10)
    for (name, p), q in zip(embed.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-10, msg=name)
