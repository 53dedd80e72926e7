"""Factorized bilinear pooling: a unit-norm pooled vector, ones for absent modalities."""

from __future__ import annotations

import torch

from mmzoo.contracts import Encoded
from mmzoo.fusions.bilinear import BilinearFusion


def _encoded(pooled: torch.Tensor, present: list[bool]) -> Encoded:
    mask = torch.tensor(present).unsqueeze(1).expand(-1, 2).clone()
    seq = pooled.unsqueeze(1).expand(-1, 2, -1).clone()
    return Encoded(seq=seq, mask=mask, pooled=torch.where(mask[:, :1], pooled, 0.0))


DIMS = {"audio": 5, "image": 3, "text": 4}


def test_pooled_vector_has_unit_norm():
    torch.manual_seed(0)
    fusion = BilinearFusion(DIMS, dim=6, out_dim=8, factors=3).eval()
    inputs = {m: _encoded(torch.randn(4, d), [True, True, False, True]) for m, d in DIMS.items()}
    z = fusion.pool(inputs)
    assert z.shape == (4, 8)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(4))


def test_matches_the_mfb_formula_for_two_modalities():
    torch.manual_seed(0)
    fusion = BilinearFusion({"audio": 5, "text": 4}, dim=6, out_dim=8, factors=3).eval()
    audio, text = torch.randn(2, 5), torch.randn(2, 4)
    out = fusion({"audio": _encoded(audio, [True, True]), "text": _encoded(text, [True, True])})
    e = (fusion.proj["audio"](audio) * fusion.proj["text"](text)).view(2, 8, 3).sum(dim=-1)
    e = torch.sign(e) * torch.sqrt(e.abs() + 1e-8)
    torch.testing.assert_close(out.pooled, fusion.out(e / e.norm(dim=-1, keepdim=True)))


def test_absent_modality_acts_as_the_product_identity():
    torch.manual_seed(0)
    fusion = BilinearFusion(DIMS, dim=6, out_dim=8, factors=3).eval()
    inputs = {m: _encoded(torch.randn(1, d), [True]) for m, d in DIMS.items()}
    inputs["image"] = _encoded(torch.randn(1, 3), [False])
    e = (fusion.proj["audio"](inputs["audio"].pooled) * fusion.proj["text"](inputs["text"].pooled)).view(1, 8, 3)
    e = e.sum(dim=-1)
    e = torch.sign(e) * torch.sqrt(e.abs() + 1e-8)
    torch.testing.assert_close(fusion.pool(inputs), e / e.norm(dim=-1, keepdim=True))


def test_gradients_stay_finite_at_zero():
    fusion = BilinearFusion({"audio": 2, "text": 2}, dim=3, out_dim=4, factors=2)
    with torch.no_grad():
        for proj in fusion.proj.values():
            proj.weight.zero_()
            proj.bias.zero_()
    x = torch.randn(2, 2, requires_grad=True)
    fusion({"audio": _encoded(x, [True, True]), "text": _encoded(x, [True, True])}).pooled.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in fusion.parameters() if p.grad is not None)
