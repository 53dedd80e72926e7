"""The bottleneck fusion (MBT): modalities exchange information only through bottleneck tokens."""

from __future__ import annotations

import pytest
import torch

import mmzoo.encoders._transformer as transformer
from mmzoo.contracts import Encoded
from mmzoo.fusions import BottleneckFusion
from mmzoo.ops.attention import attention
from mmzoo.testing.contracts import example_encoded

DIMS = {"a": 8, "b": 6}


def _encoded(seed=0):
    return example_encoded(DIMS, [6, 3, 1, 5], torch.Generator().manual_seed(seed))


def _change_a(encoded):
    a = encoded["a"]
    return {**encoded, "a": Encoded(a.seq.detach() + torch.randn_like(a.seq), a.mask, a.pooled)}


@pytest.mark.parametrize("pool", ["mean", "cls"])
def test_b_sees_a_only_after_an_exchange(pool):
    encoded = _encoded()
    torch.manual_seed(0)
    one = BottleneckFusion(DIMS, dim=16, heads=2, layers=1, num_bottlenecks=2, pool=pool).eval()
    torch.testing.assert_close(one(_change_a(encoded)).parts["b"], one(encoded).parts["b"])
    two = BottleneckFusion(DIMS, dim=16, heads=2, layers=2, num_bottlenecks=2, pool=pool).eval()
    assert not torch.allclose(two(_change_a(encoded)).parts["b"], two(encoded).parts["b"])


def test_without_bottleneck_exchange_modalities_are_independent(monkeypatch):
    fusion = BottleneckFusion(DIMS, dim=16, heads=2, layers=3, num_bottlenecks=2).eval()
    monkeypatch.setattr(fusion, "share", lambda updates, present, previous: previous)
    encoded = _encoded()
    torch.testing.assert_close(fusion(_change_a(encoded)).parts["b"], fusion(encoded).parts["b"])


def test_share_averages_over_present_modalities_only():
    fusion = BottleneckFusion(DIMS, dim=4, heads=2, num_bottlenecks=3)
    updates = torch.randn(3, 2, 3, 4)
    previous = torch.randn(3, 3, 4)
    present = torch.tensor([[True, True], [False, True], [False, False]])
    shared = fusion.share(updates, present, previous)
    torch.testing.assert_close(shared[0], updates[0].mean(dim=0))
    torch.testing.assert_close(shared[1], updates[1, 1])
    torch.testing.assert_close(shared[2], previous[2])


def test_every_attention_goes_through_mmzoo(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[1].shape[2])  # key length: own tokens + bottlenecks
        return attention(*args, **kwargs)

    monkeypatch.setattr(transformer, "attention", counting)
    encoded = _encoded()
    out = BottleneckFusion(DIMS, dim=16, heads=2, layers=2, num_bottlenecks=3).eval()(encoded)
    assert out.pooled.shape == (4, 16)
    lengths = [encoded[m].seq.shape[1] + 3 for m in sorted(DIMS)]
    assert calls == lengths * 2
