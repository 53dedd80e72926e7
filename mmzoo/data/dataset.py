"""A map-style dataset over checked manifest rows (its sampler: :mod:`mmzoo.data.loader`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import Dataset

from mmzoo.data.cache import FeatureCache
from mmzoo.data.decoders import DecodeError, decode_audio, decode_image, read_text_file
from mmzoo.data.fields import ModalityField, TargetField, encode_target, missing_target
from mmzoo.data.manifest import ManifestRow
from mmzoo.data.transforms.chain import TransformChain
from mmzoo.errors import DataError

__all__ = ["ManifestDataset", "example_generator", "field_name"]

_MIX = 1_000_003


def example_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The random generator of one example in one epoch: independent of worker count and order."""
    return torch.Generator().manual_seed(((seed * _MIX + epoch) * _MIX + index) % (2**63))


def field_name(name: str, config: ModalityField | TargetField) -> str:
    return config.field or name


def raw_value(row: ManifestRow, name: str, config: ModalityField) -> Any | None:
    """The manifest value of a modality, or ``None`` when the row lacks it."""
    value = row.fields.get(field_name(name, config))
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


class ManifestDataset(Dataset[dict[str, Any]]):
    """Decodes, transforms and labels manifest rows on demand.

    Items are indexed by ``(index, epoch)`` pairs (see :class:`mmzoo.data.loader.EpochSampler`), so that random
    transforms draw from a generator seeded by ``(seed, epoch, index)``.

    Returns per item: ``{"id", "inputs": {modality: value or None}, "targets": {name: value}}``;
    ``None`` marks a modality the row lacks (an optional modality).

    Args:
        max_image_pixels: an image with more pixels is refused before decoding (``None``: no limit).
    """

    def __init__(
        self,
        rows: list[ManifestRow],
        modalities: Mapping[str, ModalityField],
        targets: Mapping[str, TargetField],
        chains: Mapping[str, TransformChain],
        *,
        training: bool,
        seed: int,
        labelled: bool = True,
        cache: FeatureCache | None = None,
        max_image_pixels: int | None = None,
    ) -> None:
        self.rows = rows
        self.modalities = dict(modalities)
        self.targets = dict(targets)
        self.chains = dict(chains)
        self.training = training
        self.seed = seed
        self.labelled = labelled
        self.cache = cache
        self.max_image_pixels = max_image_pixels

    def __len__(self) -> int:
        return len(self.rows)

    def decode(self, row: ManifestRow, name: str, generator: torch.Generator) -> Any | None:
        """Decode one modality of a row and apply the cacheable prefix of its transforms.

        Raises:
            DecodeError: the file cannot be decoded.
        """
        config = self.modalities[name]
        value = raw_value(row, name, config)
        if value is None:
            return None
        chain = self.chains[name]
        is_file = config.type != "text" or config.text_from_file
        path = row.resolve(str(value)) if is_file else None
        key = None
        if self.cache is not None and path is not None:
            key = FeatureCache.key(path, name, repr(config), chain.cache_key())
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        if config.type == "audio":
            decoded: Any = decode_audio(path, config.sample_rate)  # type: ignore[arg-type]
        elif config.type == "image":
            decoded = decode_image(path, config.channels, self.max_image_pixels)  # type: ignore[arg-type]
        else:
            decoded = read_text_file(path) if path is not None else str(value).strip()
            if not decoded:
                raise DecodeError("the text is empty")
        decoded = chain.apply_prefix(decoded, generator)
        if key is not None:
            self.cache.put(key, decoded)  # type: ignore[union-attr]
        return decoded

    def labels(self, row: ManifestRow) -> dict[str, Any]:
        labels = {}
        for name, target in self.targets.items():
            raw = row.fields.get(field_name(name, target))
            labels[name] = missing_target(target) if raw is None and not self.labelled else encode_target(target, raw)
        return labels

    def __getitem__(self, item: tuple[int, int] | int) -> dict[str, Any]:
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        row = self.rows[index]
        generator = example_generator(self.seed, epoch, index)
        inputs: dict[str, Any] = {}
        for name in self.modalities:
            try:
                value = self.decode(row, name, generator)
            except DecodeError as exc:
                field = field_name(name, self.modalities[name])
                raise DataError(f"{row.where}: field '{field}' ({name}): {exc}") from None
            inputs[name] = None if value is None else self.chains[name].apply_rest(value, generator, self.training)
        try:
            targets = self.labels(row)
        except ValueError as exc:
            raise DataError(f"{row.where}: {exc}") from None
        return {
            "id": row.id,
            "inputs": inputs,
            "targets": targets,
        }
