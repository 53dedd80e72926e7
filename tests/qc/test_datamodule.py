"""The speech_qc datamodule: clean spoken digits (espeak-ng) corrupted on the fly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from mmzoo.contracts import ModalitySpec
from mmzoo.data.decoders import decode_audio
from mmzoo.data.transforms import Transform
from mmzoo.data.transforms.text import Tokenize
from mmzoo.errors import DataError
from mmzoo.qc import SpeechQCDataModule
from mmzoo.qc.corruptions import snr_db_of
from mmzoo.qc.datamodule import CLEAN_SNR_DB, LABELS

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
    assert datamodule.target_names == ("quality", "match", "snr", "transcript")
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
    train, val = [], []
    for epoch in range(2):  # Lightning sets each loader's epoch before a pass
        train_loader.sampler.set_epoch(epoch)
        val_loader.sampler.set_epoch(epoch)
        train.append(next(iter(train_loader)))
        val.append(next(iter(val_loader)))
    assert not torch.equal(train[0].targets["quality"], train[1].targets["quality"])
    assert torch.equal(val[0].targets["quality"], val[1].targets["quality"])
    assert torch.equal(val[0].inputs["audio"][0], val[1].inputs["audio"][0])


def test_label_proportions_follow_the_configuration():
    labels = ["ok", "noisy", "clipped", "truncated"]
    proportions = {"ok": 0.5, "clipped": 0.3, "truncated": 0.2}
    datamodule = make(labels=labels, proportions=proportions, copies=40, corruptions={"noise_kinds": ["white"]})
    datamodule.setup("fit")
    dataset = datamodule.datasets["train"]
    assert len(dataset) == 20 * 40
    counts = Counter(labels[int(dataset[(i, 0)]["targets"]["quality"])] for i in range(len(dataset)))
    assert counts["noisy"] == 0
    for label, share in proportions.items():
        assert counts[label] / len(dataset) == pytest.approx(share, abs=0.06)


def test_eval_copies_enlarge_corrupted_evaluation_splits():
    datamodule = make(eval_copies=3, copies=2)
    datamodule.setup("fit")
    assert len(datamodule.datasets["val"]) == 3 * 20 and len(datamodule.datasets["train"]) == 2 * 20


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
        ({"labels": ["ok", "ok"]}, "labels"),
        ({"labels": ["ok", "bad"], "proportions": {"bad": 1.0}}, "no corruption makes"),
        ({"corrupt": ["train", "dev"]}, "corrupt"),
        ({"report": {"nope": 1}}, "report"),
        ({"proportions": {"noisy": 1.0}, "labels": ["ok"]}, "proportions"),
        ({"corruptions": {"snr_db": [10, 0]}}, "corruptions.snr_db"),
        ({"corruptions": {"truncate_fraction": [0.5, 1.0]}}, "corruptions.truncate_fraction"),
        ({"corruptions": {"dropout_gaps": [3]}}, "corruptions.dropout_gaps"),
        ({"corruptions": {"noise_kinds": []}}, "corruptions.noise_kinds"),
        ({"copies": 0}, "copies"),
        ({"eval_copies": 0}, "eval_copies"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        make(**options)


def labelled_manifest(tmp_path: Path, labels: list[str | None]) -> Path:
    """The first clean rows, with absolute audio paths and the given ``quality`` labels."""
    rows = [json.loads(line) for line in MANIFEST.read_text().splitlines()][: len(labels)]
    for row, label in zip(rows, labels):
        row["audio"] = str((ASR / row["audio"]).resolve())
        if label is not None:
            row["quality"] = label
    manifest = tmp_path / "labelled.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


def test_labelled_rows_keep_their_audio_text_and_label(tmp_path: Path):
    manifest = labelled_manifest(tmp_path, ["noisy", "mismatch", "ok", None])
    datamodule = make(train=str(manifest), val=str(manifest), proportions={"clipped": 1.0})
    datamodule.setup("fit")
    for split in ("train", "val"):
        dataset = datamodule.datasets[split]
        drawn = [dataset.draw(i)[0] for i in range(4)]
        # A manifest with labels is used as it is (auto): the unlabelled row counts as ok.
        assert [d.label for d in drawn] == ["noisy", "mismatch", "ok", "ok"]
        clean = decode_audio(ASR / json.loads(MANIFEST.read_text().splitlines()[0])["audio"], 16000)
        assert torch.equal(drawn[0].wave, clean)
        # What the audio says is known for ok/noisy rows, not for a labelled mismatch.
        assert [d.transcript is not None for d in drawn] == [True, False, True, True]
        assert drawn[0].snr is None
    item = datamodule.datasets["train"][0]
    assert item["targets"]["quality"] == LABELS.index("noisy")
    assert item["targets"]["match"] == 1 and item["targets"]["snr"] != item["targets"]["snr"]  # NaN: unknown


def test_corrupted_split_keeps_defect_rows_and_corrupts_ok_rows(tmp_path: Path):
    manifest = labelled_manifest(tmp_path, ["dropout", "ok", None])
    datamodule = make(train=str(manifest), val=str(manifest), corrupt=["train"], proportions={"clipped": 1.0})
    datamodule.setup("fit")
    train = [datamodule.datasets["train"].draw(i)[0].label for i in range(3)]
    val = [datamodule.datasets["val"].draw(i)[0].label for i in range(3)]
    assert train == ["dropout", "clipped", "clipped"]
    assert val == ["dropout", "ok", "ok"]


def test_unknown_manifest_label_is_a_bad_row(tmp_path: Path):
    manifest = labelled_manifest(tmp_path, ["ok", "hissing"])
    with pytest.raises(DataError, match="'hissing' is not one of data.labels"):
        make(train=str(manifest), val=str(manifest)).setup("fit")


def test_predict_screens_rows_as_they_are_and_lists_unreadable_ones(tmp_path: Path):
    manifest = labelled_manifest(tmp_path, [None, None, None, "clipped"])
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00")
    rows[1]["audio"] = str(tmp_path / "broken.wav")
    rows[2]["text"] = ""
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    datamodule = make(predict=str(manifest))
    datamodule.setup("predict")
    assert [entry["id"] for entry in datamodule.unreadable] == [rows[1]["id"], rows[2]["id"]]
    assert datamodule.unreadable[0]["label"] == "unreadable"
    assert "audio" in datamodule.unreadable[0]["finding"] and "text" in datamodule.unreadable[1]["finding"]
    batch = next(iter(datamodule.predict_dataloader()))
    assert batch.ids == [rows[0]["id"], rows[3]["id"]]
    assert batch.targets["quality"].tolist() == [-100, LABELS.index("clipped")]  # unknown, then given
    clean = decode_audio(Path(rows[0]["audio"]), 16000)
    assert batch.inputs["audio"].values[0, : clean.numel()].equal(clean)  # not corrupted
    meta = batch.meta[0]
    assert meta["text"] == rows[0]["text"] and meta["audio"] == rows[0]["audio"]
    assert meta["duration_s"] == pytest.approx(clean.numel() / 16000, abs=1e-3)
    assert set(meta["features"]) >= {"clipping_ratio", "snr_db", "gap_ratio"}


def test_predict_lines_that_are_no_row_follow_on_bad_sample_not_the_report(tmp_path: Path):
    manifest = labelled_manifest(tmp_path, [None, None, None])
    lines = manifest.read_bytes().splitlines()
    repeated = json.loads(lines[0])
    manifest.write_bytes(b"\n".join([*lines, b"{oops", json.dumps({**repeated, "text": "again"}).encode()]) + b"\n")
    with pytest.raises(DataError) as info:
        make(predict=str(manifest)).setup("predict")
    assert f"{manifest}:4: invalid JSON" in info.value.message
    assert f"{manifest}:1 and {manifest}:5 both have id {repeated['id']!r}" in info.value.message
    skipping = make(predict=str(manifest), on_bad_sample="skip")
    skipping.setup("predict")
    assert skipping.unreadable == [] and len(skipping.datasets["predict"]) == 3
    assert [problem.line for problem in skipping.skipped["predict"]] == [4, 5]


def test_transcript_target_is_what_the_audio_says():
    datamodule = make(proportions={"mismatch": 1.0, "truncated": 1.0})
    datamodule.setup("fit")
    dataset = datamodule.datasets["train"]
    for index in range(8):
        drawn, _ = dataset.draw(index)
        original = dataset.texts[index % len(dataset.rows)]
        if drawn.label == "mismatch":
            assert drawn.transcript == original and drawn.text != original
        else:
            assert drawn.transcript is None  # a truncated clip no longer says the whole text


def test_a_transcript_without_alphabet_characters_has_no_ctc_target(tmp_path: Path):
    manifest = labelled_manifest(tmp_path, ["ok"])
    row = json.loads(manifest.read_text())
    row["text"] = "123"
    manifest.write_text(json.dumps(row) + "\n")
    datamodule = make(train=str(manifest), val=str(manifest))
    datamodule.setup("fit")
    assert datamodule.datasets["train"][0]["targets"]["transcript"].numel() == 0


def test_corruption_settings_are_checked_with_the_recipe(registry):
    from mmzoo.errors import RecipeError
    from mmzoo.recipe import load_recipe

    from ..conftest import RECIPES

    recipe = RECIPES / "speech_qc" / "audio_text.yaml"
    loaded = load_recipe(recipe, ["data.corruptions={snr_db: [-5, 20], noise_kinds: [pink]}"], registry)
    assert loaded.datamodule.options["corruptions"]["noise_kinds"] == ["pink"]
    with pytest.raises(RecipeError) as info:
        load_recipe(
            recipe, ["data.corruptions={clip_gain_db: [0, 6], noise_kinds: [pinkish]}", "data.snr_db=[0, 1]"], registry
        )
    messages = {p.key: p.message for p in info.value.problems}
    assert "'clip_gain_db.0': must be > 0" in messages["data.corruptions"]
    assert "unknown option for datamodule 'speech_qc'" in messages["data.snr_db"]
