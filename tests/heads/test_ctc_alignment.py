"""The ctc_alignment head: ByT5 bytes onto the CTC alphabet, and alignment costs that tell a wrong transcript."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Fused, ModalityInput, ModalitySpec
from mmzoo.data.transforms.text import Tokenize
from mmzoo.heads.ctc_alignment import CTCAlignmentHead, byt5_to_alphabet
from mmzoo.ops.text import DEFAULT_ALPHABET

TOKENS = ModalitySpec(kind="tokens", vocab_size=384, pad_id=0)
MELS = ModalitySpec(kind="features", feature_dim=6)
SPECS = {"audio": MELS, "text": TOKENS}


def tokens(*texts: str) -> ModalityInput:
    rows = [Tokenize("byt5")(text, torch.Generator()) for text in texts]
    longest = max(len(row) for row in rows)
    values = torch.zeros(len(rows), longest, dtype=torch.long)
    mask = torch.zeros(len(rows), longest, dtype=torch.bool)
    for index, row in enumerate(rows):
        values[index, : len(row)] = row
        mask[index, : len(row)] = True
    return ModalityInput(values, mask)


def alphabet_ids(text: str) -> list[int]:
    return [DEFAULT_ALPHABET.index(char) + 1 for char in text]


def test_bytes_map_onto_the_alphabet_case_folded_and_other_bytes_dropped():
    values, mask = tokens("Ab c!", "it's")
    ids, lengths = byt5_to_alphabet(values, mask, DEFAULT_ALPHABET)
    assert lengths.tolist() == [4, 4]
    assert ids[0, :4].tolist() == alphabet_ids("ab c") and ids[1, :4].tolist() == alphabet_ids("it's")
    assert (ids[:, 4:] == 0).all()  # the input's width is kept, padded with 0


def spelled(text: str, frames_per_char: int = 3) -> torch.Tensor:
    """Log-probs ``(1, T, V+1)`` of frames that say ``text`` clearly, a blank between characters."""
    path = []
    for char in text:
        path += [DEFAULT_ALPHABET.index(char) + 1] * (frames_per_char - 1) + [0]
    logits = torch.full((len(path), len(DEFAULT_ALPHABET) + 1), -8.0)
    logits[torch.arange(len(path)), torch.tensor(path)] = 8.0
    return logits.log_softmax(dim=-1).unsqueeze(0)


def test_the_said_transcript_costs_less_to_align_than_a_wrong_or_impossible_one():
    head = CTCAlignmentHead(in_dim=4, input_specs=SPECS, num_classes=2)
    log_probs = spelled("the cat sat").expand(3, -1, -1)
    lengths = torch.full((3,), log_probs.shape[1])
    costs = head.alignment_costs(log_probs, lengths, tokens("The cat sat", "the dog ran", "x" * 200))
    nll = costs[:, 0]
    assert nll[0] < 0.1 < nll[1]  # log1p of the NLL per character
    # 200 characters cannot align with 33 frames: the largest cost, finite, never zero.
    assert torch.isfinite(costs).all() and nll[2] >= nll[1]
    assert costs[0, 3] > costs[2, 3]  # more frames per character for the short transcript
    assert costs[0, 4] > 1.0 > costs[1, 4]  # read backwards, the said text aligns far worse; a wrong one barely


def test_forward_gives_logits_for_objectives_and_ctc_outputs_from_its_own_acoustic_model():
    head = CTCAlignmentHead(in_dim=4, input_specs=SPECS, num_classes=3, hidden_dim=8, acoustic_layers=1)
    mels = torch.randn(2, 20, 6, requires_grad=True)
    mask = torch.arange(20)[None, :] < torch.tensor([[20], [12]])
    pooled = torch.randn(2, 4, requires_grad=True)
    output = head(Fused(pooled=pooled), {}, {"audio": ModalityInput(mels, mask), "text": tokens("ab", "abc")})
    assert output["logits"].shape == (2, 3) and output["lengths"].tolist() == [20, 12]
    assert output["log_probs"].shape == (2, 20, len(DEFAULT_ALPHABET) + 1)
    # The costs carry no gradient: the classifier reads them, only CTC training shapes the frames.
    assert not output["alignment"].requires_grad
    output["log_probs"].sum().backward()
    assert mels.grad is not None and pooled.grad is None  # CTC trains the head's acoustic model only
    predicted = head.predict(output)
    assert predicted["probs"].sum(-1).allclose(torch.ones(2)) and predicted["ids"].shape[0] == 2


def test_the_head_needs_audio_features_and_byt5_tokens():
    with pytest.raises(ValueError, match="audio features"):
        CTCAlignmentHead(in_dim=4, input_specs={"audio": TOKENS, "text": TOKENS}, num_classes=2)
    with pytest.raises(ValueError, match="ByT5 tokens"):
        CTCAlignmentHead(in_dim=4, input_specs={"audio": MELS}, num_classes=2)
