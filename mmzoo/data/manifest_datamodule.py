"""The ``manifest`` datamodule: the user's own audio, image and text files, listed in manifests."""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from torchdata.stateful_dataloader import StatefulDataLoader

from mmzoo.constraints import NonNegativeInt, PositiveInt, Range
from mmzoo.contracts import ModalitySpec
from mmzoo.contracts.datamodule import MultimodalDataModule
from mmzoo.data.bad_rows import BadRow
from mmzoo.data.cache import FeatureCache
from mmzoo.data.collate import collate_rows
from mmzoo.data.dataset import ManifestDataset, field_name, raw_value
from mmzoo.data.decoders import DecodeError, probe_audio, probe_image, read_text_file
from mmzoo.data.fields import ModalityField, TargetField, encode_target
from mmzoo.data.loader import resumable_loader
from mmzoo.data.manifest import Manifest, ManifestRow, read_manifest
from mmzoo.data.transforms.chain import TransformChain
from mmzoo.errors import DataError

__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "ManifestDataModule", "SKIPPED_FILE"]

#: Written into the run directory when ``on_bad_sample: skip`` dropped rows.
SKIPPED_FILE = "skipped_rows.jsonl"

#: The default ``max_image_pixels``: 40 million pixels (about 480 MB as float RGB).
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000

_SPLITS = ("train", "val", "test", "predict")
_STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("predict",)}
_SHOWN_PROBLEMS = 10


class ManifestDataModule(MultimodalDataModule):
    """Audio, image and text files listed in JSONL or CSV manifests, one row per example.

    Media paths in a manifest are relative to the manifest's folder; manifest paths in the recipe
    are relative to the working directory. Rows are checked before training starts (lines that
    are UTF-8 and a JSON object or a CSV row that fits the header, ids unique in the manifest,
    fields present, files exist and can be opened, WAV files not cut short, images not larger
    than ``max_image_pixels``, texts not empty, labels among the declared classes); with
    ``on_bad_sample: error`` every bad row is reported (the first few listed) and nothing runs,
    with ``skip`` they are dropped, counted, and listed in ``skipped_rows.jsonl`` in the run
    directory (``skip`` decodes every row once up front to find them).

    Subclasses (the ``speech_qc`` datamodule) extend it through these methods, each called for one
    split: :meth:`row_problems` (what is wrong with a row), :meth:`load_split` (read, check and
    keep the usable rows; built from :meth:`read_split`, :meth:`partition_rows` and
    :meth:`handle_bad_rows`) and :meth:`make_dataset` (the dataset of the kept rows).

    Args:
        modalities: modality name -> how to read it (``type``, ``field``, ``sample_rate``,
            ``channels``, ``text_from_file``, ``optional``).
        targets: target name -> how to read it (``type``, ``field``, ``classes`` or ``num_classes``).
        train: training manifest.
        val: validation manifest.
        test: test manifest.
        predict: manifest for ``mmzoo predict`` (default: the test manifest); labels may be absent.
        batch_size: rows per batch.
        num_workers: DataLoader worker processes.
        pin_memory: pin batches in page-locked memory; ``null`` means: when CUDA is available.
        on_bad_sample: ``error`` (stop and list the bad rows) or ``skip`` (drop and list them).
        cache_dir: keep decoded, deterministically transformed examples here (reused across runs).
        max_image_pixels: an image with more pixels (width times height, read from its header
            before decoding) is a bad row; ``null`` turns this limit off.
    """

    def __init__(
        self,
        modalities: dict[str, ModalityField],
        targets: dict[str, TargetField] | None = None,
        train: str | None = None,
        val: str | None = None,
        test: str | None = None,
        predict: str | None = None,
        batch_size: PositiveInt = 16,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool | None = None,
        on_bad_sample: Literal["error", "skip"] = "error",
        cache_dir: str | None = None,
        max_image_pixels: PositiveInt | None = DEFAULT_MAX_IMAGE_PIXELS,
        seed: Annotated[int, Range(ge=0)] | None = None,
        transforms: Mapping[str, list[Any]] | None = None,
    ) -> None:
        super().__init__()
        if not modalities:
            raise ValueError("modalities: name at least one modality")
        self.fields = {n: m if isinstance(m, ModalityField) else ModalityField(**m) for n, m in modalities.items()}
        self.targets = {n: t if isinstance(t, TargetField) else TargetField(**t) for n, t in (targets or {}).items()}
        for name, target in self.targets.items():
            target.validate(name)
        self.paths = {"train": train, "val": val, "test": test, "predict": predict or test}
        if not any(self.paths.values()):
            raise ValueError("give at least one manifest: train, val, test or predict")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.on_bad_sample = on_bad_sample
        self.cache = FeatureCache(cache_dir) if cache_dir else None
        self.max_image_pixels = max_image_pixels
        self.seed = 0 if seed is None else seed
        self.chains = {name: TransformChain((transforms or {}).get(name, [])) for name in self.fields}
        self.target_names = tuple(self.targets)
        self.rows: dict[str, list[ManifestRow]] = {}
        self.skipped: dict[str, list[BadRow]] = {}
        self.run_dir: Path | None = None
        self.datasets: dict[str, ManifestDataset] = {}
        self.modality_specs = self._describe()

    # -- modalities --------------------------------------------------------------------------

    def _describe(self) -> dict[str, ModalitySpec]:
        """Set each modality's transforms up (fitting tokenizers on the training texts)."""
        specs = {}
        for name, config in self.fields.items():
            if config.type == "audio":
                raw = ModalitySpec(kind="waveform", sample_rate=float(config.sample_rate))
            elif config.type == "image":
                raw = ModalitySpec(kind="image", channels=config.channels)
            else:
                raw = ModalitySpec(kind="text")
            chain = self.chains[name]
            try:
                spec = chain.setup(raw)
                if any(t.needs_fit for t in chain.transforms):
                    chain.fit(self._training_values(name))
                    spec = chain.setup(raw)  # what a fitted transform produces may have changed
            except ValueError as exc:
                raise ValueError(f"transforms.{name}: {exc}") from exc
            if spec.kind == "text":
                raise ValueError(
                    f"modality '{name}' is still raw text after its transforms; add one, e.g."
                    f" `transforms: {{{name}: [{{name: tokenize}}]}}`"
                )
            specs[name] = spec
        return specs

    def _training_values(self, name: str) -> list[Any]:
        """The decoded training values of one modality, for transforms that learn from data."""
        source = self.paths["train"] or next(p for p in self.paths.values() if p)
        config = self.fields[name]
        values = []
        for row in read_manifest(source).rows:  # its bad lines are reported when the split is loaded
            value = raw_value(row, name, config)
            if value is None:
                continue
            if config.type != "text":
                raise ValueError(f"modality '{name}': only text transforms can be fitted on the data")
            text = read_text_file(row.resolve(value)) if config.text_from_file else str(value).strip()
            if text:
                values.append(text)
        if not values:
            raise DataError(f"no usable '{name}' values in {source} to fit its transforms on")
        return values

    # -- checking rows -----------------------------------------------------------------------

    def row_problems(self, row: ManifestRow, labelled: bool) -> list[tuple[str, str]]:
        """``(field, reason)`` for everything wrong with a row, from cheap checks (no decoding).

        Args:
            labelled: the row's split needs its labels (every split but predict).
        """
        problems = []
        for name, config in self.fields.items():
            field = field_name(name, config)
            value = raw_value(row, name, config)
            if value is None:
                if not config.optional:
                    problems.append((field, "missing or empty (mark the modality `optional: true` to allow it)"))
                continue
            if config.type == "text" and not config.text_from_file:
                continue
            path = row.resolve(str(value))
            if not path.is_file():
                problems.append((field, f"file not found: {path}"))
                continue
            try:
                if config.type == "audio":
                    probe_audio(path)
                elif config.type == "image":
                    probe_image(path, self.max_image_pixels)
                elif not read_text_file(path):
                    problems.append((field, f"empty text file: {path}"))
            except DecodeError as exc:
                problems.append((field, f"{path}: {exc}"))
        for name, target in self.targets.items():
            field = field_name(name, target)
            raw = row.fields.get(field)
            if raw is None:
                if labelled:
                    problems.append((field, "missing label"))
                continue
            try:
                encode_target(target, raw)
            except ValueError as exc:
                problems.append((field, str(exc)))
        return problems

    def read_split(self, split: str) -> Manifest:
        """A split's manifest."""
        path = self.paths[split]
        if path is None:
            raise DataError(
                f"no {split} manifest: set data.{split} in the recipe",
                hint=f"the {split} split is needed by this command",
            )
        return read_manifest(path)

    def partition_rows(
        self, split: str, rows: list[ManifestRow], *, decode: bool
    ) -> tuple[list[ManifestRow], list[BadRow]]:
        """Split rows into usable ones and the problems of the others.

        Args:
            decode: also decode every row once (the only way to catch a file broken inside).
        """
        labelled = split != "predict"
        bad: list[BadRow] = []
        good: list[ManifestRow] = []
        probe = self.make_dataset(split, rows, training=False) if decode else None
        for index, row in enumerate(rows):
            problems = self.row_problems(row, labelled)
            if not problems and probe is not None:
                try:
                    probe[index]
                except DataError as exc:
                    problems = [("", exc.message.split(": ", 1)[-1])]
            if problems:
                bad.extend(BadRow(row.manifest, row.line, row.id, field, why) for field, why in problems)
            else:
                good.append(row)
        return good, bad

    def handle_bad_rows(self, split: str, manifest: Manifest, bad: list[BadRow]) -> None:
        """Apply ``on_bad_sample`` to a split's bad rows: raise, or keep, announce and list them."""
        if not bad:
            return
        path = manifest.path
        if self.on_bad_sample == "error":
            shown = "\n".join(f"  - {problem.render()}" for problem in bad[:_SHOWN_PROBLEMS])
            more = f"\n  ... and {len(bad) - _SHOWN_PROBLEMS} more" if len(bad) > _SHOWN_PROBLEMS else ""
            count = len({problem.line for problem in bad})
            raise DataError(
                f"{count} bad row{'s' if count != 1 else ''} in {path}:\n{shown}{more}",
                hint="fix or remove those rows, or set data.on_bad_sample=skip to skip and list them",
            )
        self.skipped[split] = bad
        count = len({problem.line for problem in bad})
        listed = self.run_dir / SKIPPED_FILE if self.run_dir is not None else f"{SKIPPED_FILE} in the run directory"
        print(
            f"mmzoo: skipped {count} bad row{'s' if count != 1 else ''} of {path}"
            f" ({len(bad)} problem{'s' if len(bad) != 1 else ''}), listed in {listed}",
            file=sys.stderr,
        )
        self._write_skipped()

    def load_split(self, split: str) -> list[ManifestRow]:
        """The usable rows of a split, after ``on_bad_sample`` dealt with the others."""
        manifest = self.read_split(split)
        good, bad = self.partition_rows(split, manifest.rows, decode=self.on_bad_sample == "skip")
        self.handle_bad_rows(split, manifest, sorted([*manifest.bad, *bad], key=lambda problem: problem.line))
        if not good:
            raise DataError(f"manifest {manifest.path} has no usable rows ({manifest.size} rows, all bad)")
        return good

    def exclude_predict_ids(self, ids: set[str]) -> bool:
        """Leave these row ids out of the (set up) predict split: a resumed ``mmzoo predict``."""
        rows = [row for row in self.rows["predict"] if row.id not in ids]
        self.rows["predict"] = rows
        self.datasets["predict"] = self.make_dataset("predict", rows, training=False)
        return True

    def _write_skipped(self) -> None:
        """Write ``skipped_rows.jsonl`` into the run directory (once known), keeping what it held before."""
        if self.run_dir is None or not self.skipped:
            return
        path = self.run_dir / SKIPPED_FILE
        lines = [json.dumps(problem.record(split)) for split, found in self.skipped.items() for problem in found]
        # A resumed run writes into the directory of the first attempt: its lines stay.
        earlier = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []
        fresh = set(lines)
        text = "".join(f"{line}\n" for line in [*(line for line in earlier if line and line not in fresh), *lines])
        handle, temporary = tempfile.mkstemp(dir=self.run_dir, prefix=f".{SKIPPED_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def attach_run_dir(self, run_dir: Path) -> None:
        """Called by mmzoo with the run directory: learned transforms and skipped rows go there."""
        self.run_dir = Path(run_dir)
        for chain in self.chains.values():
            for transform in chain.transforms:
                transform.save(self.run_dir)
        if self.skipped:
            self._write_skipped()
            count = sum(len({problem.line for problem in found}) for found in self.skipped.values())
            print(
                f"mmzoo: {count} skipped row{'s' if count != 1 else ''} listed in {self.run_dir / SKIPPED_FILE}",
                file=sys.stderr,
            )

    # -- LightningDataModule -----------------------------------------------------------------

    def make_dataset(self, split: str, rows: list[ManifestRow], *, training: bool) -> ManifestDataset:
        """The dataset of a split's rows (``training``: draw augmentations, for the train split)."""
        return ManifestDataset(
            rows,
            self.fields,
            self.targets,
            self.chains,
            training=training,
            seed=self.seed,
            labelled=split != "predict",
            cache=self.cache,
            max_image_pixels=self.max_image_pixels,
        )

    def setup(self, stage: str | None = None) -> None:
        for split in _STAGE_SPLITS.get(stage or "", tuple(s for s in _SPLITS if self.paths[s])):
            if split not in self.datasets:
                self.rows[split] = self.load_split(split)
                self.datasets[split] = self.make_dataset(split, self.rows[split], training=split == "train")

    def _loader(self, split: str) -> StatefulDataLoader:
        dataset = self.datasets[split]
        return resumable_loader(
            dataset,
            batch_size=self.batch_size,
            shuffle=split == "train",
            seed=self.seed,
            num_workers=self.num_workers,
            collate_fn=functools.partial(collate_rows, specs=self.modality_specs),
            pin_memory=self.pin_memory,
            epoch=self.starting_epoch(),
        )

    def train_dataloader(self) -> StatefulDataLoader:
        return self._loader("train")

    def val_dataloader(self) -> StatefulDataLoader:
        return self._loader("val")

    def test_dataloader(self) -> StatefulDataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> StatefulDataLoader:
        return self._loader("predict")
