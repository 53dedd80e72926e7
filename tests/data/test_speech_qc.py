"""The speech_qc datamodule: clean spoken digits (espeak-ng) corrupted on the fly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from mmzoo.contracts import ModalitySpec
from mmzoo.data import SpeechQCDataModule
from mmzoo.data.decoders import decode_audio
from mmzoo.data.speech_qc import CLEAN_SNR_DB, LABELS
from mmzoo.data.transforms import Transform
from mmzoo.data.transforms.text import Tokenize
from mmzoo.errors import DataError
from mmzoo.qc.corruptions import snr_db_of

from ..conftest import RECIPES

ASR = RECIPES / "data" / "digits" / "asr"
MANIFEST = ASR / "val.jsonl"  # 20 clean rows


class Halve(Transform):
    """Test audio transform (cacheable: neither random nor train-only)."""

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        return input_spec

    def __call__(self, value, generator):
        return value * 0.5


def make(**overrides) -> SpeechQCDataModule:
    options = dict(train=str(MANIFEST), val=str(MANIFEST), batch_size=8, transforms={"text": [Tokenize("byt5")]})
    options.update(overrides)
    return SpeechQCDataModule(**options)


def tokens(text: str) -> list[int]:
    return Tokenize("byt5")(text, torch.Generator()).tolist()


def first_batch(datamodule: SpeechQCDataModule, split: str = "train"):
    datamodule.setup("fit")
    return next(iter(datamodule.train_dataloader() if split == "train" else datamodule.val_dataloader()))


def test_specs_and_targets():
    datamodule = make()
    assert datamodule.modality_specs["audio"] == ModalitySpec(kind="waveform", sample_rate=16000.0)
    assert datamodule.modality_specs["text"].kind == "tokens"
    assert datamodule.target_names == ("quality", "match", "snr")
    assert datamodule.produced["quality"].classes == list(LABELS)


def test_same_seed_same_batch_other_seed_other_batch():
    a, b, c = (first_batch(make(seed=seed)) for seed in (7, 7, 8))
    assert a.ids == b.ids
    assert torch.equal(a.inputs["audio"][0], b.inputs["audio"][0])
    assert torch.equal(a.inputs["text"][0], b.inputs["text"][0])
    assert all(torch.equal(a.targets[k], b.targets[k]) for k in a.targets)
    different = a.ids != c.ids or not torch.equal(a.targets["quality"], c.targets["quality"])
    assert different or not torch.equal(a.inputs["audio"][0], c.inputs["audio"][0])


def test_training_changes_every_epoch_validation_does_not():
    datamodule = make(seed=1, batch_size=20)
    datamodule.setup("fit")
    train_loader, val_loader = datamodule.train_dataloader(), datamodule.val_dataloader()
    train = [next(iter(train_loader)) for _ in range(2)]  # each pass over a loader is an epoch
    val = [next(iter(val_loader)) for _ in range(2)]
    assert not torch.equal(train[0].targets["quality"], train[1].targets["quality"])
    assert torch.equal(val[0].targets["quality"], val[1].targets["quality"])
    assert torch.equal(val[0].inputs["audio"][0], val[1].inputs["audio"][0])


def test_label_proportions_follow_the_configuration():
    labels = ["ok", "noisy", "clipped", "truncated"]
    proportions = {"ok": 0.5, "clipped": 0.3, "truncated": 0.2}
    datamodule = make(labels=labels, proportions=proportions, copies=40, noise_kinds=["white"])
    datamodule.setup("fit")
    dataset = datamodule.datasets["train"]
    assert len(dataset) == 20 * 40
    counts = Counter(labels[int(dataset[(i, 0)]["targets"]["quality"])] for i in range(len(dataset)))
    assert counts["noisy"] == 0
    for label, share in proportions.items():
        assert counts[label] / len(dataset) == pytest.approx(share, abs=0.06)


def test_copies_give_distinct_ids():
    datamodule = make(copies=3)
    datamodule.setup("fit")
    ids = [datamodule.datasets["train"][(i, 0)]["id"] for i in range(60)]
    assert len(set(ids)) == 60 and ids[0] == "asr-0-8" and ids[20] == "asr-0-8#1"


def test_each_corruption_is_visible():
    datamodule = make(copies=6, seed=3)
    datamodule.setup("fit")
    dataset = datamodule.datasets["train"]
    rows = dataset.rows
    seen = Counter()
    for index in range(len(dataset)):
        item = dataset[(index, 0)]
        row = rows[index % len(rows)]
        clean = decode_audio(row.resolve(row.fields["audio"]), 16000)
        audio, text = item["inputs"]["audio"], item["inputs"]["text"].tolist()
        label = LABELS[int(item["targets"]["quality"])]
        seen[label] += 1
        assert item["targets"]["match"] == (0 if label == "mismatch" else 1)
        if label != "noisy":
            assert item["targets"]["snr"] == CLEAN_SNR_DB
        if label != "mismatch":
            assert text == tokens(row.fields["text"])
        if label in ("ok", "mismatch"):
            assert torch.equal(audio, clean)
        elif label == "noisy":
            snr = item["targets"]["snr"]
            assert 0.0 <= snr <= 10.0
            assert snr_db_of(clean, audio - clean) == pytest.approx(snr, abs=0.5)
        elif label == "clipped":
            peak = clean.abs().max()
            assert audio.abs().max() == pytest.approx(float(peak))
            assert (audio.abs() >= peak - 1e-6).sum() > (clean.abs() >= peak - 1e-6).sum() + 5
        elif label == "truncated":
            assert 0.4 * len(clean) - 1 <= len(audio) <= 0.7 * len(clean) + 1
            assert torch.equal(audio, clean[: len(audio)])
        elif label == "dropout":
            assert audio.shape == clean.shape
            changed = audio != clean
            assert changed.any() and torch.all(audio[changed] == 0)
        else:
            assert text != tokens(row.fields["text"])
    assert set(seen) == set(LABELS)


def test_transforms_run_after_the_corruption():
    datamodule = make(labels=["clipped"], transforms={"audio": [Halve()], "text": [Tokenize("byt5")]})
    datamodule.setup("fit")
    item = datamodule.datasets["train"][(0, 0)]
    row = datamodule.datasets["train"].rows[0]
    clean = decode_audio(row.resolve(row.fields["audio"]), 16000)
    assert item["inputs"]["audio"].abs().max() == pytest.approx(0.5 * float(clean.abs().max()))


def test_rows_are_checked_on_the_clean_manifest(tmp_path: Path):
    rows = [json.loads(line) for line in MANIFEST.read_text().splitlines()][:4]
    for row in rows:
        row["wav"] = str((ASR / row.pop("audio")).resolve())
        row["transcript"] = row.pop("text")
    rows[1]["wav"] = str(tmp_path / "missing.flac")
    manifest = tmp_path / "clean.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    options = dict(train=str(manifest), val=str(manifest), audio_field="wav", text_field="transcript")
    with pytest.raises(DataError, match="file not found"):
        make(**options).setup("fit")
    datamodule = make(**options, on_bad_sample="skip")
    datamodule.setup("fit")
    assert len(datamodule.datasets["train"]) == 3


@pytest.mark.parametrize(
    "options, message",
    [
        ({"labels": ["ok", "bad"]}, "labels"),
        ({"proportions": {"noisy": 1.0}, "labels": ["ok"]}, "proportions"),
        ({"snr_db": [10, 0]}, "snr_db"),
        ({"truncate_fraction": [0.5, 1.0]}, "truncate_fraction"),
        ({"copies": 0}, "copies"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        make(**options)
