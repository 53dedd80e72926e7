"""Late (decision-level) fusion: one projection per modality, then a weighted average."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from mmzoo.constraints import NonNegativeFloat, PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Fusion
from mmzoo.fusions._blocks import check_modalities, modality_order
from mmzoo.ops.masking import present_modalities

__all__ = ["LateFusion"]


class LateFusion(Fusion):
    """Late fusion: a weighted average of per-modality vectors, each from its own MLP.

    ``v_m = MLP_m(pooled_m)``; ``fused = sum_m w_m v_m`` with ``w`` renormalized over the
    modalities present in each row (a modality is present when its mask has any ``True``).

    Weighting: ``mean`` (equal weights), ``fixed`` (the ``weights`` option, one non-negative
    number per modality) or ``learned`` (a softmax over one learnable logit per modality).

    Because the weights of a row sum to one, a linear head on ``fused`` gives exactly the
    weighted average of that head's logits on each ``v_m``: decision-level fusion. ``Fused.parts``
    holds every ``v_m``, so the model also scores each modality alone (``<head>@<modality>``).

    Missing modalities: an absent modality gets weight zero and the other weights are
    renormalized, so the output ignores its values; a row with no modality gives zeros (its
    ``parts`` entry is the MLP of the zero vector).

    Method: late fusion / decision-level fusion (e.g. Snoek, Worring and Smeulders, 2005, "Early
    versus late fusion in semantic video analysis").

    Args:
        dim: width of every per-modality vector and of the fused vector.
        hidden_dim: width of the hidden layer of each MLP; ``null`` means a single projection.
        dropout: dropout on the hidden layer.
        weighting: ``mean``, ``fixed`` or ``learned``.
        weights: modality -> non-negative weight, for ``weighting: fixed`` (every modality needed).

    Inputs:
        encoded: modality -> :class:`Encoded` with ``pooled (B, D_m)`` and ``mask (B, T_m)``.
    Returns:
        :class:`Fused` with ``pooled (B, dim)``, ``parts`` modality -> ``(B, dim)`` and
        ``weights (B, M)`` (rows sum to one over present modalities).
    """

    handles_missing = True

    def __init__(
        self,
        input_dims: Mapping[str, int],
        dim: PositiveInt = 128,
        hidden_dim: PositiveInt | None = None,
        dropout: Probability = 0.1,
        weighting: Literal["mean", "fixed", "learned"] = "mean",
        weights: dict[str, NonNegativeFloat] | None = None,
    ) -> None:
        super().__init__()
        self.modalities = modality_order(input_dims, "late")
        if weighting not in ("mean", "fixed", "learned"):
            raise ValueError(f"weighting must be 'mean', 'fixed' or 'learned', got {weighting!r}")
        self.dim = dim
        self.weighting = weighting

        def mlp(width: int) -> nn.Module:
            if hidden_dim is None:
                return nn.Linear(width, dim)
            return nn.Sequential(
                nn.Linear(width, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim)
            )

        self.mlps = nn.ModuleDict({m: mlp(input_dims[m]) for m in self.modalities})

        if weighting == "fixed":
            if weights is None:
                raise ValueError("late fusion with weighting: fixed needs `weights` (modality -> weight)")
            unknown = sorted(set(weights) - set(self.modalities))
            absent = [m for m in self.modalities if m not in weights]
            if unknown or absent:
                raise ValueError(
                    f"late fusion `weights` must name exactly the modalities {self.modalities};"
                    f" unknown {unknown}, without a weight {absent}"
                )
            if any(weights[m] < 0 for m in self.modalities) or sum(weights.values()) <= 0:
                raise ValueError(f"late fusion `weights` must be non-negative with a positive sum, got {weights}")
        elif weights is not None:
            raise ValueError(f"late fusion `weights` is only used with weighting: fixed (got weighting: {weighting})")
        fixed = [float(weights[m]) if weights else 1.0 for m in self.modalities]
        self.register_buffer("fixed_weights", torch.tensor(fixed))
        self.logits = nn.Parameter(torch.zeros(len(self.modalities))) if weighting == "learned" else None

    def forward(self, encoded: Mapping[str, Encoded]) -> Fused:
        check_modalities("late", self.modalities, encoded)
        parts = {m: self.mlps[m](encoded[m].pooled) for m in self.modalities}
        stacked = torch.stack([parts[m] for m in self.modalities], dim=1)  # (B, M, dim)
        present = present_modalities(encoded, self.modalities)  # (B, M)
        raw = self.logits.softmax(dim=0) if self.logits is not None else self.fixed_weights
        raw = raw.float() * present.float()  # (B, M); a softmax renormalized over a subset is
        weights = raw / raw.sum(dim=1, keepdim=True).clamp_min(1e-12)  # the softmax over that subset
        weights = weights.to(stacked.dtype)
        fused = (torch.where(present.unsqueeze(-1), stacked, 0.0) * weights.unsqueeze(-1)).sum(dim=1)
        return Fused(pooled=fused, parts=parts, weights=weights)
