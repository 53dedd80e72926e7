"""mmzoo's attention function: the SDPA backend's masks and the choice of backend."""

from __future__ import annotations

import pytest
import torch

from mmzoo.ops.attention import (
    SHARED_SEGMENT,
    attention,
    attention_backend,
    current_attention_backend,
    segment_mask,
)


def reference(q, k, v, allowed):
    """fp32 softmax attention over ``allowed`` (B, Tq, Tk); queries with no allowed key give 0."""
    scores = (q.double() @ k.double().transpose(-1, -2)) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return (weights @ v.double()).to(q.dtype)


def _qkv(tq=6, tk=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(2, 2, tq, 8, generator=generator)
    k = torch.randn(2, 2, tk, 8, generator=generator)
    v = torch.randn(2, 2, tk, 8, generator=generator)
    return q, k, v


def test_key_padding_with_an_empty_row_gives_zeros_not_nan():
    q, k, v = _qkv(tq=4, tk=6)
    mask = torch.tensor([[True, True, True, False, False, False], [False] * 6])
    out = attention(q, k, v, key_padding_mask=mask)
    allowed = mask[:, None, :].expand(-1, 4, -1)
    torch.testing.assert_close(out, reference(q, k, v, allowed))
    assert torch.all(out[1] == 0)


def test_segments_attend_within_their_segment_and_to_shared_tokens():
    q, k, v = _qkv()
    segments = torch.tensor([[0, 1, 1, 2, 2, 2], [1, 1, 0, 2, 0, 2]])
    mask = torch.tensor([[True] * 6, [True, True, True, True, True, False]])
    out = attention(q, k, v, key_padding_mask=mask, query_segments=segments, key_segments=segments)
    allowed = segment_mask(segments, segments) & mask[:, None, :]
    torch.testing.assert_close(out, reference(q, k, v, allowed))
    # Query 1 (segment 1) of row 0 sees the shared token 0 and segment 1 only.
    assert allowed[0, 1].tolist() == [True, True, True, False, False, False]
    assert SHARED_SEGMENT == 0


def test_segments_must_come_in_pairs():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="both query_segments and key_segments"):
        attention(q, k, v, query_segments=torch.zeros(2, 6, dtype=torch.long))


def test_backend_context_restores_the_previous_choice():
    assert current_attention_backend() == "auto"
    with attention_backend("sdpa"):
        assert current_attention_backend() == "sdpa"
        with pytest.raises(ValueError, match="auto, sdpa, fused"):
            with attention_backend("flash"):
                pass
        assert current_attention_backend() == "sdpa"
    assert current_attention_backend() == "auto"


def test_auto_uses_sdpa_off_cuda(monkeypatch):
    import mmzoo.ops.attention as fused  # the names attention() calls

    called = []
    monkeypatch.setattr(fused, "fused_attention", lambda *a, **k: called.append(1))
    q, k, v = _qkv()
    attention(q, k, v, key_padding_mask=torch.ones(2, 6, dtype=torch.bool))
    assert not called


def test_forcing_the_fused_kernel_where_it_cannot_run_is_a_clear_error(monkeypatch):
    import mmzoo.ops.attention as fused  # the names attention() calls

    monkeypatch.setattr(fused, "fused_attention_unsupported", lambda q, k, v: "tensors are on cpu")
    q, k, v = _qkv()
    with attention_backend("fused"), pytest.raises(RuntimeError, match="model.attention is 'fused'.*on cpu"):
        attention(q, k, v)
    with attention_backend("fused"), pytest.raises(RuntimeError, match="no attention dropout"):
        attention(q, k, v, dropout_p=0.1)


def test_forced_fused_passes_lengths_and_segments_to_the_kernel(monkeypatch):
    import mmzoo.ops.attention as fused  # the names attention() calls

    seen = {}

    def spy(q, k, v, **kwargs):
        seen.update(kwargs)
        return torch.zeros_like(q)

    monkeypatch.setattr(fused, "fused_attention_unsupported", lambda q, k, v: None)
    monkeypatch.setattr(fused, "fused_attention", spy)
    q, k, v = _qkv()
    mask = torch.tensor([[True, True, False, True, False, False], [False] * 6])
    with attention_backend("fused"):
        attention(q, k, v, key_padding_mask=mask)
    assert seen["key_lengths"].tolist() == [4, 0]  # one past the last real key: blocks after it are skipped
    assert seen["key_segments"].tolist() == [[0, 0, -1, 0, -1, -1], [-1] * 6]
    assert seen["query_segments"].tolist() == [[0] * 6] * 2 and seen["query_lengths"] is None
    with attention_backend("fused"):
        attention(q, k, v, key_padding_mask=mask, query_padding_mask=mask)
    assert seen["query_lengths"].tolist() == [4, 0]
    assert seen["query_segments"].tolist() == [[0, 0, -1, 0, -1, -1], [-1] * 6]


def test_padded_queries_output_zeros_and_real_ones_are_unchanged():
    q, k, v = _qkv()
    mask = torch.tensor([[True, True, True, True, False, False], [True, True, False, False, False, False]])
    plain = attention(q, k, v, key_padding_mask=mask)
    skipped = attention(q, k, v, key_padding_mask=mask, query_padding_mask=mask)
    assert torch.all(skipped[0, :, 4:] == 0) and torch.all(skipped[1, :, 2:] == 0)
    torch.testing.assert_close(skipped[0, :, :4], plain[0, :, :4])
    torch.testing.assert_close(skipped[1, :, :2], plain[1, :, :2])
