"""L2-normalized embeddings of the fused vector or of one modality, for contrastive objectives."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Fused, Head

__all__ = ["EmbeddingHead"]


class EmbeddingHead(Head):
    """Unit-norm embedding of one modality's pooled vector (or of the fused vector).

    ``embedding = normalize(MLP(x))`` with ``x = encoded[modality].pooled``, or ``Fused.pooled``
    when ``modality`` is ``null``. The MLP is a linear projection to ``dim``, with an optional
    hidden layer. Pair two such heads (one per modality) with the ``clip`` or ``siglip``
    objective; the fusion is then not used by these heads.

    Args:
        dim: width of the embedding.
        modality: the modality whose encoder's pooled vector is embedded; ``null`` for the fused
            vector.
        hidden_dim: width of an optional hidden layer (GELU); ``null`` for a linear projection.
        dropout: dropout on the input vector.

    Inputs:
        fused: :class:`Fused` with ``pooled (B, in_dim)`` (when ``modality`` is ``null``).
        encoded: modality -> :class:`Encoded` with ``pooled (B, D_m)``.
    Returns:
        embedding ``(B, dim)`` with unit L2 norm.
    """

    def __init__(
        self,
        in_dim: int,
        dim: PositiveInt = 128,
        modality: str | None = None,
        hidden_dim: PositiveInt | None = None,
        dropout: Probability = 0.0,
        encoder_dims: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        if modality is not None:
            if encoder_dims is None or modality not in encoder_dims:
                known = sorted(encoder_dims or {})
                raise ValueError(f"embedding head: no encoder for modality '{modality}' (encoded modalities: {known})")
            in_dim = encoder_dims[modality]
        self.modality = modality
        self.dim = dim
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden_dim is not None:
            layers += [nn.Linear(in_dim, hidden_dim), nn.GELU()]
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> Tensor:
        source = fused.pooled if self.modality is None else encoded[self.modality].pooled
        return F.normalize(self.net(source).float(), dim=-1)

    def predict(self, output: Tensor) -> dict[str, Tensor]:
        """``embedding (B, dim)``."""
        return {"embedding": output}
