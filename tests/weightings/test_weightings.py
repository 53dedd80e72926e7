from __future__ import annotations

import csv

import torch

from mmzoo.run import run_recipe
from mmzoo.weightings import FixedWeighting, UncertaintyWeighting


def test_fixed_is_the_sum():
    total, logs = FixedWeighting()({"a": torch.tensor(2.0), "b": torch.tensor(0.5)})
    assert total.item() == 2.5 and logs == {}


def test_uncertainty_formula_and_learned_weights():
    rule = UncertaintyWeighting(("a", "b"), init_log_variance=0.0)
    with torch.no_grad():
        rule.log_variance.copy_(torch.tensor([0.5, -1.0]))
    total, logs = rule({"a": torch.tensor(2.0), "b": torch.tensor(0.5)})
    expected = torch.exp(torch.tensor(-0.5)) * 2.0 + 0.5 + torch.exp(torch.tensor(1.0)) * 0.5 - 1.0
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(logs["weight/b"], torch.exp(torch.tensor(1.0)))
    total.backward()
    # d/ds (exp(-s) L + s) = 1 - exp(-s) L: the variance grows for a large loss, shrinks for a small one
    torch.testing.assert_close(
        rule.log_variance.grad, 1 - torch.exp(-rule.log_variance.detach()) * torch.tensor([2.0, 0.5])
    )


def test_uncertainty_weighting_trains_in_a_recipe(tiny_recipe):
    result = run_recipe(
        "fit",
        tiny_recipe,
        [
            "objectives.again={name: cross_entropy, head: label, target: label, weight: 0.5}",
            "weighting={name: uncertainty}",
            "trainer.log_every_n_steps=1",
        ],
    )
    state = torch.load(result.run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert state["weighting.log_variance"].shape == (2,)
    assert not torch.equal(state["weighting.log_variance"], torch.zeros(2)), "the weights were learned"
    header = next(csv.reader((result.run_dir / "metrics.csv").open()))
    assert "train/weight/label_step" in header and "train/weight/again_step" in header
