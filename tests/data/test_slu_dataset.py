"""The committed spoken language understanding set (``recipes/data/slu``, made by ``make_slu.py``):
decodable audio, BIO tags that reproduce the slots, intents in every split, held-out voices."""

from __future__ import annotations

import json
import re

import pytest
import soundfile as sf

from mmzoo.ops.text import DEFAULT_ALPHABET

from ..conftest import RECIPES

SLU = RECIPES / "data" / "slu"
SPLITS = ("train", "val", "test")
SAMPLE_RATE = 16000


def rows_of(split: str) -> list[dict]:
    return [json.loads(line) for line in (SLU / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


ROWS = {split: rows_of(split) for split in SPLITS}


def spans(words: list[str], tags: list[str]) -> dict[str, str]:
    """The slot values of a BIO-tagged word sequence (``I-`` must continue a span of its type)."""
    found: dict[str, str] = {}
    current: list[str] = []
    slot = None
    for word, tag in [*zip(words, tags), ("", "O")]:
        if tag.startswith("I-"):
            assert slot == tag[2:], f"{tag} does not continue a span: {words} {tags}"
            current.append(word)
            continue
        if slot is not None:
            assert slot not in found, f"slot {slot} twice in {words}"
            found[slot] = " ".join(current)
            slot = None
        if tag.startswith("B-"):
            slot, current = tag[2:], [word]
        else:
            assert tag == "O", tag
    return found


def test_sizes_and_unique_ids_and_texts() -> None:
    sizes = {split: len(rows) for split, rows in ROWS.items()}
    assert sizes["train"] >= 500 and sizes["val"] >= 60 and sizes["test"] >= 100, sizes
    everything = [row for rows in ROWS.values() for row in rows]
    assert len({row["id"] for row in everything}) == len(everything)
    assert len({row["text"] for row in everything}) == len(everything)


@pytest.mark.parametrize("split", SPLITS)
def test_audio_exists_and_decodes(split: str) -> None:
    for row in ROWS[split]:
        path = SLU / row["audio"]
        assert path.is_file(), path
        audio, rate = sf.read(path, dtype="float32")
        assert rate == SAMPLE_RATE, (path, rate)
        assert audio.ndim == 1 and 0.3 * SAMPLE_RATE < audio.shape[0] < 4 * SAMPLE_RATE, (path, audio.shape)
        assert abs(audio).max() > 0.05, f"{path} is silent"


@pytest.mark.parametrize("split", SPLITS)
def test_bio_tags_reproduce_slots_and_tagged(split: str) -> None:
    for row in ROWS[split]:
        words = row["text"].split()
        assert len(row["bio"]) == len(words), row
        assert spans(words, row["bio"]) == row["slots"], row
        assert 0 <= len(row["slots"]) <= 3, row
        # ``tagged`` is the transcript with ``[slot value]`` inline
        inline = dict((m.group(1), m.group(2)) for m in re.finditer(r"\[(\w+) ([^\]]+)\]", row["tagged"]))
        assert inline == row["slots"], row
        assert re.sub(r"\[\w+ ([^\]]+)\]", r"\1", row["tagged"]) == row["text"], row


def test_every_intent_in_every_split() -> None:
    intents = {split: {row["intent"] for row in rows} for split, rows in ROWS.items()}
    assert len(intents["train"]) >= 6
    assert intents["val"] == intents["train"] == intents["test"]
    slot_types = {slot for row in ROWS["train"] for slot in row["slots"]}
    assert 5 <= len(slot_types) <= 7, slot_types


def test_held_out_voices_never_in_train() -> None:
    voices = {split: {row["voice"] for row in rows} for split, rows in ROWS.items()}
    assert len(voices["train"]) >= 4
    assert not voices["val"] & voices["train"]
    assert not voices["test"] & voices["train"]


def test_text_inside_default_alphabet() -> None:
    allowed = set(DEFAULT_ALPHABET)
    for rows in ROWS.values():
        for row in rows:
            text = row["text"]
            assert set(text) <= allowed, (row["id"], set(text) - allowed)
            assert text == " ".join(text.split()), row["id"]  # no stray spaces
            assert set(row["tagged"]) <= allowed | set("[]"), row["id"]


def test_held_out_phrasings_and_values_never_in_train() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_slu", RECIPES / "data" / "make_slu.py")
    assert spec is not None and spec.loader is not None
    make_slu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_slu)
    held_values = {(slot, value) for slot, (_, unseen) in make_slu.FILLERS.items() for value in unseen}
    held_starts = [template.split("{")[0] for template in make_slu.HELD_OUT_TEMPLATES.values()]
    for row in ROWS["train"]:
        assert not set(row["slots"].items()) & held_values, row
        assert not any(row["text"].startswith(start) for start in held_starts), row
    novel = [row for row in ROWS["test"] if set(row["slots"].items()) & held_values]
    assert len(novel) >= 10
