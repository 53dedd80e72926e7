"""Early fusion: a joint transformer over the projected, type-tagged sequences."""

from __future__ import annotations

import pytest
import torch

import mmzoo.encoders._transformer as transformer_module
from mmzoo.contracts import Encoded
from mmzoo.fusions.early import EarlyFusion
from mmzoo.ops.masking import masked_mean


def _encoded(lengths: list[int], dim: int, total: int | None = None) -> Encoded:
    total = total or max(lengths)
    mask = torch.arange(total).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    seq = torch.randn(len(lengths), total, dim)
    return Encoded(seq=seq, mask=mask, pooled=masked_mean(seq, mask))


def _fusion(**options) -> EarlyFusion:
    torch.manual_seed(0)
    return EarlyFusion({"audio": 5, "text": 3}, dim=8, depth=2, heads=2, dropout=0.0, **options).eval()


def test_concat_joins_along_time():
    fusion = _fusion()
    out = fusion({"audio": _encoded([4, 2], 5), "text": _encoded([1, 3], 3)})
    assert out.pooled.shape == (2, 8)
    assert out.seq.shape == (2, 4 + 3, 8)
    assert out.mask.sum(dim=1).tolist() == [5, 5]
    assert (out.seq[~out.mask] == 0).all()


def test_extra_padding_changes_nothing():
    fusion = _fusion()
    audio, text = _encoded([4, 2], 5), _encoded([1, 3], 3)
    longer = _encoded([4, 2], 5, total=9)
    longer.seq[:, :4] = audio.seq
    torch.testing.assert_close(
        fusion({"audio": longer, "text": text}).pooled, fusion({"audio": audio, "text": text}).pooled
    )


def test_sum_adds_time_aligned_positions():
    fusion = _fusion(combine="sum")
    out = fusion({"audio": _encoded([4, 2], 5), "text": _encoded([3, 3], 3, total=4)})
    assert out.seq.shape == (2, 4, 8)
    assert out.mask.sum(dim=1).tolist() == [4, 3]


def test_sum_with_mismatched_lengths_raises_a_clear_error():
    fusion = _fusion(combine="sum")
    with pytest.raises(ValueError, match="combine: sum needs sequences of one length"):
        fusion({"audio": _encoded([4, 2], 5), "text": _encoded([1, 3], 3)})


def test_attention_goes_through_the_shared_function(monkeypatch):
    calls = []
    original = transformer_module.attention

    def spy(*args, **kwargs):
        calls.append(kwargs.get("key_padding_mask"))
        return original(*args, **kwargs)

    monkeypatch.setattr(transformer_module, "attention", spy)
    _fusion()({"audio": _encoded([4, 2], 5), "text": _encoded([1, 3], 3)})
    assert len(calls) == 2 and all(mask is not None and mask.shape == (2, 7) for mask in calls)


def test_a_modality_missing_from_every_row_gives_the_other_alone():
    fusion = _fusion()
    audio, text = _encoded([0, 0], 5), _encoded([1, 3], 3)
    out = fusion({"audio": audio, "text": text})
    assert torch.isfinite(out.pooled).all()
    shorter = _encoded([0, 0], 5, total=1)
    torch.testing.assert_close(fusion({"audio": shorter, "text": text}).pooled, out.pooled)


def test_bad_combine_is_refused():
    with pytest.raises(ValueError, match="combine"):
        EarlyFusion({"audio": 2, "text": 2}, combine="stack")  # type: ignore[arg-type]
