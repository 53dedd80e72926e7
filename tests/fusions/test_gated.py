"""Gated Multimodal Unit: gates form a distribution over present modalities."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded
from mmzoo.fusions.gated import GatedFusion


def _encoded(pooled: torch.Tensor, present: list[bool]) -> Encoded:
    mask = torch.tensor(present).unsqueeze(1).expand(-1, 2).clone()
    seq = pooled.unsqueeze(1).expand(-1, 2, -1).clone()
    return Encoded(seq=seq, mask=mask, pooled=torch.where(mask[:, :1], pooled, 0.0))


DIMS = {"audio": 5, "image": 3, "text": 4}


def _inputs() -> dict[str, Encoded]:
    torch.manual_seed(2)
    return {
        "audio": _encoded(torch.randn(3, 5), [True, False, False]),
        "image": _encoded(torch.randn(3, 3), [True, True, False]),
        "text": _encoded(torch.randn(3, 4), [True, True, False]),
    }


@pytest.mark.parametrize("per_feature", [True, False])
def test_gates_sum_to_one_and_absent_modalities_get_zero(per_feature):
    fusion = GatedFusion(DIMS, dim=6, per_feature=per_feature).eval()
    inputs = _inputs()
    gates = fusion.gates(inputs)
    assert gates.shape == (3, 3, 6 if per_feature else 1)
    torch.testing.assert_close(gates[:2].sum(dim=1), torch.ones(2, gates.shape[-1]))
    assert (gates[1, 0] == 0).all()
    assert (gates[2] == 0).all()  # nothing present
    out = fusion(inputs)
    torch.testing.assert_close(out.weights[:2].sum(dim=1), torch.ones(2))
    assert out.weights[1, 0] == 0
    torch.testing.assert_close(out.pooled[2], torch.zeros(6))


def test_two_modalities_reduce_to_the_sigmoid_gate_of_the_paper():
    fusion = GatedFusion({"audio": 5, "text": 4}, dim=6).eval()
    torch.manual_seed(3)
    audio, text = torch.randn(2, 5), torch.randn(2, 4)
    out = fusion({"audio": _encoded(audio, [True, True]), "text": _encoded(text, [True, True])})
    logits = fusion.gate(torch.cat([audio, text], dim=-1)).view(2, 2, 6)
    z = torch.sigmoid(logits[:, 0] - logits[:, 1])
    h_audio = torch.tanh(fusion.proj["audio"](audio))
    h_text = torch.tanh(fusion.proj["text"](text))
    torch.testing.assert_close(out.pooled, z * h_audio + (1 - z) * h_text)


def test_a_row_with_one_modality_is_its_tanh_projection():
    fusion = GatedFusion(DIMS, dim=6).eval()
    inputs = _inputs()
    inputs["image"] = _encoded(inputs["image"].pooled, [False, False, False])
    inputs["text"] = _encoded(inputs["text"].pooled, [False, False, False])
    out = fusion(inputs)
    torch.testing.assert_close(out.pooled[0], torch.tanh(fusion.proj["audio"](inputs["audio"].pooled[0])))
