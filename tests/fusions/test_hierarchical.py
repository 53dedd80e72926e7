"""The hierarchical fusion: fusing at several encoder depths (``Encoded.layers``)."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded, ModalitySpec
from mmzoo.fusions import HierarchicalFusion
from mmzoo.plugins import load_registry
from mmzoo.testing.contracts import example_encoded, example_modality_input

DIMS = {"a": 8, "b": 6}


def _with_layers(count: int, seed: int = 0) -> dict[str, Encoded]:
    generator = torch.Generator().manual_seed(seed)
    encoded = example_encoded(DIMS, [6, 3, 1, 5], generator)
    return {
        m: e._replace(layers=tuple(torch.randn(e.seq.shape, generator=generator) for _ in range(count)))
        for m, e in encoded.items()
    }


@pytest.mark.parametrize("combine", ["softmax", "concat"])
def test_intermediate_layers_change_the_output(combine):
    fusion = HierarchicalFusion(DIMS, dim=16, levels=2, combine=combine).eval()
    encoded = _with_layers(3)
    base = fusion(encoded).pooled
    a = encoded["a"]
    # (a constant shift or scale would vanish in the per-level LayerNorm)
    changed = {**encoded, "a": a._replace(layers=(a.layers[0], torch.randn_like(a.layers[1]), a.layers[2]))}
    assert not torch.allclose(fusion(changed).pooled, base)
    unused = {**encoded, "a": a._replace(layers=(torch.randn_like(a.layers[0]), a.layers[1], a.layers[2]))}
    torch.testing.assert_close(fusion(unused).pooled, base)  # only the top `levels` depths count


def test_works_without_layers_and_with_fewer_than_levels():
    fusion = HierarchicalFusion(DIMS, dim=16, levels=3).eval()
    plain = example_encoded(DIMS, [6, 3, 1, 5], torch.Generator().manual_seed(0))
    assert fusion(plain).pooled.shape == (4, 16)
    mixed = {**_with_layers(1), "b": plain["b"]}
    assert torch.isfinite(fusion(mixed).pooled).all()
    item = _with_layers(2)["a"]
    depths, layers = HierarchicalFusion.depths(item, 4), item.layers
    assert [d is layers[i] for d, i in zip(depths, [1, 0, 0, 0])] == [True] * 4


def test_padding_of_layers_is_ignored():
    fusion = HierarchicalFusion(DIMS, dim=16).eval()
    encoded = _with_layers(2)
    base = fusion(encoded).pooled
    scrambled = {
        m: e._replace(layers=tuple(torch.where(e.mask.unsqueeze(-1), x, 100.0) for x in e.layers))
        for m, e in encoded.items()
    }
    torch.testing.assert_close(fusion(scrambled).pooled, base)


@pytest.mark.parametrize("name", ["transformer", "conv1d"])
def test_encoders_expose_every_block_output(name):
    spec = ModalitySpec(kind="features", feature_dim=12)
    torch.manual_seed(0)
    encoder = load_registry(warn=False).get("encoder", name).build({"dim": 16, "layers": 3}, {"input_spec": spec})
    out = encoder.eval()(*example_modality_input(spec, [5, 2, 0], torch.Generator().manual_seed(0)))
    assert out.layers is not None and len(out.layers) == 3
    for layer in out.layers:
        assert layer.shape == out.seq.shape and (layer[~out.mask] == 0).all()
    fusion = HierarchicalFusion({"x": 16, "y": 16}, dim=8, levels=2).eval()
    assert torch.isfinite(fusion({"x": out, "y": out}).pooled).all()
