"""A synthetic audio+text dataset, generated on the fly, where only fusion can solve the task.

Each row holds

- **audio**: a short noisy clip with a tone at one of ``K`` pitches, given as log-mel frames;
- **text**: a short sentence containing one of ``K`` colour words (or a synonym), tokenized into
  UTF-8 bytes by transformers' ``ByT5Tokenizer`` (offline, no vocabulary file);
- **label**: ``(pitch + colour) mod K``.

Pitch and colour are drawn independently and uniformly, so either modality alone tells nothing
about the label (chance is ``1/K``), while both together determine it. That makes the quickstart
an honest test of fusion: an audio-only or text-only model cannot beat chance.
"""

from __future__ import annotations

import functools
from typing import Annotated

import numpy as np
import torch
from torchdata.stateful_dataloader import StatefulDataLoader

from mmzoo.constraints import NonNegativeFloat, NonNegativeInt, PositiveInt, Range
from mmzoo.contracts import ModalitySpec
from mmzoo.contracts.datamodule import MultimodalDataModule
from mmzoo.data.collate import Row, collate_rows
from mmzoo.data.loader import resumable_loader

__all__ = ["TonesAndWords", "COLOUR_WORDS"]

COLOUR_WORDS: tuple[tuple[str, ...], ...] = (
    ("red", "crimson", "scarlet"),
    ("blue", "azure", "navy"),
    ("green", "olive", "emerald"),
    ("yellow", "golden", "amber"),
    ("purple", "violet", "lilac"),
    ("orange", "tangerine", "apricot"),
    ("white", "ivory", "snowy"),
    ("black", "ebony", "inky"),
)
_DETERMINERS = ("the", "a", "my", "your", "that", "one")
_ADJECTIVES = ("old", "small", "big", "shiny", "quiet", "broken", "new", "tiny")
_NOUNS = ("car", "boat", "kite", "door", "lamp", "chair", "bird", "cup")
_VERBS = ("is", "looks", "seems", "was", "became")
_ENDINGS = ("", " today", " again", " now", " at night")
_SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2}


class TonesAndWords(MultimodalDataModule):
    """Synthetic audio (tone pitch) + text (colour word) classification; the label needs both.

    Args:
        num_classes: ``K``, the number of pitches, colours and labels (2 to 8).
        train_size: rows in the training split.
        val_size: rows in the validation split.
        test_size: rows in the test split (also used by ``predict``).
        sample_rate: audio sample rate in Hz (at least 2000: the pitches span 300 Hz to 0.3 times the rate).
        n_mels: mel bands of the audio features.
        noise: standard deviation of the background noise relative to the tone's amplitude.
        batch_size: rows per batch.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        seed: Annotated[int, Range(ge=0)] | None = None,
        num_classes: Annotated[int, Range(ge=2, le=len(COLOUR_WORDS))] = 4,
        train_size: PositiveInt = 1024,
        val_size: PositiveInt = 256,
        test_size: PositiveInt = 256,
        sample_rate: Annotated[int, Range(ge=2000)] = 8000,
        n_mels: PositiveInt = 32,
        noise: NonNegativeFloat = 0.5,
        batch_size: PositiveInt = 32,
        num_workers: NonNegativeInt = 0,
    ) -> None:
        super().__init__()
        if not 2 <= num_classes <= len(COLOUR_WORDS):
            raise ValueError(f"num_classes must be between 2 and {len(COLOUR_WORDS)}, got {num_classes}")
        for name, size in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            if size < 1:
                raise ValueError(f"{name} must be at least 1, got {size}")
        from transformers import ByT5Tokenizer

        self.seed = 0 if seed is None else seed
        self.num_classes = num_classes
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.noise = noise
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.tokenizer = ByT5Tokenizer()
        self.frequencies = np.geomspace(300.0, 0.3 * sample_rate, num_classes)
        self.modality_specs = {
            "audio": ModalitySpec(kind="features", feature_dim=n_mels, sample_rate=100.0),
            "text": ModalitySpec(kind="tokens", vocab_size=len(self.tokenizer), pad_id=self.tokenizer.pad_token_id),
        }
        self.target_names = ("label",)
        self.rows: dict[str, list[Row]] = {}

    # -- generation ----------------------------------------------------------------------

    def _sentence(self, rng: np.random.Generator, colour: int) -> str:
        pick = lambda words: words[rng.integers(len(words))]  # noqa: E731
        return (
            f"{pick(_DETERMINERS)} {pick(_ADJECTIVES)} {pick(_NOUNS)} {pick(_VERBS)} "
            f"{pick(COLOUR_WORDS[colour])}{pick(_ENDINGS)}"
        )

    def _clip(self, rng: np.random.Generator, pitch: int) -> np.ndarray:
        sr = self.sample_rate
        length = int(rng.uniform(0.3, 0.6) * sr)
        tone_length = int(length * rng.uniform(0.5, 0.8))
        onset = int(rng.integers(0, length - tone_length + 1))
        t = np.arange(tone_length) / sr
        frequency = self.frequencies[pitch] * rng.uniform(0.97, 1.03)
        amplitude = rng.uniform(0.3, 1.0)
        clip = rng.normal(0.0, self.noise * amplitude, length)
        clip[onset : onset + tone_length] += amplitude * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi))
        return clip.astype(np.float32)

    def _generate(self, split: str) -> list[Row]:
        import torchaudio

        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.sample_rate, n_fft=256, hop_length=self.sample_rate // 100, n_mels=self.n_mels
        )
        rng = np.random.default_rng([self.seed, _SPLIT_OFFSETS[split]])
        rows: list[Row] = []
        for index in range(self.sizes[split]):
            pitch, colour = (int(v) for v in rng.integers(0, self.num_classes, size=2))
            with torch.no_grad():
                features = torch.log(mel(torch.from_numpy(self._clip(rng, pitch))) + 1e-5).T  # (T, n_mels)
            features = (features - features.mean()) / (features.std() + 1e-5)
            text = self._sentence(rng, colour)
            tokens = torch.tensor(self.tokenizer(text).input_ids, dtype=torch.long)
            rows.append(
                {
                    "id": f"{split}-{index:05d}",
                    "inputs": {"audio": features, "text": tokens},
                    "targets": {"label": (pitch + colour) % self.num_classes},
                    "meta": {"text": text, "pitch": pitch, "colour": colour},
                }
            )
        return rows

    # -- LightningDataModule ---------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        for split in wanted.get(stage or "", ("train", "val", "test")):
            if split not in self.rows:
                self.rows[split] = self._generate(split)

    def _loader(self, split: str, shuffle: bool) -> StatefulDataLoader:
        return resumable_loader(
            self.rows[split],  # type: ignore[arg-type]
            batch_size=self.batch_size,
            shuffle=shuffle,
            seed=self.seed,
            num_workers=self.num_workers,
            collate_fn=functools.partial(collate_rows, specs=self.modality_specs),
            pairs=False,
            epoch=self.starting_epoch(),
        )

    def train_dataloader(self) -> StatefulDataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> StatefulDataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> StatefulDataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> StatefulDataLoader:
        return self._loader("test", shuffle=False)
