"""small_cnn / small_vit: tiny image presets that train on a CPU in seconds."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import ModalitySpec
from mmzoo.encoders import small_vit as small_vit_module

from ._util import IMAGE, build, inputs


@pytest.mark.parametrize(
    ("name", "options", "tokens", "dim"),
    [
        ("small_cnn", {}, 8 * 8, 64),  # stages at 32, 16, 8 px
        ("small_cnn", {"channels": [8, 16]}, 16 * 16, 16),
        ("small_vit", {}, 4 * 4, 64),  # 8 px patches
        ("small_vit", {"patch_size": 4, "dim": 32}, 8 * 8, 32),
    ],
)
def test_shapes(name, options, tokens, dim):
    encoder = build(name, IMAGE, **options).eval()
    out = encoder(*inputs(IMAGE, [1, 0]))
    assert encoder.dim == dim
    assert out.seq.shape == (2, tokens, dim) and out.pooled.shape == (2, dim)
    assert out.mask[0].all() and not out.mask[1].any()


@pytest.mark.parametrize("name", ["small_cnn", "small_vit"])
def test_learns_a_two_class_toy_problem_in_a_few_steps(name):
    torch.manual_seed(0)
    encoder = build(name, IMAGE)
    head = torch.nn.Linear(encoder.dim, 2)
    images = torch.randn(16, 3, 32, 32)
    labels = torch.arange(16) % 2
    images[labels == 1, 0] += 1.0  # class 1 is redder
    mask = torch.ones(16, 1, dtype=torch.bool)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=3e-3)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(encoder(images, mask).pooled), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_small_cnn_batch_norm_ignores_rows_without_an_image():
    encoder = build("small_cnn", IMAGE, channels=[8, 16])  # training mode: batch statistics
    values, mask = inputs(IMAGE, [1, 1, 0])
    out = encoder(values, mask)
    noisy = values.clone()
    noisy[2] = 1000.0
    torch.testing.assert_close(encoder(noisy, mask).pooled, out.pooled)


def test_small_vit_attention_goes_through_the_mmzoo_function(monkeypatch):
    from mmzoo.encoders import _transformer

    calls = []
    original = _transformer.attention
    monkeypatch.setattr(_transformer, "attention", lambda *a, **k: calls.append(1) or original(*a, **k))
    build("small_vit", IMAGE, depth=3).eval()(*inputs(IMAGE, [1]))
    assert len(calls) == 3
    assert small_vit_module.TransformerBlock is _transformer.TransformerBlock


def test_small_vit_takes_other_sizes_and_rejects_partial_patches():
    spec = ModalitySpec(kind="image", channels=1, image_size=(48, 64))
    encoder = build("small_vit", spec).eval()
    out = encoder(*inputs(spec, [1]))
    assert out.seq.shape == (1, 6 * 8, 64)
    with pytest.raises(ValueError, match="patch_size"):
        encoder(torch.randn(1, 1, 30, 32), torch.ones(1, 1, dtype=torch.bool))
