"""Audio files cut short: WAVs whose samples stop before their header says, and what soundfile reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from mmzoo.data.decoders import DecodeError, probe_audio
from mmzoo.data.wav_header import wav_data

from .conftest import write_jsonl
from .test_manifest_datamodule import make

RATE = 8000
SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


def tone(frames: int = 4001, channels: int = 1) -> np.ndarray:
    wave = 0.5 * np.sin(np.arange(frames) / 7.0).astype("float32")
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def cut(source: Path, target: Path, keep: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


@pytest.mark.parametrize("subtype", SUBTYPES)
@pytest.mark.parametrize("channels", [1, 2])
def test_an_intact_wav_passes_and_a_cut_one_does_not(tmp_path, subtype, channels):
    whole = tmp_path / "whole.wav"
    soundfile.write(whole, tone(channels=channels), RATE, subtype=subtype)  # odd frame count: padded chunk
    probe_audio(whole)
    with pytest.raises(DecodeError, match=r"the WAV file is cut short: its header declares [\d,]+ bytes of samples"):
        probe_audio(cut(whole, tmp_path / "cut.wav", 0.6))


def test_a_wav_cut_inside_its_last_frame_is_cut_short(tmp_path):
    whole = tmp_path / "whole.wav"
    soundfile.write(whole, tone(), RATE, subtype="PCM_16")
    (tmp_path / "cut.wav").write_bytes(whole.read_bytes()[:-1])
    assert wav_data(tmp_path / "cut.wav").cut_short


def test_chunks_before_and_after_the_samples_and_a_size_that_is_not_a_whole_frame(tmp_path):
    with soundfile.SoundFile(tmp_path / "tagged.wav", "w", RATE, 1, "PCM_16") as handle:
        handle.title = "a LIST chunk before the samples"
        handle.write(tone())
    probe_audio(tmp_path / "tagged.wav")
    data = bytearray((tmp_path / "tagged.wav").read_bytes())
    data += b"junk" + (5).to_bytes(4, "little") + b"after\0"  # a chunk after the samples, padded
    data[4:8] = (len(data) - 8).to_bytes(4, "little")
    (tmp_path / "trailer.wav").write_bytes(bytes(data))
    probe_audio(tmp_path / "trailer.wav")
    at = data.index(b"data")
    size = int.from_bytes(data[at + 4 : at + 8], "little")
    data[at + 4 : at + 8] = (size + 1).to_bytes(4, "little")  # a sloppy writer: half a frame more
    (tmp_path / "sloppy.wav").write_bytes(bytes(data[: at + 8 + size]))
    assert not wav_data(tmp_path / "sloppy.wav").cut_short


def test_a_streamed_wav_of_unknown_size_is_not_checked(tmp_path):
    whole = tmp_path / "whole.wav"
    soundfile.write(whole, tone(), RATE, subtype="PCM_16")
    data = bytearray(whole.read_bytes())
    at = data.index(b"data")
    data[4:8] = data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    (tmp_path / "streamed.wav").write_bytes(bytes(data))
    assert wav_data(tmp_path / "streamed.wav") is None
    probe_audio(tmp_path / "streamed.wav")


def test_other_formats_are_left_to_soundfile(tmp_path):
    soundfile.write(tmp_path / "tone.flac", tone(), RATE)
    assert wav_data(tmp_path / "tone.flac") is None


def test_a_cut_flac_is_found_by_the_skip_policy_decoding_every_row(corpus):
    """soundfile reports a FLAC cut short when it decodes it (not from its header): `skip` drops it."""
    cut(corpus / "clips" / "3.flac", corpus / "clips" / "cut.flac", 0.5)
    row = {"audio": "clips/cut.flac", "image": "img/3.png", "text": "three", "label": "odd"}
    manifest = write_jsonl(corpus / "cut.jsonl", [{**row, "audio": "clips/3.flac"}, row])
    datamodule = make(manifest, on_bad_sample="skip")
    datamodule.setup("fit")
    assert [row.line for row in datamodule.rows["train"]] == [1]
    assert "cannot decode audio" in datamodule.skipped["train"][0].problem
