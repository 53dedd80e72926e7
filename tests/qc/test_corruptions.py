"""Corruptions of clean speech, on real spoken digits (espeak-ng)."""

from __future__ import annotations

import pytest
import soundfile
import torch

from mmzoo.qc import corruptions

from ..conftest import RECIPES

AUDIO = RECIPES / "data" / "digits" / "audio"


def load(name: str) -> torch.Tensor:
    wave, rate = soundfile.read(AUDIO / name, dtype="float32")
    assert rate == 16000
    return torch.from_numpy(wave)


@pytest.fixture(scope="module")
def clips() -> list[torch.Tensor]:
    return [load(f"{digit}_00.flac") for digit in range(6)]


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr", [0.0, 7.5, 20.0])
def test_realized_snr_is_the_requested_one(clips, kind, snr):
    clean = clips[0]
    noisy = corruptions.add_noise(clean, snr, kind, torch.Generator().manual_seed(1), babble_sources=clips[1:])
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype
    assert corruptions.snr_db_of(clean, noisy - clean) == pytest.approx(snr, abs=0.5)


def test_noise_is_reproducible_and_babble_needs_sources(clips):
    a = corruptions.add_noise(clips[0], 5.0, "babble", torch.Generator().manual_seed(3), clips[1:])
    b = corruptions.add_noise(clips[0], 5.0, "babble", torch.Generator().manual_seed(3), clips[1:])
    c = corruptions.add_noise(clips[0], 5.0, "babble", torch.Generator().manual_seed(4), clips[1:])
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="babble_sources"):
        corruptions.add_noise(clips[0], 5.0, "babble", torch.Generator())
    silent = torch.zeros(100)
    assert torch.equal(corruptions.add_noise(silent, 5.0, "white", torch.Generator()), silent)


def test_babble_loops_short_sources_to_length(clips):
    noise = corruptions.make_noise(50_000, "babble", torch.Generator().manual_seed(0), clips[1:4])
    assert noise.shape == (50_000,) and noise[-1000:].abs().sum() > 0


@pytest.mark.parametrize("gain_db", [6.0, 12.0, 18.0])
def test_clipping_exactly_where_the_gained_signal_exceeds_the_level(clips, gain_db):
    clean = clips[2]
    level = 0.5
    out, mask = corruptions.clip(clean, gain_db, level)
    gained = clean * 10 ** (gain_db / 20)
    assert torch.equal(mask, gained.abs() > level) and mask.any()
    assert torch.equal(out[mask], level * gained[mask].sign())
    assert torch.equal(out[~mask], gained[~mask])
    assert out.abs().max() <= level


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.55])
def test_truncation_length(clips, fraction):
    clean = clips[3]
    out = corruptions.truncate(clean, fraction)
    assert out.shape[0] == clean.shape[0] - round(fraction * clean.shape[0])
    assert torch.equal(out, clean[: out.shape[0]])


def test_dropout_gaps_are_zeros_of_the_right_length(clips):
    clean = clips[4]
    out, spans = corruptions.dropout(clean, 3, 40.0, 16000, torch.Generator().manual_seed(0))
    assert len(spans) == 3
    zeroed = torch.zeros_like(clean, dtype=torch.bool)
    for start, length in spans:
        assert length == 640
        assert torch.all(out[start : start + length] == 0)
        zeroed[start : start + length] = True
    assert zeroed.sum() == 3 * 640  # no overlap
    assert torch.equal(out[~zeroed], clean[~zeroed])


def test_dropout_gap_longer_than_the_clip_is_shortened():
    out, spans = corruptions.dropout(torch.ones(100), 2, 100.0, 16000, torch.Generator())
    assert [length for _, length in spans] == [50, 50] and out.abs().sum() == 0


@pytest.mark.parametrize("mode", ["swap", "substitute"])
@pytest.mark.parametrize("text", ["zero", "one two three", "the cat sat on the mat"])
def test_mismatched_transcripts_differ(mode, text):
    vocabulary = ["zero", "one", "two", "three", "cat", "mat"]
    for seed in range(20):
        generator = torch.Generator().manual_seed(seed)
        for other in ("four five", text, None):
            out = corruptions.mismatch_transcript(text, other, mode, generator, vocabulary)
            assert out != text and out.strip()
            if mode == "swap" and other == "four five":
                assert out == other
            if mode == "substitute" or other != "four five":
                changed = sum(a != b for a, b in zip(out.split(), text.split(), strict=True))
                assert 1 <= changed <= 2


def test_mismatch_needs_another_word():
    with pytest.raises(ValueError, match="vocabulary"):
        corruptions.mismatch_transcript("zero", None, "substitute", torch.Generator(), ["zero"])
