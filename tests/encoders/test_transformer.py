"""transformer (and the shared block): masking, positions, pooling, subsampling front-end."""

from __future__ import annotations

import math

import pytest
import torch

from mmzoo.encoders import _transformer
from mmzoo.encoders._transformer import TransformerBlock, sinusoidal_positions

from ._util import FEATURES, TOKENS, assert_rows_match_alone, build, inputs


def test_every_attention_goes_through_the_mmzoo_function(monkeypatch):
    seen = []
    original = _transformer.attention

    def spy(*args, **kwargs):
        seen.append(kwargs.get("key_padding_mask"))
        return original(*args, **kwargs)

    monkeypatch.setattr(_transformer, "attention", spy)
    encoder = build("transformer", TOKENS, dim=16, layers=3, heads=2).eval()
    values, mask = inputs(TOKENS, [6, 2])
    encoder(values, mask)
    assert len(seen) == 3 and all(torch.equal(m, mask) for m in seen)


@pytest.mark.parametrize("pool", ["mean", "cls"])
@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_rows_encode_the_same_alone_as_in_a_padded_batch(pool, positions):
    encoder = build("transformer", TOKENS, dim=16, layers=2, heads=2, pool=pool, positions=positions).eval()
    values, mask = inputs(TOKENS, [9, 4, 1])
    out = assert_rows_match_alone(encoder, values, mask)
    assert out.seq[~mask].abs().sum() == 0


@pytest.mark.parametrize("subsample", [2, 4])
def test_subsampling_front_end_for_audio_features(subsample):
    encoder = build("transformer", FEATURES, dim=16, layers=1, heads=2, subsample=subsample, dropout=0.0).eval()
    lengths = [17, 8, 3, 1]
    values, mask = inputs(FEATURES, lengths)
    out = assert_rows_match_alone(encoder, values, mask)
    assert out.seq.shape[1] == math.ceil(17 / subsample)
    assert out.mask.sum(dim=1).tolist() == [math.ceil(n / subsample) for n in lengths]


def test_cls_pool_and_empty_rows():
    encoder = build("transformer", FEATURES, dim=16, layers=1, heads=2, pool="cls").eval()
    values, mask = inputs(FEATURES, [5, 0])
    out = encoder(values, mask)
    assert out.seq.shape == (2, 5, 16)  # the [CLS] position is not part of seq
    assert out.pooled[1].abs().sum() == 0 and out.pooled[0].abs().sum() > 0


def test_learned_positions_are_limited_by_max_len():
    encoder = build("transformer", FEATURES, dim=16, layers=1, heads=2, positions="learned", max_len=4)
    with pytest.raises(ValueError, match="max_len"):
        encoder(*inputs(FEATURES, [5]))


def test_block_ignores_padded_keys_and_sinusoids_are_bounded():
    block = TransformerBlock(8, 2).eval()
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[True, True, True, False, False]] * 2)
    y = x.clone()
    y[:, 3:] = 100.0
    torch.testing.assert_close(block(x, mask)[:, :3], block(y, mask)[:, :3])
    table = sinusoidal_positions(50, 7)
    assert table.shape == (50, 7) and table.abs().max() <= 1.0
    assert not torch.allclose(table[1], table[2])


def test_bad_options():
    with pytest.raises(ValueError, match="power of two"):
        build("transformer", FEATURES, dim=16, heads=2, subsample=3)
    with pytest.raises(ValueError, match="multiple of heads"):
        build("transformer", FEATURES, dim=10, heads=4)
