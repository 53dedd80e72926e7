"""The manifest datamodule on real files: spoken digits (espeak-ng), drawn digits, broken files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import soundfile
import torch

from mmzoo.contracts import ModalitySpec
from mmzoo.data import ManifestDataModule
from mmzoo.data.manifest_datamodule import SKIPPED_FILE
from mmzoo.data.transforms import Transform
from mmzoo.errors import DataError

from .conftest import write_jsonl


class Utf8Bytes(Transform):
    """Test tokenizer: UTF-8 bytes + 1 (0 pads)."""

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        assert input_spec.kind == "text"
        return ModalitySpec(kind="tokens", vocab_size=257, pad_id=0)

    def __call__(self, value, generator):
        return torch.tensor(list(value.encode()), dtype=torch.long) + 1


class RandomScale(Transform):
    """Test augmentation drawing from the generator."""

    random = True

    def __call__(self, value, generator):
        return value * (1 + torch.rand((), generator=generator))


def make(manifest: Path, **overrides) -> ManifestDataModule:
    options = dict(
        modalities={
            "audio": {"type": "audio", "sample_rate": 8000},
            "image": {"type": "image", "channels": 1},
            "text": {"type": "text"},
        },
        targets={"label": {"classes": ["even", "odd"]}},
        train=str(manifest),
        val=str(manifest),
        batch_size=4,
        transforms={"text": [Utf8Bytes()]},
    )
    options.update(overrides)
    return ManifestDataModule(**options)


def first_batch(datamodule: ManifestDataModule, split: str = "train"):
    datamodule.setup("fit")
    loader = datamodule.train_dataloader() if split == "train" else datamodule.val_dataloader()
    return next(iter(loader))


def test_specs_follow_decoders_and_transforms(corpus):
    specs = make(corpus / "train.jsonl").modality_specs
    assert specs["audio"] == ModalitySpec(kind="waveform", sample_rate=8000.0)
    assert specs["image"].kind == "image" and specs["image"].channels == 1
    assert specs["text"] == ModalitySpec(kind="tokens", vocab_size=257, pad_id=0)


def test_batches_decode_real_files(corpus):
    batch = first_batch(make(corpus / "train.jsonl"), "val")
    audio, audio_mask = batch.inputs["audio"]
    clip, rate = soundfile.read(corpus / "clips" / "0.flac")
    assert rate == 16000
    assert audio_mask[0].sum() == pytest.approx(len(clip) / 2, abs=2)  # resampled to 8 kHz
    image, image_mask = batch.inputs["image"]
    assert image.shape == (4, 1, 32, 32) and image_mask.shape == (4, 1) and image_mask.all()
    tokens, token_mask = batch.inputs["text"]
    assert tokens[0, : token_mask[0].sum()].tolist() == [b + 1 for b in b"number 0"]
    assert batch.targets["label"].tolist() == [0, 1, 0, 1]
    assert batch.ids == ["r0", "r1", "r2", "r3"]


def test_csv_manifest_gives_the_same_batch(corpus):
    rows = [json.loads(line) for line in (corpus / "train.jsonl").read_text().splitlines()]
    with (corpus / "train.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    from_jsonl = first_batch(make(corpus / "train.jsonl"), "val")
    from_csv = first_batch(make(corpus / "train.csv"), "val")
    for modality in from_jsonl.inputs:
        assert torch.equal(from_jsonl.inputs[modality].values, from_csv.inputs[modality].values)
    assert torch.equal(from_jsonl.targets["label"], from_csv.targets["label"])


def test_bad_rows_are_all_reported_with_manifest_line_and_field(corpus):
    speech, rate = soundfile.read(corpus / "clips" / "0.flac")
    soundfile.write(corpus / "clips" / "whole.wav", speech, rate)
    (corpus / "clips" / "truncated.wav").write_bytes((corpus / "clips" / "whole.wav").read_bytes()[:20])
    soundfile.write(corpus / "clips" / "silent.wav", torch.zeros(0).numpy(), 16000)
    (corpus / "img" / "fake.png").write_text("this is not a png")
    good = {"audio": "clips/1.flac", "image": "img/1.png", "text": "one", "label": "odd"}
    rows = [
        good,
        {**good, "audio": "clips/missing.flac"},
        {**good, "audio": "clips/truncated.wav"},
        {**good, "audio": "clips/silent.wav"},
        {**good, "image": "img/fake.png"},
        {**good, "text": "   "},
        {**good, "label": "prime"},
        {k: v for k, v in good.items() if k != "label"},
    ]
    manifest = write_jsonl(corpus / "bad.jsonl", rows)
    with pytest.raises(DataError) as info:
        make(manifest).setup("fit")
    message = info.value.message
    assert "7 bad rows" in message
    assert f"{manifest}:2: field 'audio': file not found" in message
    assert f"{manifest}:3: field 'audio'" in message and "not a readable audio file" in message
    assert f"{manifest}:4: field 'audio'" in message and "no samples" in message
    assert f"{manifest}:5: field 'image'" in message and "not a readable image" in message
    assert f"{manifest}:6: field 'text': missing or empty" in message
    assert f"{manifest}:7: field 'label': label 'prime' is not one of the declared classes" in message
    assert f"{manifest}:8: field 'label': missing label" in message
    assert "on_bad_sample=skip" in info.value.hint


def test_skip_policy_drops_counts_and_lists_bad_rows(corpus, tmp_path):
    (corpus / "img" / "fake.png").write_text("not an image")
    good = {"audio": "clips/1.flac", "image": "img/1.png", "text": "one", "label": "odd"}
    manifest = write_jsonl(corpus / "mixed.jsonl", [good, {**good, "image": "img/fake.png"}, good])
    datamodule = make(manifest, on_bad_sample="skip")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    datamodule.attach_run_dir(run_dir)
    datamodule.setup("fit")
    assert len(datamodule.datasets["train"]) == 2
    listed = [json.loads(line) for line in (run_dir / SKIPPED_FILE).read_text().splitlines()]
    assert {entry["split"] for entry in listed} == {"train", "val"}
    assert all(entry["row"] == f"{manifest}:2" and entry["field"] == "image" for entry in listed)


def test_skip_finds_files_broken_inside(corpus, monkeypatch):
    """A file whose header is fine but whose decoding fails is caught by the full decode of `skip`."""
    import mmzoo.data.dataset as dataset_module

    real = dataset_module.decode_audio

    def flaky(path, sample_rate):
        if path.name == "2.flac":
            raise dataset_module.DecodeError("corrupt frame")
        return real(path, sample_rate)

    monkeypatch.setattr(dataset_module, "decode_audio", flaky)
    datamodule = make(corpus / "train.jsonl", on_bad_sample="skip")
    datamodule.setup("fit")
    assert len(datamodule.datasets["train"]) == 5
    assert "corrupt frame" in datamodule.skipped["train"][0].problem
    with pytest.raises(DataError, match=r"train.jsonl:3: field 'audio' \(audio\): corrupt frame"):
        strict = make(corpus / "train.jsonl")
        strict.setup("fit")
        list(strict.train_dataloader())


def test_empty_and_unusable_manifests(corpus):
    (corpus / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="has no rows"):
        make(corpus / "empty.jsonl").setup("fit")
    bad = write_jsonl(
        corpus / "allbad.jsonl", [{"audio": "nope.flac", "image": "img/0.png", "text": "x", "label": "odd"}]
    )
    with pytest.raises(DataError, match="has no usable rows"):
        make(bad, on_bad_sample="skip").setup("fit")
    (corpus / "broken.jsonl").write_text('{"audio": "clips/0.flac"}\n{oops\n')
    with pytest.raises(DataError, match=r"broken.jsonl:2: invalid JSON"):
        make(corpus / "broken.jsonl").setup("fit")
    with pytest.raises(DataError, match="manifest not found"):
        make(corpus / "nope.jsonl").setup("fit")


def test_optional_modality_missing_rows_get_false_masks(corpus):
    rows = [json.loads(line) for line in (corpus / "train.jsonl").read_text().splitlines()]
    rows[1].pop("image")
    rows[2]["audio"] = ""
    manifest = write_jsonl(corpus / "partial.jsonl", rows)
    modalities = {
        "audio": {"type": "audio", "optional": True},
        "image": {"type": "image", "optional": True},
        "text": {"type": "text"},
    }
    batch = first_batch(make(manifest, modalities=modalities), "val")
    assert batch.inputs["image"].mask[:, 0].tolist() == [True, False, True, True]
    assert not batch.inputs["audio"].mask[2].any() and batch.inputs["audio"].mask[0].any()
    assert torch.all(batch.inputs["image"].values[1] == 0)
    with pytest.raises(DataError, match=r"partial.jsonl:2: field 'image': missing or empty"):
        make(manifest).setup("fit")


def test_raw_text_must_be_tokenized(corpus):
    with pytest.raises(ValueError, match="still raw text"):
        make(corpus / "train.jsonl", transforms={})


def test_cache_decodes_each_file_once(corpus, tmp_path, monkeypatch):
    import mmzoo.data.dataset as dataset_module

    calls = []
    real = dataset_module.decode_audio
    monkeypatch.setattr(dataset_module, "decode_audio", lambda path, rate: calls.append(path) or real(path, rate))
    cache = tmp_path / "cache"
    first = make(corpus / "train.jsonl", cache_dir=str(cache))
    first.setup("fit")
    values = [first.datasets["train"][i]["inputs"]["audio"] for i in range(6)]
    assert len(calls) == 6
    second = make(corpus / "train.jsonl", cache_dir=str(cache))
    second.setup("fit")
    again = [second.datasets["train"][i]["inputs"]["audio"] for i in range(6)]
    assert len(calls) == 6, "the second datamodule reads the cache"
    assert all(torch.equal(a, b) for a, b in zip(values, again))
    other_rate = make(
        corpus / "train.jsonl",
        cache_dir=str(cache),
        modalities={
            "audio": {"type": "audio", "sample_rate": 4000},
            "image": {"type": "image"},
            "text": {"type": "text"},
        },
    )
    other_rate.setup("fit")
    other_rate.datasets["train"][0]
    assert len(calls) == 7, "different decoder settings are a different cache entry"


def test_random_transforms_are_seeded_per_example_and_epoch(corpus):
    def epochs(num_workers: int) -> list[torch.Tensor]:
        datamodule = make(
            corpus / "train.jsonl",
            transforms={"text": [Utf8Bytes()], "audio": [RandomScale()]},
            num_workers=num_workers,
            seed=5,
        )
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        batches = []
        for epoch in range(2):
            loader.sampler.set_epoch(epoch)  # as Lightning does before each epoch
            batches.append(next(iter(loader)).inputs["audio"].values)
        return batches

    serial, parallel = epochs(0), epochs(2)
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel)), "same data with any number of workers"
    assert not torch.equal(serial[0], serial[1]), "a new epoch draws new augmentations (and a new order)"


def test_needs_at_least_one_manifest():
    with pytest.raises(ValueError, match="at least one manifest"):
        ManifestDataModule(modalities={"audio": {"type": "audio"}})


def test_wav_cut_short_in_its_samples_is_a_bad_row(corpus):
    """A WAV whose data stops before its header says (a partial copy) is refused, naming line and file."""
    speech, rate = soundfile.read(corpus / "clips" / "0.flac", dtype="float32")
    soundfile.write(corpus / "clips" / "whole.wav", speech, rate, subtype="PCM_16")
    data = (corpus / "clips" / "whole.wav").read_bytes()
    (corpus / "clips" / "cut.wav").write_bytes(data[: 44 + 2 * 1000])  # header + 1000 samples
    row = {"audio": "clips/cut.wav", "image": "img/0.png", "text": "zero", "label": "even"}
    manifest = write_jsonl(corpus / "cut.jsonl", [{**row, "audio": "clips/whole.wav"}, row])
    with pytest.raises(DataError) as info:
        make(manifest).setup("fit")
    message = info.value.message
    assert "1 bad row in" in message
    assert f"{manifest}:2: field 'audio': {corpus / 'clips' / 'cut.wav'}: the WAV file is cut short" in message
    assert f"declares {2 * len(speech):,} bytes of samples, the file holds 2,000" in message
    skipping = make(manifest, on_bad_sample="skip")
    skipping.setup("fit")
    assert [row.line for row in skipping.rows["train"]] == [1]
    assert "cut short" in skipping.skipped["train"][0].problem
