"""The bce objective: loss against torch references, unlabelled rows, and metrics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MultilabelAccuracy, MultilabelAUROC, MultilabelF1Score

from mmzoo.contracts import Batch
from mmzoo.heads import MultiLabelHead
from mmzoo.objectives import BCEObjective


def _batch(target: torch.Tensor) -> Batch:
    return Batch(inputs={}, targets={"tags": target}, ids=[str(i) for i in range(len(target))])


def _data(rows: int = 8, labels: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(rows, labels, generator=generator)
    target = (torch.rand(rows, labels, generator=generator) > 0.5).float()
    target[0] = torch.tensor([1.0, 0.0, 1.0, 0.0])[:labels]  # every label has both values
    target[1] = 1.0 - target[0]
    return logits, target


def test_loss_matches_torch_with_pos_weight_and_smoothing():
    logits, target = _data()
    plain = BCEObjective(head="tags", target="tags", num_classes=4)
    torch.testing.assert_close(
        plain({"tags": logits}, _batch(target)), F.binary_cross_entropy_with_logits(logits, target)
    )
    weights = [1.0, 2.0, 0.5, 3.0]
    weighted = BCEObjective(head="tags", target="tags", num_classes=4, pos_weight=weights, label_smoothing=0.2)
    expected = F.binary_cross_entropy_with_logits(logits, target * 0.8 + 0.1, pos_weight=torch.tensor(weights))
    torch.testing.assert_close(weighted({"tags": logits}, _batch(target)), expected)


def test_nan_rows_are_ignored():
    logits, target = _data()
    missing = target.clone()
    missing[[2, 5]] = float("nan")
    objective = BCEObjective(head="tags", target="tags", num_classes=4, pos_weight=[1.0, 2.0, 0.5, 3.0])
    keep = torch.tensor([0, 1, 3, 4, 6, 7])
    expected = F.binary_cross_entropy_with_logits(logits[keep], target[keep], pos_weight=objective.pos_weight)
    leaf = logits.clone().requires_grad_(True)
    loss = objective({"tags": leaf}, _batch(missing))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert leaf.grad[[2, 5]].abs().sum() == 0, "unlabelled rows get no gradient"


def test_all_rows_unlabelled_gives_zero():
    logits = torch.randn(3, 4, requires_grad=True)
    loss = BCEObjective(head="tags", target="tags")({"tags": logits}, _batch(torch.full((3, 4), float("nan"))))
    assert loss.item() == 0.0
    loss.backward()


def test_metrics_match_torchmetrics_and_skip_unlabelled_rows():
    logits, target = _data(rows=10)
    missing = target.clone()
    missing[9] = float("nan")
    head = MultiLabelHead(in_dim=2, num_classes=4)
    objective = BCEObjective(head="tags", target="tags", heads={"tags": head})  # num_classes from the head
    metrics = MetricCollection(objective.make_metrics())
    assert set(metrics.keys(keep_base=True)) == {"macro_f1", "auroc", "accuracy"}
    objective.update_metrics(metrics, {"tags": logits[:5]}, _batch(missing[:5]))
    objective.update_metrics(metrics, {"tags": logits[5:]}, _batch(missing[5:]))
    got = metrics.compute()
    probs, labels = logits[:9].sigmoid(), target[:9].long()
    torch.testing.assert_close(got["macro_f1"], MultilabelF1Score(4, average="macro")(probs, labels))
    torch.testing.assert_close(got["auroc"], MultilabelAUROC(4, average="macro")(probs, labels))
    torch.testing.assert_close(got["accuracy"], MultilabelAccuracy(4, threshold=0.5, average="micro")(probs, labels))


def test_part_metrics_and_options():
    objective = BCEObjective(head="tags", target="tags", num_classes=4, metrics=["auroc"], part_metrics=["audio"])
    assert set(objective.make_metrics()) == {"auroc", "auroc@audio"}
    metrics = MetricCollection(objective.make_metrics())
    logits, target = _data()
    with pytest.raises(KeyError, match="tags@audio"):
        objective.update_metrics(metrics, {"tags": logits}, _batch(target))
    with pytest.raises(ValueError, match="pos_weight"):
        BCEObjective(head="tags", target="tags", num_classes=4, pos_weight=[1.0])
    with pytest.raises(ValueError, match="label_smoothing"):
        BCEObjective(head="tags", target="tags", label_smoothing=1.0)


RECIPE = """\
seed: 0
run: {{root: {root}, name: tags_and_score}}
data:
  name: manifest
  train: {train}
  val: {val}
  modalities:
    audio: {{type: audio, sample_rate: 16000}}
    text: {{type: text}}
  targets:
    tags: {{type: multilabel, classes: [even, small, prime]}}
    score: {{type: regression}}
  batch_size: 8
transforms:
  audio: [{{name: log_mel, n_mels: 16}}]
  text: [{{name: tokenize, tokenizer: byt5}}]
model:
  encoders:
    audio: {{name: conv1d, dim: 16, layers: 1}}
    text: {{name: bag, dim: 16}}
  fusion: {{name: concat, dim: 16}}
  heads:
    tags: {{name: multilabel, num_classes: 3}}
    score: {{name: regression}}
objectives:
  tags: {{name: bce, head: tags, target: tags, pos_weight: [1.0, 1.0, 2.0]}}
  score: {{name: regression, head: score, target: score, loss: huber}}
weighting: {{name: uncertainty}}
optimizer: {{name: adamw, lr: 0.003}}
trainer:
  max_epochs: 1
  log_every_n_steps: 1
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  enable_model_summary: false
logger:
  wandb: {{mode: disabled}}
"""


def test_multilabel_and_regression_train_together(tmp_path):
    import json
    import math

    from mmzoo.run import run_recipe

    from ..conftest import RECIPES

    words = "zero one two three four five six seven eight nine".split()

    def write(name: str, takes: range) -> str:
        rows = []
        for digit in range(10):
            for take in takes:
                tags = [
                    t
                    for t, on in (("even", digit % 2 == 0), ("small", digit < 5), ("prime", digit in (2, 3, 5, 7)))
                    if on
                ]
                audio = RECIPES / "data" / "digits" / "audio" / f"{digit}_{take:02d}.flac"
                rows.append(
                    {"id": f"{digit}-{take}", "audio": str(audio), "text": words[digit], "tags": tags, "score": digit}
                )
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return str(path)

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        RECIPE.format(root=tmp_path / "runs", train=write("train", range(2)), val=write("val", range(2, 3)))
    )
    result = run_recipe("fit", recipe, [])
    for key in ("val/tags/auroc", "val/tags/macro_f1", "val/tags/accuracy", "val/score/mae", "val/score/rmse"):
        assert key in result.metrics and math.isfinite(float(result.metrics[key])), key
    predicted = run_recipe("predict", result.run_dir, [f"data.predict={tmp_path / 'val.jsonl'}"])
    rows = [json.loads(line) for line in predicted.predictions.read_text().splitlines()]
    assert len(rows) == 10
    assert len(rows[0]["tags"]["probs"]) == 3 and set(rows[0]["tags"]["labels"]) <= {0, 1}
    assert isinstance(rows[0]["score"]["value"], float)
