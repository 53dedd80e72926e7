"""Inline-slot markup: what a CTC head hears of ``please email [person anna] on [day monday]``."""

from __future__ import annotations

import pytest
import torch

from mmzoo.data.fields import encode_transcript
from mmzoo.ops.ctc_prefix_score import CTCPrefixScorer
from mmzoo.ops.slot_markup import OUTSIDE, TYPE, VALUE, SlotMarkup
from mmzoo.ops.text import ids_to_text

from .test_ctc_prefix_score import random_log_probs

ALPHABET = "abcdefghijklmnopqrstuvwxyz '[]"
MARKUP = SlotMarkup.of_alphabet(ALPHABET)


def padded(texts: list[str], alphabet: str = ALPHABET) -> torch.Tensor:
    rows = [encode_transcript(text, alphabet) for text in texts]
    ids = torch.full((len(rows), max(len(row) for row in rows)), -1, dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = row
    return ids


def test_strip_keeps_the_words_in_order_and_repads() -> None:
    tagged = [
        "please email [person anna] on [day monday]",
        "play [artist the beatles]",
        "put on some music",
        "[day today]",
    ]
    stripped = MARKUP.strip(padded(tagged))
    texts = [ids_to_text(row, ALPHABET) for row in stripped.tolist()]
    assert texts == ["please email anna on monday", "play the beatles", "put on some music", "today"]
    assert stripped.shape == (4, len("please email anna on monday"))
    lengths = (stripped > 0).sum(dim=1)
    assert torch.all(stripped[torch.arange(stripped.shape[1]) >= lengths.unsqueeze(1)] == -1)


def test_a_type_ends_at_its_first_space_only() -> None:
    # the value's own spaces are heard; letters of the type are not, even ones that are also words
    ids = padded(["[time ten past two] [a b]"])
    assert ids_to_text(MARKUP.strip(ids)[0].tolist(), ALPHABET) == "ten past two b"


def read(markup: SlotMarkup, text: str) -> tuple[list[int], list[bool]]:
    """The reading state before each character of ``text``, and whether that character is malformed."""
    reading, states, malformed = markup.start(1), [], []
    for token in encode_transcript(text, ALPHABET):
        states.append(int(reading["markup"]))
        malformed.append(bool(markup.is_malformed(token.view(1, 1), reading)))
        reading = markup.advance(token.view(1), reading)
    return states, malformed


def test_reading_states_and_malformed_markup() -> None:
    states, malformed = read(MARKUP, "a[b c]]")
    assert states == [OUTSIDE, OUTSIDE, TYPE, TYPE, VALUE, VALUE, OUTSIDE]
    assert malformed == [False] * 6 + [True]  # a second "]"
    assert read(MARKUP, "[a [b]")[1] == [False, False, False, True, False, True]  # "[" in a slot, "]" in a type


def test_known_slot_types_are_the_only_ones_a_type_may_spell() -> None:
    markup = SlotMarkup.of_alphabet(ALPHABET, ["day", "date", "time"])
    assert read(markup, "[day monday]")[1] == [False] * 12
    assert read(markup, "[date x]")[1] == [False] * 8
    # no type goes on "da" with "x" (nor, after that, ends); "da" is no type; "day" has ended
    assert read(markup, "[dax x]")[1] == [False] * 3 + [True, True] + [False] * 2
    assert read(markup, "[da x]")[1] == [False] * 3 + [True] + [False] * 2
    assert read(markup, "[days x]")[1] == [False] * 4 + [True, True] + [False] * 2
    # the candidates start afresh at each slot
    assert read(markup, "[time a] [day b]")[1] == [False] * 16
    # every column at once: after "[d", only "a" goes on (day, date)
    reading = markup.start(1)
    for token in encode_transcript("[d", ALPHABET):
        reading = markup.advance(token.view(1), reading)
    columns = torch.arange(len(ALPHABET) + 1).unsqueeze(0)
    allowed = (~markup.is_malformed(columns, reading))[0].nonzero().flatten().tolist()
    assert [ALPHABET[i - 1] for i in allowed] == ["a"]
    with pytest.raises(ValueError, match="slot type 'a b'"):
        SlotMarkup.of_alphabet(ALPHABET, ["a b"])


def test_of_alphabet_names_what_is_missing() -> None:
    assert MARKUP == SlotMarkup(open=ALPHABET.index("[") + 1, close=ALPHABET.index("]") + 1, space=27)
    with pytest.raises(ValueError, match=r"lacks '\[', '\]'"):
        SlotMarkup.of_alphabet("abc '")


def test_prefix_scores_of_a_tagged_hypothesis_are_those_of_its_words() -> None:
    alphabet = "ab []"  # a=1 b=2 space=3 [=4 ]=5
    markup = SlotMarkup.of_alphabet(alphabet)
    log_probs = random_log_probs(1, 9, len(alphabet) + 1, seed=7)
    tagged = encode_transcript("a [ba b]a", alphabet).tolist()
    plain = encode_transcript("a ba", alphabet).tolist()
    assert ids_to_text(markup.strip(torch.tensor([tagged]))[0].tolist(), alphabet) == "a ba"

    def walk(scorer: CTCPrefixScorer, tokens: list[int]) -> tuple[list[torch.Tensor], float]:
        state, scores, total = scorer.start(1, 1), [], 0.0
        for token in tokens:
            increments = scorer.score(state)[0]
            scores.append(increments)
            total += float(increments[token])
            state = scorer.select(state, torch.tensor([0]), torch.tensor([token]))
        final = scorer.score(state)[0]
        return [*scores, final], total + float(final[0])

    with_markup, tagged_total = walk(CTCPrefixScorer(log_probs, torch.tensor([9]), markup=markup), tagged)
    heard, plain_total = walk(CTCPrefixScorer(log_probs, torch.tensor([9])), plain)
    assert tagged_total == pytest.approx(plain_total, abs=1e-5)
    # columns: end, a, b, space, "[", "]"; 0 is silent (markup), -inf is malformed there
    inf = float("-inf")
    expected = {
        "outside": [None, None, None, None, 0.0, inf],
        "type": [inf, 0.0, 0.0, 0.0, inf, inf],
        "value": [inf, None, None, None, inf, 0.0],
    }
    states = ["outside"] * 3 + ["type"] * 3 + ["value"] * 2 + ["outside"] * 2
    for state, increments in zip(states, with_markup, strict=True):
        for column, value in enumerate(expected[state]):
            if value is None:  # heard: a real, non-zero CTC increment
                assert inf < float(increments[column]) < 0
            else:
                assert float(increments[column]) == value
    # once the slot is closed the scores are those of the words so far: "a b", then "a ba"
    torch.testing.assert_close(with_markup[8][:4], heard[3][:4])
    torch.testing.assert_close(with_markup[-1][:4], heard[-1][:4])
