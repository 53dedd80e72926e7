"""The clip and siglip objectives: losses, learnable temperature, all pairs, retrieval metrics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection

from mmzoo.contracts import Batch, LossOutput
from mmzoo.objectives._retrieval import RetrievalRecallAtK
from mmzoo.objectives.contrastive import ClipObjective, SigLipObjective

_BATCH = Batch(inputs={}, targets={}, ids=[])
OBJECTIVES = [ClipObjective, SigLipObjective]


def _aligned(batch: int = 8, dim: int = 16) -> torch.Tensor:
    return torch.eye(batch, dim)  # distinct unit rows


def _metrics(objective, *batches) -> dict[str, float]:
    metrics = MetricCollection(objective.make_metrics())
    for outputs in batches:
        objective.update_metrics(metrics, outputs, _BATCH)
    return {name: float(value) for name, value in metrics.compute().items()}


@pytest.mark.parametrize("factory", OBJECTIVES)
def test_perfect_alignment_gives_low_loss_and_full_recall(factory):
    objective = factory(["audio", "text"])
    if factory is SigLipObjective:  # at init (bias -10, scale 10) a perfect match has logit 0
        with torch.no_grad():
            objective.logit_bias.fill_(-5.0)
    features = _aligned()
    outputs = {"audio": features, "text": features.clone()}
    result = objective(outputs, _BATCH)
    assert isinstance(result, LossOutput)
    assert result.loss.item() < 0.1
    metrics = _metrics(objective, outputs)
    assert set(metrics) == {f"recall@{k}/{q}" for k in (1, 5, 10) for q in ("audio->text", "text->audio")}
    assert all(value == 1.0 for value in metrics.values())


@pytest.mark.parametrize("factory", OBJECTIVES)
def test_shuffled_pairs_give_higher_loss_and_lower_recall(factory):
    objective = factory(["audio", "text"])
    features = _aligned()
    shuffled = features.roll(1, dims=0)  # no row keeps its partner
    aligned_loss = objective({"audio": features, "text": features}, _BATCH).loss
    shuffled_loss = objective({"audio": features, "text": shuffled}, _BATCH).loss
    assert shuffled_loss > aligned_loss + 1.0
    metrics = _metrics(objective, {"audio": features, "text": shuffled})
    assert metrics["recall@1/audio->text"] == 0.0 and metrics["recall@1/text->audio"] == 0.0


@pytest.mark.parametrize("factory", OBJECTIVES)
def test_temperature_is_learnable(factory):
    objective = factory(["audio", "text"])
    torch.manual_seed(0)
    outputs = {name: F.normalize(torch.randn(6, 8), dim=-1) for name in ("audio", "text")}
    result = objective(outputs, _BATCH)
    result.loss.backward()
    assert objective.logit_scale.grad is not None and objective.logit_scale.grad.abs() > 0
    assert result.logs["temperature"].item() == pytest.approx(1 / math.exp(objective.logit_scale.item()))
    if factory is SigLipObjective:
        assert objective.logit_bias.grad is not None and objective.logit_bias.grad.abs() > 0
    frozen = factory(["audio", "text"], learn_temperature=False)
    assert not frozen.logit_scale.requires_grad


def test_logit_scale_is_clamped_to_100():
    objective = ClipObjective(["a", "b"])
    with torch.no_grad():
        objective.logit_scale.fill_(10.0)
    assert objective.scale().item() == pytest.approx(100.0)
    assert objective.logit_scale.item() == pytest.approx(math.log(100.0))


@pytest.mark.parametrize("factory", OBJECTIVES)
def test_three_heads_average_the_three_pair_losses(factory):
    torch.manual_seed(0)
    outputs = {name: F.normalize(torch.randn(5, 8), dim=-1) for name in ("a", "b", "c")}
    result = factory(["a", "b", "c"])(outputs, _BATCH)
    pairs = [("a", "b"), ("a", "c"), ("b", "c")]
    expected = [factory([x, y])(outputs, _BATCH).loss for x, y in pairs]
    torch.testing.assert_close(result.loss, torch.stack(expected).mean())
    for (x, y), loss in zip(pairs, expected):
        torch.testing.assert_close(result.logs[f"{x}-{y}/loss"], loss)
    names = _metrics(factory(["a", "b", "c"]), outputs)
    assert len(names) == 3 * 2 * 3  # pairs x directions x k


def test_recall_is_computed_over_the_whole_set_not_per_batch():
    objective = ClipObjective(["a", "b"], recall_at=[1])
    first = _aligned(4, 8)
    second = torch.eye(8)[4:]
    # Every batch is perfectly aligned, but batch 2's "b" rows copy batch 1's: across the set, the
    # queries of batch 1 find two equally good matches (an exact tie: half a hit each), and batch
    # 2's queries score 0 against every item (an 8-way tie: 1/8 of a hit each).
    batch_one = {"a": first, "b": first}
    batch_two = {"a": second, "b": first}
    metrics = _metrics(objective, batch_one, batch_two)
    assert metrics["recall@1/a->b"] == pytest.approx(0.5 * 0.5 + 0.5 / 8)


def test_collapsed_embeddings_score_chance_not_one():
    metric = RetrievalRecallAtK(k=2)
    same = F.normalize(torch.ones(10, 4), dim=-1)
    metric.update(same, same)
    assert metric.compute().item() == pytest.approx(2 / 10)


def test_retrieval_recall_at_k_by_rank():
    queries = torch.eye(3)
    # Query 0's partner ranks 1st, query 1's 2nd, query 2's 3rd.
    gallery = torch.tensor([[1.0, 0.0, 0.5], [0.5, 0.4, 0.6], [0.9, 0.8, 0.1]])
    recalls = []
    for k in (1, 2, 3):
        metric = RetrievalRecallAtK(k=k, chunk_size=2)
        metric.update(queries, gallery)
        recalls.append(metric.compute().item())
    assert recalls == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_unknown_or_too_few_heads_are_refused():
    with pytest.raises(ValueError, match="at least two"):
        ClipObjective(["a"])
    with pytest.raises(ValueError, match="no head named"):
        SigLipObjective(["a", "b"], heads={"a": object(), "c": object()})


@pytest.mark.parametrize("factory", OBJECTIVES)
def test_example_inputs_give_gradients(factory):
    objective = factory(["x", "y"])
    outputs, batch = objective.example_inputs(4)
    objective(outputs, batch).loss.backward()
    assert all(t.grad is not None for t in outputs.values())
