"""``transcript`` targets: character ids for CTC, bad rows, and padded collation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmzoo.data.collate import collate_rows
from mmzoo.data.fields import TargetField, encode_target, encode_transcript, missing_target
from mmzoo.ops.text import DEFAULT_ALPHABET

DIGITS = Path(__file__).resolve().parents[2] / "recipes" / "data" / "digits"


def test_default_alphabet_ids_start_at_one() -> None:
    assert DEFAULT_ALPHABET == "abcdefghijklmnopqrstuvwxyz '"
    target = TargetField(type="transcript")
    target.validate("text")
    assert target.size == 28
    assert encode_target(target, "Ab z'").tolist() == [1, 2, 27, 26, 28]


def test_custom_alphabet_and_unknown_characters() -> None:
    target = TargetField(type="transcript", alphabet="xyz")
    assert encode_target(target, "ZYX").tolist() == [3, 2, 1]
    with pytest.raises(ValueError, match="outside the alphabet: '!a'"):
        encode_target(target, "xa!")
    dropping = TargetField(type="transcript", alphabet="xyz", drop_unknown=True)
    assert encode_target(dropping, "xa!y").tolist() == [1, 2]
    with pytest.raises(ValueError, match="empty"):
        encode_target(dropping, "ab")


@pytest.mark.parametrize("raw", ["", 3, None])
def test_empty_or_non_text_transcripts_are_errors(raw: object) -> None:
    with pytest.raises(ValueError):
        encode_transcript(raw)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alphabet": "aab"}, "duplicate"),
        ({"alphabet": ""}, "empty"),
        ({"alphabet": "AB"}, "lowercase"),
        ({"num_classes": 3}, "alphabet"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TargetField(type="transcript", **options).validate("text")


def test_unlabelled_rows_get_an_empty_transcript() -> None:
    assert missing_target(TargetField(type="transcript")).shape == (0,)


def row(index: int, transcript: torch.Tensor, label: int = 0) -> dict:
    return {"id": index, "inputs": {"x": torch.ones(2, 3)}, "targets": {"text": transcript, "label": label}}


def test_collate_pads_variable_length_transcripts_with_minus_one() -> None:
    batch = collate_rows([row(0, torch.tensor([3, 1, 2])), row(1, torch.tensor([5])), row(2, torch.zeros(0).long())])
    target = batch.targets["text"]
    assert target.tolist() == [[3, 1, 2], [5, -1, -1], [-1, -1, -1]]
    assert (target >= 0).sum(-1).tolist() == [3, 1, 0]
    assert batch.targets["label"].tolist() == [0, 0, 0]


def test_collate_keeps_stacking_equal_shapes() -> None:
    batch = collate_rows([row(0, torch.tensor([1, 2])), row(1, torch.tensor([3, 4]))])
    assert batch.targets["text"].tolist() == [[1, 2], [3, 4]]
    empty = collate_rows([row(0, torch.zeros(0).long()), row(1, torch.zeros(0).long())])
    assert empty.targets["text"].tolist() == [[-1], [-1]]


def write_manifest(path: Path, texts: list[str]) -> Path:
    lines = [json.dumps({"audio": str(DIGITS / "audio" / f"{i}_00.flac"), "text": t}) for i, t in enumerate(texts)]
    path.write_text("\n".join(lines) + "\n")
    return path


def datamodule(tmp_path: Path, texts: list[str], **options: object):
    from mmzoo.data.manifest_datamodule import ManifestDataModule

    manifest = write_manifest(tmp_path / "train.jsonl", texts)
    return ManifestDataModule(
        train=str(manifest),
        val=str(manifest),
        modalities={"audio": {"type": "audio"}},
        targets={"text": {"type": "transcript"}},
        batch_size=4,
        num_workers=0,
        seed=0,
        **options,
    )


def test_manifest_transcripts_batch(tmp_path: Path) -> None:
    dm = datamodule(tmp_path, ["zero", "one", "two"])
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    lengths = (batch.targets["text"] >= 0).sum(-1)
    assert sorted(lengths.tolist()) == [3, 3, 4]


def test_bad_transcripts_are_bad_rows(tmp_path: Path) -> None:
    from mmzoo.errors import DataError

    dm = datamodule(tmp_path, ["zero", "on3", ""])
    with pytest.raises(DataError) as caught:
        dm.setup("fit")
    text = str(caught.value) + str(getattr(caught.value, "hint", ""))
    assert "'3'" in text and "empty" in text
