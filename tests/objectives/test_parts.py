"""Per-class loss weights, as the bce and cross-entropy objectives keep them."""

from __future__ import annotations

import pytest
import torch

from mmzoo.objectives._parts import class_weight


def test_class_weight_is_a_float32_tensor_or_none():
    weights = class_weight("class_weights", [1, 2.5], 2, "label", "classes")
    assert weights is not None and weights.dtype == torch.float32 and weights.tolist() == [1.0, 2.5]
    assert class_weight("class_weights", None, 2, "label", "classes") is None
    assert class_weight("pos_weight", [1.0, 2.0, 3.0], None, "tags", "labels").shape == (3,)


@pytest.mark.parametrize(
    ("name", "option", "message"),
    [
        ("cross_entropy", "class_weights", "class_weights has 2 entries but head 'label' has 3 classes"),
        ("bce", "pos_weight", "pos_weight has 2 entries but head 'label' has 3 labels"),
    ],
)
def test_objectives_check_the_length_against_the_head(registry, name, option, message):
    entry = registry.get("objective", name)
    with pytest.raises(ValueError, match=f"^{message}$"):
        entry.build({"head": "label", "target": "y", "num_classes": 3, option: [1.0, 2.0]}, {"heads": {}})
    objective = entry.build({"head": "label", "target": "y", "num_classes": 3, option: [1.0, 2.0, 0.5]}, {"heads": {}})
    assert objective.state_dict()[option].tolist() == [1.0, 2.0, 0.5]
    assert option not in entry.build({"head": "label", "target": "y"}, {"heads": {}}).state_dict()


def test_objectives_default_num_classes_to_the_declared_head_attribute():
    from torch import nn

    from mmzoo.heads.classification import ClassificationHead
    from mmzoo.objectives._parts import head_num_classes

    head = ClassificationHead(in_dim=4, num_classes=5)
    assert head_num_classes(None, {"label": head}, "label") == 5
    assert head_num_classes(3, {"label": head}, "label") == 3  # the option wins
    assert head_num_classes(None, {"label": head}, "other") is None
    assert head_num_classes(None, None, "label") is None

    undeclared = nn.Linear(4, 5)  # not a Head: nothing is probed on it
    undeclared.num_classes = 5  # type: ignore[assignment]
    assert head_num_classes(None, {"label": undeclared}, "label") is None


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_label_smoothing_outside_zero_one_is_refused(value):
    from mmzoo.objectives._parts import check_label_smoothing

    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        check_label_smoothing(value)
    assert check_label_smoothing(0.25) == 0.25


def test_cross_entropy_with_calibrate_fits_the_heads_temperature_on_validation_batches():
    from mmzoo.contracts import Batch
    from mmzoo.heads.classification import ClassificationHead
    from mmzoo.objectives.cross_entropy import CrossEntropyObjective

    head = ClassificationHead(in_dim=4, num_classes=3)
    objective = CrossEntropyObjective("q", "q", heads={"q": head}, calibrate=True, metrics=["ece"])
    assert "temperature" in head.state_dict() and not objective.state_dict()  # the head saves it, once
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        logits = 3.0 * torch.randn(100, 3, generator=generator)
        labels = torch.multinomial((logits / 3.0).softmax(dim=-1), 1, generator=generator).squeeze(1)
        objective.validation_batch({"q": logits}, Batch(inputs={}, targets={"q": labels}, ids=["r"] * 100))
    objective.validation_end()
    assert float(head.temperature) == pytest.approx(3.0, rel=0.2)
    probs = head.predict(torch.tensor([[3.0, 0.0, 0.0]]))["probs"]
    assert torch.allclose(probs, (torch.tensor([[3.0, 0.0, 0.0]]) / head.temperature).softmax(dim=-1))
    objective.validation_end()  # nothing collected since: the temperature stays
    assert float(head.temperature) == pytest.approx(3.0, rel=0.2)


def test_calibrate_needs_a_calibrated_head():
    from mmzoo.heads.regression import RegressionHead
    from mmzoo.objectives.cross_entropy import CrossEntropyObjective

    with pytest.raises(ValueError, match="needs head 'q' to be a CalibratedHead.*RegressionHead"):
        CrossEntropyObjective("q", "q", heads={"q": RegressionHead(in_dim=4)}, calibrate=True)
    with pytest.raises(ValueError, match="it is no head"):
        CrossEntropyObjective("q", "q", heads={}, calibrate=True)


def test_a_checkpoint_from_before_calibration_loads_with_temperature_one():
    from mmzoo.heads.classification import ClassificationHead

    head = ClassificationHead(in_dim=4, num_classes=3)
    old = {key: value for key, value in head.state_dict().items() if key != "temperature"}
    fresh = ClassificationHead(in_dim=4, num_classes=3)
    fresh.set_temperature(2.5)
    fresh.load_state_dict(old, strict=True)
    assert float(fresh.temperature) == 1.0
