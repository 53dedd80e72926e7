"""Per-token vocabulary logits over one modality's encoded sequence (for masked language modelling)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from mmzoo.constraints import PositiveInt
from mmzoo.contracts import Encoded, Fused, Head, ModalitySpec

__all__ = ["TokenLogitsHead"]


class TokenLogitsHead(Head):
    """Vocabulary logits for every position of a token modality's encoded sequence.

    The encoder of that modality must keep the sequence length (``conv1d``, ``transformer`` without
    subsampling, ``rnn``, ``bag``, ``hf_text``...), so that position ``t`` of the output scores
    token ``t`` of the input.

    Args:
        modality: the token modality whose encoded sequence is read.
        vocab_size: output classes; by default the modality's vocabulary size.
        hidden_dim: width of an optional hidden layer.

    Inputs:
        encoded[modality].seq: ``(B, T, D)``.
    Returns:
        logits ``(B, T, vocab_size)``.
    """

    def __init__(
        self,
        modality: str,
        encoder_dims: Mapping[str, int],
        input_specs: Mapping[str, ModalitySpec] | None = None,
        vocab_size: PositiveInt | None = None,
        hidden_dim: PositiveInt | None = None,
    ) -> None:
        super().__init__()
        if modality not in encoder_dims:
            raise ValueError(f"no encoder for modality '{modality}'; encoders: {', '.join(sorted(encoder_dims))}")
        spec = (input_specs or {}).get(modality)
        vocab_size = vocab_size or (spec.vocab_size if spec is not None else None)
        if not vocab_size:
            raise ValueError(f"give vocab_size: modality '{modality}' does not describe a vocabulary")
        self.modality = modality
        self.vocab_size = vocab_size
        width = encoder_dims[modality]
        layers: list[nn.Module] = []
        if hidden_dim is not None:
            layers += [nn.Linear(width, hidden_dim), nn.GELU(), nn.LayerNorm(hidden_dim)]
            width = hidden_dim
        layers.append(nn.Linear(width, vocab_size))
        self.net = nn.Sequential(*layers)

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> Tensor:
        return self.net(encoded[self.modality].seq)

    def predict(self, output: Tensor) -> dict[str, Tensor]:
        """``tokens (B, T)``: the most likely token at every position."""
        return {"tokens": output.argmax(dim=-1)}
