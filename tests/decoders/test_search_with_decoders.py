"""The shared search over the built-in decoders: beam 1 is greedy, batches equal rows searched alone,
and padded memory never changes a hypothesis."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import bos_id, teacher_forcing
from mmzoo.decoders import LSTMDecoder, TransformerDecoder
from mmzoo.examples import lengths_mask
from mmzoo.ops.sequence_search import beam_search, greedy_search

DECODERS = {
    "transformer": lambda: TransformerDecoder(memory_dim=12, vocab_size=6, dim=16, heads=2, layers=2, dropout=0.0),
    "lstm": lambda: LSTMDecoder(memory_dim=12, vocab_size=6, dim=16, layers=2, location_kernel=3, dropout=0.0),
}
LENGTHS = [7, 4, 2]


def _memory(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn(3, 7, 12, generator=generator), lengths_mask(LENGTHS)


def _search(decoder, memory, mask, beam: int | None, **options):
    common = {"batch_size": memory.shape[0], "bos": bos_id(decoder.vocab_size), "max_length": 8}
    state = decoder.start(memory, mask)
    if beam is None:
        return greedy_search(decoder.step, decoder.select, state, **common)
    return beam_search(decoder.step, decoder.select, state, beam_size=beam, **common, **options)


@pytest.fixture(params=sorted(DECODERS))
def decoder(request):
    torch.manual_seed(1)
    return DECODERS[request.param]().eval()


def test_beam_one_is_greedy(decoder):
    memory, mask = _memory()
    greedy = _search(decoder, memory, mask, None)
    beam = _search(decoder, memory, mask, 1, length_penalty=0.0)
    assert torch.equal(beam.tokens, greedy.tokens) and torch.equal(beam.lengths, greedy.lengths)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_batch_finds_what_each_row_finds_alone(decoder, length_penalty):
    memory, mask = _memory()
    together = _search(decoder, memory, mask, 4, length_penalty=length_penalty, nbest=2)
    for row, length in enumerate(LENGTHS):
        alone = _search(decoder, memory[row : row + 1, :length], mask[row : row + 1, :length], 4,
                        length_penalty=length_penalty, nbest=2)  # fmt: skip
        width = alone.tokens.shape[-1]
        assert torch.equal(together.tokens[row, :, :width], alone.tokens[0])
        assert (together.tokens[row, :, width:] == -1).all()
        assert torch.allclose(together.scores[row], alone.scores[0], atol=1e-4)


def test_padded_memory_never_changes_a_hypothesis(decoder):
    memory, mask = _memory()
    scrambled = memory.clone()
    scrambled[~mask] = 1e3
    for beam in (None, 3):
        first, second = _search(decoder, memory, mask, beam), _search(decoder, scrambled, mask, beam)
        assert torch.equal(first.tokens, second.tokens)


def test_a_decoder_trained_on_one_sequence_generates_it():
    """Teacher forcing and search agree on ids: after fitting one target, both searches return it."""
    torch.manual_seed(0)
    decoder = TransformerDecoder(memory_dim=4, vocab_size=6, dim=16, heads=2, layers=1, dropout=0.0)
    memory, mask = torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)
    target = torch.tensor([[3, 1, 4, 1, 5], [2, 6, -1, -1, -1]])
    inputs, input_mask, outputs = teacher_forcing(target, 6)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        logits = decoder(memory, mask, inputs, input_mask)
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), outputs.flatten(), ignore_index=-100).backward()
        optimizer.step()
    decoder.eval()
    for beam in (None, 3):
        found = _search(decoder, memory, mask, beam)
        assert found.tokens[0, 0, :5].tolist() == [3, 1, 4, 1, 5] and found.lengths[0, 0] == 5
        assert found.tokens[1, 0, :2].tolist() == [2, 6] and found.lengths[1, 0] == 2
