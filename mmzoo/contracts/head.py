"""The head contract: a task's output from the fused (and encoded) representations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mmzoo.contracts.batch import Encoded, Fused

__all__ = ["CalibratedHead", "Head", "logits_of"]


class Head(nn.Module):
    """Base class of task heads: ``forward(fused, encoded) -> output`` (usually a tensor).

    :meth:`predict` turns the output into per-row values for prediction files. A head whose
    output is a mapping gives classification objectives its scores under ``"logits"`` (see
    :func:`logits_of`). A head that sets :attr:`reads_inputs` is also given the batch's raw
    inputs, ``forward(fused, encoded, inputs)``, for heads that score an input itself (such as
    how well a transcript aligns with the audio).
    """

    reads_inputs: bool = False
    #: How many classes (or labels) the head scores, for heads that score classes; objectives
    #: that score them take it as their default ``num_classes``.
    num_classes: int | None = None

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def predict(self, output: Any) -> dict[str, Tensor]:
        """Per-row prediction values, each with leading dimension ``B`` (default: the raw output)."""
        return {"output": output}


def logits_of(output: Any) -> Tensor:
    """A head output's class scores: the output itself, or its ``"logits"`` when it is a mapping."""
    return output["logits"] if isinstance(output, Mapping) else output


class CalibratedHead(Head):
    """A head that scores classes and turns its logits into probabilities through a temperature.

    ``temperature`` is a scalar buffer, ``1.0`` until an objective fits it on the validation split
    (``cross_entropy`` with ``calibrate: true``, see :func:`mmzoo.ops.calibration.fit_temperature`);
    being a buffer, it is saved with every checkpoint. A checkpoint written before the buffer existed
    loads with ``1.0``. Subclasses set :attr:`num_classes` and build :meth:`predict` on
    :meth:`class_predictions`.
    """

    num_classes: int

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("temperature", torch.ones(()))

    def set_temperature(self, value: float) -> None:
        """Use ``value`` from now on (in place, on every process that calls it)."""
        self.temperature.fill_(value)

    def class_predictions(self, logits: Tensor) -> dict[str, Tensor]:
        """``label (B,)`` the arg-max class, ``probs (B, C)`` and ``logits (B, C)``, both after the temperature.

        Args:
            logits: ``(B, C)`` raw class scores.
        """
        scaled = logits.float() / self.temperature.float()
        probs = scaled.softmax(dim=-1)
        return {"label": probs.argmax(dim=-1), "probs": probs, "logits": scaled}

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        state_dict.setdefault(prefix + "temperature", torch.ones(()))  # checkpoints from before calibration
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
