"""The mvae head: product of experts, subsets, cross-modal inference and predictions."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded, Fused, ModalityInput, ModalitySpec
from mmzoo.heads.mvae import ModalityLikelihood, MVAEHead, product_of_experts

SPECS = {
    "audio": ModalitySpec(kind="features", feature_dim=5),
    "image": ModalitySpec(kind="image", channels=1, image_size=(8, 8)),
    "text": ModalitySpec(kind="tokens", vocab_size=7),
}
DIMS = {"audio": 6, "image": 4, "text": 3}


def _encoded(batch: int, absent: dict[str, list[int]] | None = None) -> dict[str, Encoded]:
    out = {}
    for m, dim in DIMS.items():
        mask = torch.ones(batch, 2, dtype=torch.bool)
        pooled = torch.randn(batch, dim)
        for row in (absent or {}).get(m, []):
            mask[row] = False
            pooled[row] = 0.0
        out[m] = Encoded(seq=torch.randn(batch, 2, dim), mask=mask, pooled=pooled)
    return out


def _head(**options) -> MVAEHead:
    torch.manual_seed(0)
    return MVAEHead(in_dim=8, latent_dim=3, hidden_dim=16, encoder_dims=DIMS, input_specs=SPECS, **options)


def test_poe_of_one_expert_and_the_prior_is_the_closed_form():
    mu = torch.tensor([[[2.0, -1.0]]])
    logvar = torch.log(torch.tensor([[[0.5, 4.0]]]))
    joint_mu, joint_logvar = product_of_experts(mu, logvar, torch.ones(1, 1, dtype=torch.bool))
    precision = 1.0 + 1.0 / logvar.exp()
    torch.testing.assert_close(joint_logvar, -torch.log(precision)[0])
    torch.testing.assert_close(joint_mu, (mu / logvar.exp() / precision)[0])


def test_poe_ignores_absent_experts_per_row():
    mus, logvars = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    present = torch.tensor([[True, True, False], [True, False, False]])
    mu, logvar = product_of_experts(mus, logvars, present)
    alone_mu, alone_logvar = product_of_experts(mus[:1, 1:2], logvars[:1, 1:2], present[:1, 1:2])
    torch.testing.assert_close(mu[1:2], alone_mu)
    torch.testing.assert_close(logvar[1:2], alone_logvar)
    torch.testing.assert_close(mu[2], torch.zeros(4))  # no expert: the prior
    torch.testing.assert_close(logvar[2], torch.zeros(4))
    changed = mus.clone()
    changed[1, 1] += 100.0  # an absent expert's values change nothing
    torch.testing.assert_close(product_of_experts(changed, logvars, present)[0], mu)


def test_subsets_and_random_subsets():
    head = _head(k_subsets=2).train()
    out = head(Fused(pooled=torch.randn(4, 8)), _encoded(4))
    assert set(out["subsets"]) >= {"audio+image+text", "audio", "image", "text"}
    assert len(out["subsets"]) == 6  # full, three singles, two of the three pairs
    head.eval()
    out = head(Fused(pooled=torch.randn(4, 8)), _encoded(4))
    assert set(out["subsets"]) == {"audio+image+text", "audio", "image", "text"}
    torch.testing.assert_close(out["subsets"]["audio"]["z"], out["subsets"]["audio"]["mu"])


def test_missing_modality_rows_match_the_smaller_product():
    head = _head().eval()
    encoded = _encoded(3, absent={"image": [0], "text": [0, 1]})
    out = head(Fused(pooled=torch.randn(3, 8)), encoded)
    mu, logvar = head.infer(encoded, ["audio"])
    torch.testing.assert_close(out["z_mean"][0], mu[0])
    mu2, _ = head.infer(encoded, ["audio", "image"])
    torch.testing.assert_close(out["z_mean"][1], mu2[1])
    assert out["subsets"]["text"]["rows"].tolist() == [False, False, True]
    torch.testing.assert_close(out["subsets"]["text"]["mu"][:2], torch.zeros(2, 3))


def test_predict_shapes_and_reconstruct():
    head = _head().eval()
    encoded = _encoded(4)
    values = head.predict(head(Fused(pooled=torch.randn(4, 8)), encoded))
    assert values["latent"].shape == (4, 3)
    assert values["recon/audio"].shape == (4, 5)
    assert values["recon/image"].shape == (4, 16 * 16)
    assert values["recon/text"].shape == (4, 7)
    torch.testing.assert_close(values["recon/text"].sum(-1), torch.ones(4))
    assert ((values["recon/image"] >= 0) & (values["recon/image"] <= 1)).all()
    recon = head.reconstruct(encoded, ["audio"])
    assert {m: t.shape[1] for m, t in recon.items()} == {"audio": 5, "image": 256, "text": 7}


def test_summaries():
    feats = ModalityLikelihood(kind="features", likelihood="gaussian", dim=2)
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    torch.testing.assert_close(feats.summarize(ModalityInput(values, mask)), torch.tensor([[2.0, 3.0]]))
    tokens = ModalityLikelihood(kind="tokens", likelihood="categorical", dim=4)
    ids = torch.tensor([[1, 1, 3, 0]])
    summary = tokens.summarize(ModalityInput(ids, torch.tensor([[True, True, True, False]])))
    torch.testing.assert_close(summary, torch.tensor([[0.0, 2 / 3, 0.0, 1 / 3]]))
    image = ModalityLikelihood(kind="image", likelihood="bernoulli", dim=4, image_size=(2, 2))
    pixels = torch.rand(2, 1, 4, 4)
    summary = image.summarize(ModalityInput(pixels, torch.tensor([[True], [False]])))
    assert summary.shape == (2, 4) and summary[1].abs().sum() == 0


def test_bad_options():
    with pytest.raises(ValueError, match="likelihood"):
        _head(likelihoods={"audio": "bernoulli"})
    with pytest.raises(ValueError, match="no decoder"):
        MVAEHead(in_dim=8, encoder_dims={"wav": 4}, input_specs={"wav": ModalitySpec(kind="waveform")})
