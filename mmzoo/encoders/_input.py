"""What encoders check and do first with their input: its kind, and for token ids or feature
frames, the projection to ``(B, T, D)`` vectors."""

from __future__ import annotations

from torch import Tensor, nn

from mmzoo.contracts import ModalitySpec

__all__ = ["InputProjection", "expect_input_kind"]


def expect_input_kind(encoder: str, input_spec: ModalitySpec, kind: str) -> None:
    """Raise ``ValueError`` unless the modality is of the one ``kind`` the encoder reads.

    Args:
        encoder: the encoder's registered name, for the message.
        input_spec: the modality's spec.
        kind: the kind it must have (``tokens``, ``image``, ``waveform``...).
    """
    if input_spec.kind != kind:
        raise ValueError(f"{encoder} reads '{kind}' inputs, not '{input_spec.kind}'")


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
