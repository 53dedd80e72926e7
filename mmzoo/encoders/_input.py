"""Turn an encoder's raw input (token ids or feature frames) into ``(B, T, D)`` vectors."""

from __future__ import annotations

from torch import Tensor, nn

from mmzoo.contracts import ModalitySpec

__all__ = ["InputProjection"]


class InputProjection(nn.Module):
    """Embeds token ids or linearly projects feature frames to width ``dim``.

    Inputs:
        values: long ``(B, T)`` token ids, or float ``(B, T, F)`` features.
    Returns:
        ``(B, T, dim)``.
    """

    def __init__(self, input_spec: ModalitySpec, dim: int) -> None:
        super().__init__()
        if input_spec.kind == "tokens":
            if not input_spec.vocab_size:
                raise ValueError("a token input needs input_spec.vocab_size")
            self.proj: nn.Module = nn.Embedding(input_spec.vocab_size, dim, padding_idx=input_spec.pad_id)
        elif input_spec.kind == "features":
            if not input_spec.feature_dim:
                raise ValueError("a feature input needs input_spec.feature_dim")
            self.proj = nn.Linear(input_spec.feature_dim, dim)
        else:
            raise ValueError(f"this encoder reads 'tokens' or 'features' inputs, not '{input_spec.kind}'")

    def forward(self, values: Tensor) -> Tensor:
        return self.proj(values)
