"""The ``speech_qc`` datamodule: clean speech corrupted on the fly, for speech quality inspection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from mmzoo.data.dataset import ManifestDataset, example_generator, raw_value
from mmzoo.data.decoders import DecodeError, decode_audio
from mmzoo.data.fields import ModalityField, TargetField, encode_target
from mmzoo.data.manifest import ManifestRow
from mmzoo.data.manifest_datamodule import ManifestDataModule
from mmzoo.data.transforms.chain import TransformChain
from mmzoo.errors import DataError
from mmzoo.qc import corruptions

__all__ = ["CLEAN_SNR_DB", "LABELS", "CorruptionSettings", "SpeechQCDataModule", "SpeechQCDataset"]

Label = Literal["ok", "noisy", "clipped", "truncated", "dropout", "mismatch"]

#: Every corruption label, in the default order.
LABELS: tuple[str, ...] = ("ok", "noisy", "clipped", "truncated", "dropout", "mismatch")

#: The ``snr`` target of rows without added noise (every label but ``noisy``).
CLEAN_SNR_DB = 40.0


def _uniform(bounds: list[float], generator: torch.Generator) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * float(torch.rand((), generator=generator))


def _randint(bounds: list[int], generator: torch.Generator) -> int:
    return int(torch.randint(int(bounds[0]), int(bounds[1]) + 1, (), generator=generator))


def _check_range(name: str, bounds: list[float]) -> list[float]:
    if len(bounds) != 2 or bounds[0] > bounds[1]:
        raise ValueError(f"{name} must be [low, high] with low <= high, got {bounds}")
    return [float(b) for b in bounds]


@dataclass
class CorruptionSettings:
    """What a :class:`SpeechQCDataset` draws from (see :class:`SpeechQCDataModule` for each)."""

    labels: list[str]
    weights: dict[str, float]
    snr_db: list[float]
    noise_kinds: list[str]
    clip_gain_db: list[float]
    truncate_fraction: list[float]
    dropout_gaps: list[int]
    dropout_ms: list[float]
    sample_rate: int
    copies: int = 1


class SpeechQCDataset(ManifestDataset):
    """Clean manifest rows, each served ``copies`` times per epoch with a drawn corruption.

    Item ``(index, epoch)`` uses row ``index % len(rows)`` and the generator of
    ``(seed, epoch, index)`` (epoch ``0`` outside training, so evaluation sets stay fixed): the
    label is its first draw, then the corruption's, then the transforms'. The clean audio and text
    are decoded without transforms, corrupted, then sent through their whole transform chains.
    """

    def __init__(
        self,
        rows: list[ManifestRow],
        modalities: Mapping[str, ModalityField],
        produced: Mapping[str, TargetField],
        chains: Mapping[str, TransformChain],
        *,
        settings: CorruptionSettings,
        training: bool,
        seed: int,
        labelled: bool = True,
    ) -> None:
        super().__init__(rows, modalities, produced, chains, training=training, seed=seed, labelled=labelled)
        self.settings = settings
        self.weights = torch.tensor([settings.weights[label] for label in settings.labels], dtype=torch.float64)
        self.texts = [str(raw_value(row, "text", self.modalities["text"]) or "").strip() for row in rows]
        self.vocabulary = sorted({word for text in self.texts for word in text.split()})

    def __len__(self) -> int:
        return len(self.rows) * self.settings.copies

    def _audio(self, row_index: int) -> torch.Tensor:
        row = self.rows[row_index]
        config = self.modalities["audio"]
        try:
            return decode_audio(row.resolve(str(raw_value(row, "audio", config))), config.sample_rate)
        except DecodeError as exc:
            raise DataError(f"{row.where}: field '{config.field or 'audio'}' (audio): {exc}") from None

    def _other(self, row_index: int, generator: torch.Generator) -> int:
        """Another row's index (the same one when there is only one row)."""
        if len(self.rows) == 1:
            return row_index
        other = int(torch.randint(0, len(self.rows) - 1, (), generator=generator))
        return other + (other >= row_index)

    def corrupt(
        self, label: str, row_index: int, wave: torch.Tensor, text: str, generator: torch.Generator
    ) -> tuple[torch.Tensor, str, float]:
        """The corrupted ``(audio, text, snr)`` of one row for one label."""
        options = self.settings
        snr = CLEAN_SNR_DB
        if label == "noisy":
            snr = _uniform(options.snr_db, generator)
            kind = options.noise_kinds[int(torch.randint(0, len(options.noise_kinds), (), generator=generator))]
            sources = None
            if kind == "babble":
                picks = [i for i in range(len(self.rows)) if i != row_index] or [row_index]
                order = torch.randperm(len(picks), generator=generator)[:5].tolist()
                sources = [self._audio(picks[i]) for i in order]
            wave = corruptions.add_noise(wave, snr, kind, generator, sources)
        elif label == "clipped":
            level = float(wave.abs().max()) or 1.0
            wave, _ = corruptions.clip(wave, _uniform(options.clip_gain_db, generator), level)
        elif label == "truncated":
            wave = corruptions.truncate(wave, _uniform(options.truncate_fraction, generator))
        elif label == "dropout":
            gaps = _randint(options.dropout_gaps, generator)
            wave, _ = corruptions.dropout(
                wave, gaps, _uniform(options.dropout_ms, generator), options.sample_rate, generator
            )
        elif label == "mismatch":
            mode = "swap" if float(torch.rand((), generator=generator)) < 0.5 else "substitute"
            other = self.texts[self._other(row_index, generator)]
            text = corruptions.mismatch_transcript(text, other, mode, generator, self.vocabulary)
        return wave, text, snr

    def __getitem__(self, item: tuple[int, int] | int) -> dict[str, Any]:
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        generator = example_generator(self.seed, epoch if self.training else 0, index)
        row_index = index % len(self.rows)
        row = self.rows[row_index]
        label = self.settings.labels[int(torch.multinomial(self.weights, 1, generator=generator))]
        wave, text, snr = self.corrupt(label, row_index, self._audio(row_index), self.texts[row_index], generator)
        inputs = {
            "audio": self.chains["audio"](wave, generator, self.training),
            "text": self.chains["text"](text, generator, self.training),
        }
        values = {"quality": label, "match": "no" if label == "mismatch" else "yes", "snr": snr}
        targets = {name: encode_target(target, values[name]) for name, target in self.targets.items()}
        copy = index // len(self.rows)
        base = str(row.fields.get("id", f"{row.manifest.name}:{row.line}"))
        return {"id": base if copy == 0 else f"{base}#{copy}", "inputs": inputs, "targets": targets}


class SpeechQCDataModule(ManifestDataModule):
    """Clean speech (audio + transcript) corrupted on the fly, labelled with what was done to it.

    Each row of a clean manifest becomes ``copies`` examples per epoch; each draws a label
    (``proportions``) and is corrupted accordingly: ``ok`` (untouched), ``noisy`` (white, pink or
    babble noise at an exact SNR), ``clipped`` (gain then hard clipping at the clean peak
    amplitude), ``truncated`` (the end cut off), ``dropout`` (silent gaps) or ``mismatch`` (the
    transcript swapped with another row's, or 1-2 words substituted). Modalities: ``audio`` and
    ``text`` (tokenize it with a transform). Targets: ``quality`` (a class over ``labels``, in
    order), ``match`` (``no`` for ``mismatch`` rows, else ``yes``) and ``snr`` (regression: the
    drawn SNR in dB for ``noisy`` rows, 40 dB for all others). Training examples change every
    epoch; validation, test and prediction examples are the same every epoch (for one ``seed``).
    Rows are checked as by the ``manifest`` datamodule (audio readable, text not empty).

    Args:
        train: training manifest of clean speech.
        val: validation manifest of clean speech.
        test: test manifest of clean speech.
        predict: manifest for ``mmzoo predict`` (default: the test manifest), corrupted likewise
            (its targets are known, so they are given too).
        audio_field: the manifest field with the audio file path.
        text_field: the manifest field with the transcript.
        sample_rate: audio is resampled to this rate (Hz).
        labels: the corruption labels to make, in class-index order.
        proportions: label -> relative weight (labels left out get none); ``null`` for uniform.
        snr_db: ``[low, high]`` SNR range in dB of ``noisy`` rows.
        noise_kinds: noise kinds of ``noisy`` rows, drawn uniformly (``babble`` mixes 3-5 other
            utterances of the same manifest).
        clip_gain_db: ``[low, high]`` gain range in dB before clipping.
        truncate_fraction: ``[low, high]`` range of the fraction cut off the end.
        dropout_gaps: ``[low, high]`` number of silent gaps of a ``dropout`` row.
        dropout_ms: ``[low, high]`` length range of each gap in milliseconds.
        copies: corrupted examples made of each clean row per epoch.
        batch_size: rows per batch.
        num_workers: DataLoader worker processes.
        on_bad_sample: ``error`` (stop and list the bad rows) or ``skip`` (drop and list them).
    """

    def __init__(
        self,
        train: str | None = None,
        val: str | None = None,
        test: str | None = None,
        predict: str | None = None,
        audio_field: str = "audio",
        text_field: str = "text",
        sample_rate: int = 16000,
        labels: list[Label] = list(LABELS),  # noqa: B006 (copied, never mutated)
        proportions: dict[str, float] | None = None,
        snr_db: list[float] = [0.0, 10.0],  # noqa: B006
        noise_kinds: list[Literal["white", "pink", "babble"]] = ["white", "pink", "babble"],  # noqa: B006
        clip_gain_db: list[float] = [6.0, 18.0],  # noqa: B006
        truncate_fraction: list[float] = [0.3, 0.6],  # noqa: B006
        dropout_gaps: list[int] = [1, 3],  # noqa: B006
        dropout_ms: list[float] = [30.0, 80.0],  # noqa: B006
        copies: int = 1,
        batch_size: int = 16,
        num_workers: int = 0,
        on_bad_sample: Literal["error", "skip"] = "error",
        seed: int | None = None,
        transforms: Mapping[str, list[Any]] | None = None,
    ) -> None:
        if not labels or len(set(labels)) != len(labels) or set(labels) - set(LABELS):
            raise ValueError(f"labels: distinct names among {list(LABELS)}, got {labels}")
        self.labels = list(labels)
        if proportions is None:
            proportions = dict.fromkeys(self.labels, 1.0)
        unknown = set(proportions) - set(self.labels)
        if unknown:
            raise ValueError(f"proportions: {sorted(unknown)} not among labels {self.labels}")
        if any(w < 0 for w in proportions.values()) or not sum(proportions.values()) > 0:
            raise ValueError(f"proportions: weights must be non-negative with a positive sum, got {proportions}")
        total = sum(proportions.values())
        self.weights = {label: float(proportions.get(label, 0.0)) / total for label in self.labels}
        self.snr_db = _check_range("snr_db", snr_db)
        if not noise_kinds or set(noise_kinds) - {"white", "pink", "babble"}:
            raise ValueError(f"noise_kinds: some of white, pink, babble, got {noise_kinds}")
        self.noise_kinds = list(noise_kinds)
        self.clip_gain_db = _check_range("clip_gain_db", clip_gain_db)
        self.truncate_fraction = _check_range("truncate_fraction", truncate_fraction)
        if not (0 <= self.truncate_fraction[0] and self.truncate_fraction[1] < 1):
            raise ValueError(f"truncate_fraction must lie in [0, 1), got {truncate_fraction}")
        gaps = _check_range("dropout_gaps", dropout_gaps)
        if gaps[0] < 1:
            raise ValueError(f"dropout_gaps: at least 1 gap, got {dropout_gaps}")
        self.dropout_gaps = [int(g) for g in gaps]
        self.dropout_ms = _check_range("dropout_ms", dropout_ms)
        if self.dropout_ms[0] <= 0:
            raise ValueError(f"dropout_ms must be positive, got {dropout_ms}")
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        self.copies = copies
        self.sample_rate = sample_rate
        super().__init__(
            modalities={
                "audio": {"type": "audio", "field": audio_field, "sample_rate": sample_rate},
                "text": {"type": "text", "field": text_field},
            },
            targets=None,  # produced, not read: the parent's row checks must not look for them
            train=train,
            val=val,
            test=test,
            predict=predict,
            batch_size=batch_size,
            num_workers=num_workers,
            on_bad_sample=on_bad_sample,
            seed=seed,
            transforms=transforms,
        )
        self.produced = {
            "quality": TargetField(type="class", classes=list(self.labels)),
            "match": TargetField(type="class", classes=["no", "yes"]),
            "snr": TargetField(type="regression"),
        }
        self.target_names = tuple(self.produced)

    def _dataset(self, split: str, rows: list[ManifestRow], *, training: bool) -> SpeechQCDataset:
        return SpeechQCDataset(
            rows,
            self.fields,
            self.produced,
            self.chains,
            settings=CorruptionSettings(
                labels=self.labels,
                weights=self.weights,
                snr_db=self.snr_db,
                noise_kinds=self.noise_kinds,
                clip_gain_db=self.clip_gain_db,
                truncate_fraction=self.truncate_fraction,
                dropout_gaps=self.dropout_gaps,
                dropout_ms=self.dropout_ms,
                sample_rate=self.sample_rate,
                copies=self.copies,
            ),
            training=training,
            seed=self.seed,
            labelled=split != "predict",
        )
