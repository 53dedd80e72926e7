"""The regression objective: MSE/L1/Huber against torch references, NaN targets, and metrics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from mmzoo.contracts import Batch
from mmzoo.objectives import RegressionObjective


def _batch(target: torch.Tensor) -> Batch:
    return Batch(inputs={}, targets={"score": target}, ids=[str(i) for i in range(len(target))])


def _data(shape: tuple[int, ...] = (8,)) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return 2 * torch.randn(shape, generator=generator), 2 * torch.randn(shape, generator=generator)


@pytest.mark.parametrize(
    ("options", "reference"),
    [
        ({}, F.mse_loss),
        ({"loss": "l1"}, F.l1_loss),
        ({"loss": "huber"}, lambda p, t: F.huber_loss(p, t, delta=1.0)),
        ({"loss": "huber", "huber_delta": 0.3}, lambda p, t: F.huber_loss(p, t, delta=0.3)),
    ],
)
def test_losses_match_torch_and_ignore_nan_rows(options, reference):
    pred, target = _data()
    objective = RegressionObjective(head="score", target="score", **options)
    torch.testing.assert_close(objective({"score": pred}, _batch(target)), reference(pred, target))
    missing = target.clone()
    missing[[1, 6]] = float("nan")
    keep = torch.tensor([0, 2, 3, 4, 5, 7])
    leaf = pred.clone().requires_grad_(True)
    loss = objective({"score": leaf}, _batch(missing))
    torch.testing.assert_close(loss, reference(pred[keep], target[keep]))
    loss.backward()
    assert leaf.grad[[1, 6]].abs().sum() == 0, "unlabelled rows get no gradient"


def test_several_outputs_and_a_column_vector():
    pred, target = _data((6, 3))
    objective = RegressionObjective(head="score", target="score")
    torch.testing.assert_close(objective({"score": pred}, _batch(target)), F.mse_loss(pred, target))
    pred, target = _data((6,))
    torch.testing.assert_close(objective({"score": pred[:, None]}, _batch(target)), F.mse_loss(pred, target))
    with pytest.raises(ValueError, match="shape"):
        objective({"score": torch.randn(6, 2)}, _batch(target))


def test_all_rows_unlabelled_gives_zero():
    pred = torch.randn(3, requires_grad=True)
    loss = RegressionObjective(head="score", target="score")({"score": pred}, _batch(torch.full((3,), float("nan"))))
    assert loss.item() == 0.0
    loss.backward()


def test_metrics_match_torchmetrics_and_skip_unlabelled_rows():
    pred, target = _data((10,))
    missing = target.clone()
    missing[[0, 7]] = float("nan")
    objective = RegressionObjective(head="score", target="score")
    metrics = MetricCollection(objective.make_metrics())
    objective.update_metrics(metrics, {"score": pred[:5]}, _batch(missing[:5]))
    objective.update_metrics(metrics, {"score": pred[5:]}, _batch(missing[5:]))
    got = metrics.compute()
    keep = torch.tensor([1, 2, 3, 4, 5, 6, 8, 9])
    torch.testing.assert_close(got["mae"], MeanAbsoluteError()(pred[keep], target[keep]))
    torch.testing.assert_close(got["rmse"], MeanSquaredError(squared=False)(pred[keep], target[keep]))


def test_options():
    objective = RegressionObjective(head="score", target="score", metrics=["rmse"], part_metrics=["audio"])
    assert set(objective.make_metrics()) == {"rmse", "rmse@audio"}
    with pytest.raises(ValueError, match="huber_delta"):
        RegressionObjective(head="score", target="score", loss="huber", huber_delta=0.0)
    with pytest.raises(ValueError, match="loss"):
        RegressionObjective(head="score", target="score", loss="l3")  # type: ignore[arg-type]
