"""The ``speech_qc`` datamodule: speech for quality inspection, corrupted on the fly or as labelled."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import torch

from mmzoo.constraints import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range
from mmzoo.data.dataset import ManifestDataset, example_generator, raw_value
from mmzoo.data.decoders import DecodeError, decode_audio
from mmzoo.data.fields import ModalityField, TargetField, encode_target, missing_target
from mmzoo.data.manifest import ManifestRow
from mmzoo.data.manifest_datamodule import ManifestDataModule
from mmzoo.data.transforms.chain import TransformChain
from mmzoo.errors import DataError
from mmzoo.qc import corruptions, heuristics
from mmzoo.qc.report import QCReportWriter, ReportConfig, unreadable_row

__all__ = [
    "CLEAN_SNR_DB",
    "LABELS",
    "Corruptions",
    "CorruptionSettings",
    "Drawn",
    "SpeechQCDataModule",
    "SpeechQCDataset",
    "label_weights",
]

Split = Literal["train", "val", "test", "predict"]

#: Every label the corruption pipeline can make, in the default order.
LABELS: tuple[str, ...] = ("ok", "noisy", "clipped", "truncated", "dropout", "mismatch")

#: Labels whose audio still says the whole given transcript: the CTC ``transcript`` target is
#: known for them (for ``mismatch`` rows made here, it is the original transcript).
_TRANSCRIBED = frozenset({"ok", "noisy", "clipped"})

#: The ``snr`` target of rows without added noise (every label but ``noisy``).
CLEAN_SNR_DB = 40.0


def _uniform(bounds: list[float], generator: torch.Generator) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * float(torch.rand((), generator=generator))


def _randint(bounds: list[int], generator: torch.Generator) -> int:
    return int(torch.randint(int(bounds[0]), int(bounds[1]) + 1, (), generator=generator))


def _check_range(name: str, bounds: list[float]) -> list[float]:
    if len(bounds) != 2 or bounds[0] > bounds[1]:
        raise ValueError(f"corruptions.{name} must be [low, high] with low <= high, got {bounds}")
    return [float(b) for b in bounds]


@dataclass(frozen=True)
class Corruptions:
    """How clean rows are corrupted for each defect label (the ``corruptions`` option of the
    ``speech_qc`` datamodule). Each ``[low, high]`` range is drawn from uniformly, per example.

    Attributes:
        snr_db: SNR range in dB of ``noisy`` rows (any finite dB: noise may be louder than speech).
        noise_kinds: noise kinds of ``noisy`` rows, drawn uniformly (``babble`` mixes 3-5 other
            utterances of the same manifest).
        clip_gain_db: gain range in dB before clipping (0 dB or less would clip nothing).
        truncate_fraction: range of the fraction cut off the end of ``truncated`` rows.
        dropout_gaps: range of the number of silent gaps of a ``dropout`` row.
        dropout_ms: length range of each gap in milliseconds.
    """

    snr_db: list[Annotated[float, Range()]] = field(default_factory=lambda: [0.0, 10.0])
    noise_kinds: list[Literal["white", "pink", "babble"]] = field(default_factory=lambda: ["white", "pink", "babble"])
    clip_gain_db: list[PositiveFloat] = field(default_factory=lambda: [6.0, 18.0])
    truncate_fraction: list[Annotated[float, Range(ge=0, lt=1)]] = field(default_factory=lambda: [0.3, 0.6])
    dropout_gaps: list[PositiveInt] = field(default_factory=lambda: [1, 3])
    dropout_ms: list[PositiveFloat] = field(default_factory=lambda: [30.0, 80.0])

    def __post_init__(self) -> None:
        for name in ("snr_db", "clip_gain_db", "truncate_fraction", "dropout_ms"):
            object.__setattr__(self, name, _check_range(name, getattr(self, name)))
        object.__setattr__(self, "dropout_gaps", [int(g) for g in _check_range("dropout_gaps", self.dropout_gaps)])
        if not self.noise_kinds or set(self.noise_kinds) - {"white", "pink", "babble"}:
            raise ValueError(f"corruptions.noise_kinds: some of white, pink, babble, got {self.noise_kinds}")
        if not (0 <= self.truncate_fraction[0] and self.truncate_fraction[1] < 1):
            raise ValueError(f"corruptions.truncate_fraction must lie in [0, 1), got {self.truncate_fraction}")
        if self.dropout_gaps[0] < 1 or self.dropout_ms[0] <= 0:
            raise ValueError(
                f"corruptions: dropout_gaps from 1 and dropout_ms above 0, got {self.dropout_gaps} and {self.dropout_ms}"
            )


def label_weights(labels: list[str], proportions: Mapping[str, float] | None) -> dict[str, float]:
    """Each label's share of the corruption draws (``proportions`` normalised; ``None``: uniform
    over the labels a corruption makes).

    Raises:
        ValueError: a label is repeated, a proportion names no label or a label no corruption
            makes, or the weights do not sum to more than 0.
    """
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"labels: a list of distinct names, got {labels}")
    if proportions is None:
        proportions = dict.fromkeys((label for label in labels if label in LABELS), 1.0)
    unknown = set(proportions) - set(labels)
    if unknown:
        raise ValueError(f"proportions: {sorted(unknown)} not among labels {labels}")
    made_up = sorted(label for label, weight in proportions.items() if weight > 0 and label not in LABELS)
    if made_up:
        raise ValueError(f"proportions: no corruption makes {made_up}; corruptions: {list(LABELS)}")
    if any(w < 0 for w in proportions.values()) or not sum(proportions.values()) > 0:
        raise ValueError(f"proportions: weights must be non-negative with a positive sum, got {proportions}")
    total = sum(proportions.values())
    return {label: float(proportions.get(label, 0.0)) / total for label in labels}


@dataclass
class CorruptionSettings:
    """What a :class:`SpeechQCDataset` draws from (see :class:`SpeechQCDataModule` for each)."""

    labels: list[str]
    weights: dict[str, float]
    corruptions: Corruptions
    sample_rate: int
    copies: int = 1
    label_field: str = "quality"


class Drawn(NamedTuple):
    """One example of a :class:`SpeechQCDataset` before its transforms.

    Attributes:
        id: the example id (``<row id>#<copy>`` for copies after the first).
        row: its manifest row.
        wave: ``(T,)`` the (corrupted) waveform.
        text: the (possibly mismatched) transcript it is served with.
        label: its quality label (``None``: unknown).
        snr: its SNR in dB (``None``: unknown).
        transcript: what the audio says, for CTC (``None``: unknown).
    """

    id: str
    row: ManifestRow
    wave: torch.Tensor
    text: str
    label: str | None
    snr: float | None
    transcript: str | None


class SpeechQCDataset(ManifestDataset):
    """Manifest rows, each served ``copies`` times per epoch, corrupted on the fly or as they are.

    Item ``(index, epoch)`` uses row ``index % len(rows)`` and the generator of
    ``(seed, epoch, index)`` (epoch ``0`` outside training, so evaluation sets stay fixed). With
    ``corrupt``, a row without a defect label (no label, or ``ok``) draws a label (its first draw),
    then the corruption's, then the transforms'; rows labelled with a defect, and every row without
    ``corrupt``, are served as they are. The audio and text are decoded without transforms,
    corrupted, then sent through their whole transform chains. With ``meta``, each item also
    carries its audio path, the transcript it was given and the heuristic features of its audio.
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
        corrupt: bool = True,
        meta: bool = False,
    ) -> None:
        super().__init__(rows, modalities, produced, chains, training=training, seed=seed, labelled=labelled)
        self.settings = settings
        self.corrupting = corrupt
        self.with_meta = meta
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
        options = self.settings.corruptions
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
                wave, gaps, _uniform(options.dropout_ms, generator), self.settings.sample_rate, generator
            )
        elif label == "mismatch":
            mode = "swap" if float(torch.rand((), generator=generator)) < 0.5 else "substitute"
            other = self.texts[self._other(row_index, generator)]
            text = corruptions.mismatch_transcript(text, other, mode, generator, self.vocabulary)
        return wave, text, snr

    def given_label(self, row: ManifestRow) -> str | None:
        """The row's quality label from the manifest, if it has one."""
        value = row.fields.get(self.settings.label_field)
        return str(value).strip() or None if value is not None else None

    def _targets(self, label: str | None, snr: float | None, transcript: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {"quality": label, "snr": snr, "transcript": transcript}
        values["match"] = None if label is None else "no" if label == "mismatch" else "yes"
        targets = {}
        for name, target in self.targets.items():
            try:
                targets[name] = missing_target(target) if values[name] is None else encode_target(target, values[name])
            except ValueError:  # a transcript with no character of the CTC alphabet: nothing to learn from
                targets[name] = missing_target(target)
        return targets

    def draw(self, index: int, epoch: int = 0) -> tuple[Drawn, torch.Generator]:
        """Example ``index`` of ``epoch`` before its transforms, and the generator to go on with."""
        generator = example_generator(self.seed, epoch if self.training else 0, index)
        row_index = index % len(self.rows)
        row = self.rows[row_index]
        wave, text = self._audio(row_index), self.texts[row_index]
        label = self.given_label(row)
        snr: float | None = None  # unknown for rows served as they are
        transcript = text if label in _TRANSCRIBED else None
        if self.corrupting and label in (None, "ok"):
            label = self.settings.labels[int(torch.multinomial(self.weights, 1, generator=generator))]
            transcript = text if label in _TRANSCRIBED or label == "mismatch" else None
            wave, text, snr = self.corrupt(label, row_index, wave, text, generator)
        elif label is None and self.labelled:
            label, transcript = "ok", text
        copy = index // len(self.rows)
        row_id = row.id if copy == 0 else f"{row.id}#{copy}"
        return Drawn(row_id, row, wave, text, label, snr, transcript), generator

    def __getitem__(self, item: tuple[int, int] | int) -> dict[str, Any]:
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        drawn, generator = self.draw(index, epoch)
        example: dict[str, Any] = {
            "id": drawn.id,
            "inputs": {
                "audio": self.chains["audio"](drawn.wave, generator, self.training),
                "text": self.chains["text"](drawn.text, generator, self.training),
            },
            "targets": self._targets(drawn.label, drawn.snr, drawn.transcript),
        }
        if self.with_meta:
            example["meta"] = self.meta(drawn)
        return example

    def meta(self, drawn: Drawn) -> dict[str, Any]:
        """What the QC report shows of an example: its file, transcript, length and heuristic features."""
        rate = self.settings.sample_rate
        audio = raw_value(drawn.row, "audio", self.modalities["audio"])
        return {
            "audio": str(drawn.row.resolve(str(audio))),
            "text": drawn.text,
            "duration_s": round(drawn.wave.numel() / rate, 3),
            "features": {k: round(v, 4) for k, v in heuristics.features(drawn.wave, rate, drawn.text).items()},
        }


class SpeechQCDataModule(ManifestDataModule):
    """Speech (audio + transcript) for quality inspection: corrupted on the fly, or as labelled.

    **Clean corpus.** Each row of a clean manifest becomes ``copies`` examples per epoch; each
    draws a label (``proportions``) and is corrupted accordingly: ``ok`` (untouched), ``noisy``
    (white, pink or babble noise at an exact SNR), ``clipped`` (gain then hard clipping at the
    clean peak amplitude), ``truncated`` (the end cut off), ``dropout`` (silent gaps) or
    ``mismatch`` (the transcript swapped with another row's, or 1-2 words substituted).

    **Labelled corpus.** Rows whose ``label_field`` holds a label (one of ``labels``) keep their
    audio, text and label. A split is corrupted when it is listed in ``corrupt``; the default
    ``auto`` corrupts the train, val and test splits whose manifest has no labels at all, and never
    the predict split. In a corrupted split, rows labelled ``ok`` or unlabelled are corrupted and
    rows labelled with a defect are kept; in other splits, unlabelled rows count as ``ok`` (in the
    predict split they have no label: ``mmzoo predict`` screens a real corpus as it is).

    Modalities: ``audio`` and ``text`` (tokenize it with a transform). Targets: ``quality`` (a
    class over ``labels``, in order), ``match`` (``no`` for ``mismatch`` rows, else ``yes``),
    ``snr`` (regression: the drawn SNR in dB for ``noisy`` rows, 40 dB for other corrupted rows,
    unknown for rows kept as they are) and ``transcript`` (character ids of what is said, for an
    auxiliary CTC objective; unknown for ``truncated`` and ``dropout`` rows and labelled
    ``mismatch`` rows). Training examples change every epoch; evaluation examples are the same
    every epoch (for one ``seed``). Train, val and test rows are checked as by the ``manifest``
    datamodule; in the predict split, a row whose audio is missing, undecodable or empty, or whose
    transcript is empty, is not a reason to stop: it is listed as ``unreadable`` in the QC report.
    Lines that give no row at all (not UTF-8, not a JSON object, an id an earlier row has) follow
    ``on_bad_sample`` in every split.

    Args:
        train: training manifest.
        val: validation manifest.
        test: test manifest.
        predict: manifest for ``mmzoo predict`` (default: the test manifest).
        audio_field: the manifest field with the audio file path.
        text_field: the manifest field with the transcript.
        label_field: the manifest field with a known quality label (may be absent).
        corrupt: the splits to corrupt, or ``auto`` (see above).
        sample_rate: audio is resampled to this rate (Hz).
        labels: the quality labels, in class-index order: corruption labels, and any others that
            labelled manifests use (those get no corruption weight).
        proportions: label -> relative weight of corruption draws (labels left out get none);
            ``null`` for uniform over the corruption labels among ``labels``.
        corruptions: how each defect is made, a mapping of ``snr_db``, ``noise_kinds``,
            ``clip_gain_db``, ``truncate_fraction``, ``dropout_gaps`` and ``dropout_ms`` (each
            optional; see ``Corruptions``); ``null`` for the defaults.
        copies: examples made of each training row per epoch.
        eval_copies: examples made of each row of a corrupted val, test or predict split (each
            with its own corruption draw), for larger evaluation sets.
        report: options of the QC report ``mmzoo predict`` writes (see
            :class:`mmzoo.qc.report.ReportConfig`: ``suspicious`` and the head names).
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
        label_field: str = "quality",
        corrupt: Literal["auto"] | list[Split] = "auto",
        sample_rate: PositiveInt = 16000,
        labels: list[str] = list(LABELS),  # noqa: B006 (copied, never mutated)
        proportions: dict[str, NonNegativeFloat] | None = None,
        corruptions: Corruptions | None = None,
        copies: PositiveInt = 1,
        eval_copies: PositiveInt = 1,
        report: dict[str, Any] | None = None,
        batch_size: PositiveInt = 16,
        num_workers: NonNegativeInt = 0,
        on_bad_sample: Literal["error", "skip"] = "error",
        seed: Annotated[int, Range(ge=0)] | None = None,
        transforms: Mapping[str, list[Any]] | None = None,
    ) -> None:
        self.labels = [str(label) for label in labels]
        self.weights = label_weights(self.labels, proportions)
        if corrupt != "auto" and set(corrupt) - {"train", "val", "test", "predict"}:
            raise ValueError(f"corrupt: 'auto' or a list of splits (train, val, test, predict), got {corrupt}")
        self.corrupt = corrupt
        self.label_field = label_field
        self.corruptions = (
            Corruptions(**corruptions) if isinstance(corruptions, Mapping) else corruptions or Corruptions()
        )
        if copies < 1 or eval_copies < 1:
            raise ValueError(f"copies and eval_copies must be at least 1, got {copies} and {eval_copies}")
        self.copies = copies
        self.eval_copies = eval_copies
        self.sample_rate = sample_rate
        try:
            self.report = ReportConfig(labels=self.labels, **(report or {}))
        except TypeError as exc:
            raise ValueError(f"report: {exc}") from None
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
            "transcript": TargetField(type="transcript", drop_unknown=True),
        }
        self.target_names = tuple(self.produced)
        self.unreadable: list[dict[str, Any]] = []  # QC report rows of the predict split's unreadable rows

    def row_problems(self, row: ManifestRow, labelled: bool) -> list[tuple[str, str]]:
        problems = super().row_problems(row, labelled)
        label = row.fields.get(self.label_field)
        if label is not None and str(label).strip() and str(label).strip() not in self.labels:
            problems.append((self.label_field, f"label {label!r} is not one of data.labels {self.labels}"))
        return problems

    def _corrupts(self, split: str, rows: list[ManifestRow]) -> bool:
        if self.corrupt != "auto":
            return split in self.corrupt
        field = self.label_field
        return split != "predict" and not any(str(row.fields.get(field) or "").strip() for row in rows)

    def load_split(self, split: str) -> list[ManifestRow]:
        if split != "predict":
            return super().load_split(split)
        # Screening: a row that cannot be read is a finding of the report, not a reason to stop.
        # A line that is no row at all has no place in the report: it follows on_bad_sample.
        manifest = self.read_split(split)
        self.handle_bad_rows(split, manifest, manifest.bad)
        rows = manifest.rows
        good, bad = self.partition_rows(split, rows, decode=True)
        reasons: dict[str, list[str]] = {}
        for problem in bad:
            why = problem.problem.split(" (mark the modality")[0]  # that hint is for training data
            reasons.setdefault(problem.id, []).append(f"{problem.field}: {why}" if problem.field else why)
        by_row = {row.id: row for row in rows}  # ids are unique: read_manifest set repeated ones aside
        self.unreadable = []
        for row_id, found in reasons.items():
            row = by_row[row_id]
            audio = raw_value(row, "audio", self.fields["audio"])
            path = str(row.resolve(str(audio))) if audio is not None else None
            text = str(raw_value(row, "text", self.fields["text"]) or "")
            self.unreadable.append(unreadable_row(row_id, path, text, "; ".join(found)))
        if bad:
            print(
                f"mmzoo: {len(reasons)} unreadable rows in {self.paths['predict']} (listed in the report)",
                file=sys.stderr,
            )
        return good

    def make_dataset(self, split: str, rows: list[ManifestRow], *, training: bool) -> SpeechQCDataset:
        corrupt = self._corrupts(split, rows)
        return SpeechQCDataset(
            rows,
            self.fields,
            self.produced,
            self.chains,
            settings=CorruptionSettings(
                labels=self.labels,
                weights=self.weights,
                corruptions=self.corruptions,
                sample_rate=self.sample_rate,
                copies=self.copies if split == "train" else self.eval_copies if corrupt else 1,
                label_field=self.label_field,
            ),
            training=training,
            seed=self.seed,
            labelled=split != "predict",
            corrupt=corrupt,
            meta=split == "predict",
        )

    def prediction_writer(self, run_dir: Path, heads: Mapping[str, Any], *, resume: bool) -> Any:
        """The callback ``mmzoo predict`` uses: the QC report in ``<run_dir>/report``."""
        if self.report.quality_head not in heads:
            raise DataError(
                f"the QC report reads the quality head '{self.report.quality_head}', which the model lacks",
                hint="set data.report.quality_head to the model's quality classification head",
            )
        optional = ("match_head", "ctc_head", "snr_head")
        config = replace(
            self.report, **{f: getattr(self.report, f) if getattr(self.report, f) in heads else None for f in optional}
        )
        return QCReportWriter(run_dir / "report", config, unreadable=self.unreadable, resume=resume)
