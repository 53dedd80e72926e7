"""Per-frame character log-probabilities over one modality's encoded sequence, for CTC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Head
from mmzoo.ops.ctc_decode import greedy_decode, pad_decoded
from mmzoo.ops.text import DEFAULT_ALPHABET, texts_of

__all__ = ["CTCHead"]


class CTCHead(Head):
    """CTC log-probabilities ``(B, T, vocab_size + 1)`` over a modality's encoded frames (id 0: blank).

    The fused vector is projected and added to every frame (a global context, e.g. from other
    modalities), then an optional hidden layer and the output layer score each frame.

    Args:
        modality: the modality whose encoded sequence (``Encoded.seq``) is labelled.
        vocab_size: number of characters, the blank excluded (``28`` for the default transcript
            alphabet).
        hidden_dim: width of an optional hidden layer per frame; ``null`` for a linear head.
        dropout: dropout before the output layer.
        use_fused: add a projection of the fused vector to every frame.

    Inputs:
        fused: :class:`Fused` with ``pooled (B, in_dim)``; encoded: the modality's
            :class:`Encoded` with ``seq (B, T, D)`` and ``mask (B, T)``.
    Returns:
        ``{"log_probs": (B, T, vocab_size + 1)`` log-softmax, ``"lengths": (B,)`` real frames``}``.
    """

    def __init__(
        self,
        in_dim: int,
        encoder_dims: Mapping[str, int],
        modality: str,
        vocab_size: PositiveInt = len(DEFAULT_ALPHABET),  # noqa: B008 - an int, computed once
        hidden_dim: PositiveInt | None = None,
        dropout: Probability = 0.0,
        use_fused: bool = True,
    ) -> None:
        super().__init__()
        if modality not in encoder_dims:
            raise ValueError(f"ctc head: no encoder for modality '{modality}' (have {sorted(encoder_dims)})")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be at least 1, got {vocab_size}")
        self.modality = modality
        self.vocab_size = vocab_size
        width = encoder_dims[modality]
        self.context = nn.Linear(in_dim, width) if use_fused else None
        layers: list[nn.Module] = []
        if hidden_dim is not None:
            layers += [nn.Linear(width, hidden_dim), nn.GELU()]
            width = hidden_dim
        layers += [nn.Dropout(dropout), nn.Linear(width, vocab_size + 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> dict[str, Tensor]:
        item = encoded[self.modality]
        frames = item.seq
        if self.context is not None:
            frames = frames + self.context(fused.pooled).unsqueeze(1)
        log_probs = self.net(frames).float().log_softmax(dim=-1)
        return {"log_probs": log_probs, "lengths": item.mask.sum(dim=-1)}

    def predict(self, output: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Greedy-decoded ``ids (B, L)`` (character ids, padded with ``-1``) and their ``lengths (B,)``."""
        ids, lengths = pad_decoded(greedy_decode(output["log_probs"], output["lengths"]))
        return {"ids": ids, "lengths": lengths}

    @staticmethod
    def decode_text(ids: Tensor | Sequence[Sequence[int]], alphabet: str = DEFAULT_ALPHABET) -> list[str]:
        """Texts of decoded ids (rows of ``predict()["ids"]`` or id lists); ``-1`` padding is skipped."""
        return texts_of(ids.tolist() if isinstance(ids, Tensor) else ids, alphabet=alphabet)
