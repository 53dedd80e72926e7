"""rnn: packed LSTM/GRU over real positions, any mask."""

from __future__ import annotations

import pytest
import torch

from ._util import FEATURES, TOKENS, assert_rows_match_alone, build, inputs


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pool", ["mean", "max", "last"])
def test_packed_batch_equals_each_row_alone(cell, pool):
    encoder = build("rnn", FEATURES, dim=16, layers=2, cell=cell, pool=pool).eval()
    values, mask = inputs(FEATURES, [11, 6, 1])
    out = assert_rows_match_alone(encoder, values, mask)
    assert torch.equal(out.mask, mask)
    assert out.seq[~mask].abs().sum() == 0


def test_last_pool_reads_each_direction_at_its_end():
    encoder = build("rnn", FEATURES, dim=8, layers=1, cell="gru", pool="last").eval()
    values, mask = inputs(FEATURES, [5, 3])
    out = encoder(values, mask)
    # forward half at the last real step, backward half at the first one
    torch.testing.assert_close(out.pooled[1, :4], out.seq[1, 2, :4])
    torch.testing.assert_close(out.pooled[1, 4:], out.seq[1, 0, 4:])


def test_mask_need_not_be_a_prefix():
    encoder = build("rnn", TOKENS, dim=16, layers=2).eval()
    ids = torch.tensor([[0, 7, 0, 9, 4, 0], [3, 8, 0, 0, 0, 0]])
    mask = ids != 0
    out = encoder(ids, mask)
    compacted = encoder(torch.tensor([[7, 9, 4], [3, 8, 0]]), torch.tensor([[True] * 3, [True, True, False]]))
    torch.testing.assert_close(out.pooled, compacted.pooled)
    torch.testing.assert_close(out.seq[0, [1, 3, 4]], compacted.seq[0])
    assert out.seq[0, [0, 2, 5]].abs().sum() == 0


def test_rows_without_real_positions_give_zeros_and_gradients_stay_finite():
    encoder = build("rnn", FEATURES, dim=16, layers=2, pool="last")
    values, mask = inputs(FEATURES, [4, 0])
    out = encoder(values, mask)
    assert out.pooled[1].abs().sum() == 0 and out.seq[1].abs().sum() == 0
    out.pooled.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)


def test_one_block_per_layer_and_validation():
    assert len(build("rnn", FEATURES, dim=16, layers=3).blocks()) == 3
    with pytest.raises(ValueError, match="even"):
        build("rnn", FEATURES, dim=15)
    unidirectional = build("rnn", FEATURES, dim=15, bidirectional=False).eval()
    assert unidirectional(*inputs(FEATURES, [3, 2])).seq.shape == (2, 3, 15)
