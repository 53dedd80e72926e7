"""The ``ctc`` head: log-probabilities per frame of one modality, greedy predictions."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded, Fused
from mmzoo.heads.ctc import CTCHead
from mmzoo.ops.masking import masked_mean


def encoded(lengths: list[int], dim: int = 8) -> dict[str, Encoded]:
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    seq = torch.randn(len(lengths), max(lengths), dim)
    return {"audio": Encoded(seq=seq, mask=mask, pooled=masked_mean(seq, mask))}


def test_shapes_log_softmax_and_lengths() -> None:
    torch.manual_seed(0)
    head = CTCHead(in_dim=4, encoder_dims={"audio": 8, "text": 6}, modality="audio", vocab_size=5, hidden_dim=16)
    out = head(Fused(pooled=torch.randn(3, 4)), encoded([7, 3, 5]))
    assert out["log_probs"].shape == (3, 7, 6)
    assert torch.allclose(out["log_probs"].exp().sum(-1), torch.ones(3, 7), atol=1e-5)
    assert out["lengths"].tolist() == [7, 3, 5]


def test_predict_is_greedy_padded_with_minus_one() -> None:
    head = CTCHead(in_dim=4, encoder_dims={"audio": 8}, modality="audio", vocab_size=3)
    path = torch.tensor([[1, 1, 0, 2, 2, 3], [0, 3, 3, 0, 0, 0]])
    log_probs = (torch.nn.functional.one_hot(path, 4).float() * 10).log_softmax(-1)
    predicted = head.predict({"log_probs": log_probs, "lengths": torch.tensor([6, 2])})
    assert predicted["ids"].tolist() == [[1, 2, 3], [3, -1, -1]]
    assert predicted["lengths"].tolist() == [3, 1]
    assert CTCHead.decode_text(predicted["ids"], "abc") == ["abc", "c"]
    assert CTCHead.decode_text([[8, 5, 12, 12, 15]]) == ["hello"]


def test_padding_does_not_change_real_frames() -> None:
    torch.manual_seed(0)
    head = CTCHead(in_dim=4, encoder_dims={"audio": 8}, modality="audio", vocab_size=5, use_fused=False).eval()
    enc = encoded([6, 2])
    scrambled = enc["audio"]._replace(seq=torch.where(enc["audio"].mask.unsqueeze(-1), enc["audio"].seq, 100.0))
    fused = Fused(pooled=torch.randn(2, 4))
    a = head(fused, enc)["log_probs"]
    b = head(fused, {"audio": scrambled})["log_probs"]
    assert torch.allclose(a[1, :2], b[1, :2])


def test_unknown_modality_is_refused() -> None:
    with pytest.raises(ValueError, match="no encoder for modality 'speech'"):
        CTCHead(in_dim=4, encoder_dims={"audio": 8}, modality="speech", vocab_size=5)
