"""The mvae objective: ELBO training on a toy two-view set, KL annealing, missing-modality metrics."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchmetrics import MetricCollection

from mmzoo.contracts import Batch, Encoded, Fused, ModalityInput, ModalitySpec
from mmzoo.heads.mvae import MVAEHead
from mmzoo.objectives.mvae import MVAEObjective
from mmzoo.ops.masking import masked_mean

SPECS = {"a": ModalitySpec(kind="features", feature_dim=6), "b": ModalitySpec(kind="features", feature_dim=5)}


def _toy_batch(generator: torch.Generator, size: int = 64, drop: float = 0.2) -> Batch:
    """Two noisy views of a 2-d latent; each view is missing from about ``drop`` of the rows."""
    latent = torch.randn(size, 2, generator=generator)
    mix = {"a": torch.tensor([[1.0, 0.5, -1.0, 0.0, 2.0, 0.3], [0.0, 1.0, 0.5, -1.5, 0.2, 1.0]]),
           "b": torch.tensor([[0.5, -1.0, 1.0, 1.0, 0.0], [1.5, 0.5, 0.0, -1.0, 1.0]])}  # fmt: skip
    inputs = {}
    drop_a = torch.rand(size, generator=generator) < drop
    drop_b = (torch.rand(size, generator=generator) < drop) & ~drop_a
    for m, dropped in (("a", drop_a), ("b", drop_b)):
        frames = (latent @ mix[m]).unsqueeze(1) + 0.1 * torch.randn(size, 4, mix[m].shape[1], generator=generator)
        mask = (~dropped).unsqueeze(1).expand(size, 4).clone()
        inputs[m] = ModalityInput(torch.where(mask.unsqueeze(-1), frames, torch.zeros_like(frames)), mask)
    return Batch(inputs=inputs, targets={}, ids=[str(i) for i in range(size)])


class _Model(nn.Module):
    def __init__(self, **objective_options) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({m: nn.Linear(s.feature_dim, 16) for m, s in SPECS.items()})
        self.head = MVAEHead(in_dim=4, latent_dim=2, hidden_dim=32, encoder_dims={"a": 16, "b": 16}, input_specs=SPECS)
        self.objective = MVAEObjective(heads={"mvae": self.head}, **objective_options)

    def outputs(self, batch: Batch) -> dict:
        encoded = {}
        for m, (values, mask) in batch.inputs.items():
            pooled = self.encoders[m](masked_mean(values, mask)) * mask.any(1, keepdim=True)
            encoded[m] = Encoded(seq=pooled.unsqueeze(1), mask=mask.any(1, keepdim=True), pooled=pooled)
        return {"mvae": self.head(Fused(pooled=torch.zeros(len(batch.ids), 4)), encoded)}


def test_training_lowers_the_elbo_and_cross_modal_beats_the_prior():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = _Model(kl_warmup_steps=50)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    val = _toy_batch(generator, size=256)

    def val_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(model.objective(model.outputs(val), val).loss)

    before = val_loss()
    model.train()
    for _ in range(200):
        batch = _toy_batch(generator)
        loss = model.objective(model.outputs(batch), batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert int(model.objective.step) == 200
    after = val_loss()
    assert after < before - 5.0, (before, after)

    metrics = MetricCollection(model.objective.make_metrics())
    assert set(metrics.keys(keep_base=True)) == {
        "recon_error/a|b",
        "recon_error/b|a",
        "recon_error/a|prior",
        "recon_error/b|prior",
    }
    with torch.no_grad():
        model.objective.update_metrics(metrics, model.outputs(val), val)
    values = {k: float(v) for k, v in metrics.compute().items()}
    assert values["recon_error/b|a"] < 0.5 * values["recon_error/b|prior"], values
    assert values["recon_error/a|b"] < 0.5 * values["recon_error/a|prior"], values


def test_kl_annealing_is_linear_and_counts_training_steps_only():
    torch.manual_seed(0)
    model = _Model(beta=2.0, kl_warmup_steps=4)
    batch = _toy_batch(torch.Generator().manual_seed(1), size=8)
    betas = []
    for _ in range(6):
        betas.append(float(model.objective(model.outputs(batch), batch).logs["beta"]))
    assert betas == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    model.eval()
    model.objective(model.outputs(batch), batch)
    assert int(model.objective.step) == 6  # eval does not count
    assert "step" in model.objective.state_dict()


def test_logs_weights_and_missing_rows():
    torch.manual_seed(0)
    batch = _toy_batch(torch.Generator().manual_seed(2), size=16, drop=0.5)
    model = _Model(weights={"b": 0.0}).eval()
    result = model.objective(model.outputs(batch), batch)
    assert set(result.logs) == {"kl", "beta", "recon/a", "recon/b"}
    assert float(result.logs["recon/b"]) == 0.0
    # rows without b ignore b's values entirely
    changed = batch.inputs["b"].values.clone()
    changed[~batch.inputs["b"].mask] = 1000.0
    other = batch._replace(inputs={**batch.inputs, "b": ModalityInput(changed, batch.inputs["b"].mask)})
    model = _Model().eval()
    torch.testing.assert_close(
        model.objective(model.outputs(other), other).loss, model.objective(model.outputs(batch), batch).loss
    )


def test_reconstruct_all_adds_cross_modal_terms():
    torch.manual_seed(0)
    batch = _toy_batch(torch.Generator().manual_seed(3), size=16)
    subset_only = _Model().eval()
    every = _Model(reconstruct="all").eval()
    every.load_state_dict(subset_only.state_dict())
    outputs = subset_only.outputs(batch)
    with torch.no_grad():
        assert float(every.objective(outputs, batch).loss) > float(subset_only.objective(outputs, batch).loss)


def test_wrong_options():
    with pytest.raises(ValueError, match="weights"):
        _Model(weights={"c": 1.0})
    with pytest.raises(ValueError, match="kl_warmup_steps"):
        MVAEObjective(kl_warmup_steps=-1)
