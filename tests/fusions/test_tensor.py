"""Tensor fusion: the flattened outer product of [z_m; 1]."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded
from mmzoo.fusions.tensor import TensorFusion


def _encoded(pooled: torch.Tensor, present: list[bool]) -> Encoded:
    mask = torch.tensor(present).unsqueeze(1).expand(-1, 2).clone()
    seq = pooled.unsqueeze(1).expand(-1, 2, -1).clone()
    return Encoded(seq=seq, mask=mask, pooled=torch.where(mask[:, :1], pooled, 0.0))


@pytest.mark.parametrize("count", [2, 3])
def test_tensor_has_rank_dim_plus_one_to_the_m_values(count):
    dims = dict(list({"audio": 5, "image": 3, "text": 4}.items())[:count])
    fusion = TensorFusion(dims, dim=7, rank_dim=3, hidden_dim=16).eval()
    inputs = {m: _encoded(torch.randn(2, d), [True, True]) for m, d in dims.items()}
    assert fusion.tensor_dim == 4**count
    assert fusion.outer(inputs).shape == (2, 4**count)
    assert fusion(inputs).pooled.shape == (2, 7)


def test_tensor_holds_unimodal_terms_and_drops_absent_ones():
    fusion = TensorFusion({"audio": 5, "text": 4}, dim=7, rank_dim=3).eval()
    audio, text = torch.randn(2, 5), torch.randn(2, 4)
    t = fusion.outer({"audio": _encoded(audio, [True, False]), "text": _encoded(text, [True, True])}).view(2, 4, 4)
    z_audio, z_text = fusion.proj["audio"](audio), fusion.proj["text"](text)
    torch.testing.assert_close(t[:, 3, 3], torch.ones(2))
    torch.testing.assert_close(t[0, :3, 3], z_audio[0])  # audio alone (times text's 1)
    torch.testing.assert_close(t[:, 3, :3], z_text)  # text alone
    torch.testing.assert_close(t[0, :3, :3], torch.outer(z_audio[0], z_text[0]))
    # Row 1 lacks audio: only text's unimodal terms and the constant survive.
    assert (t[1, :3] == 0).all()


def test_too_large_a_tensor_is_refused():
    with pytest.raises(ValueError, match="low_rank"):
        TensorFusion({f"m{i}": 2 for i in range(8)}, rank_dim=8)
