"""The head contract: a task's output from the fused (and encoded) representations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from mmzoo.contracts.batch import Encoded, Fused

__all__ = ["Head", "logits_of"]


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
