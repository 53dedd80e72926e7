"""The sections of a recipe and the validated :class:`Recipe` that ``build`` consumes.

A recipe is YAML with these top-level sections (see ``docs/recipes.md``)::

    seed: 0                       # int or null
    run: {root: runs, name: ...}  # RunConfig
    data: {name: ..., ...}        # a datamodule and its options
    model:
      encoders: {MODALITY: {name: ..., ...}, ...}
      fusion: {name: ..., ...}
      heads: {HEAD: {name: ..., ...}, ...}
      decoders: {DECODER: {name: ..., memory: fusion, target: ..., search: {...}, ...}, ...}  # optional
      attention: auto             # ModelSettings: auto | sdpa | fused
      activation_checkpointing: false
      compile: false              # or torch.compile options {mode: ..., fullgraph: ...}
    objectives: {OBJECTIVE: {name: ..., weight: 1.0, ...}, ...}
    weighting: {name: fixed}      # how the objectives' losses combine (fixed, uncertainty...)
    optimizer: {name: adamw, lr: 1e-3, ...}
    scheduler: {name: warmup_cosine, ...}   # or null
    trainer: {...}                # options of lightning.Trainer
    logger: {csv: true, wandb: {...}}       # LoggerConfig
    checkpoint: {...}             # CheckpointConfig
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from mmzoo.constraints import PositiveFloat, PositiveInt, Range
from mmzoo.generation_settings import DecoderSettings, SearchSettings

__all__ = [
    "SECTIONS",
    "RunConfig",
    "WandbConfig",
    "LoggerConfig",
    "CheckpointConfig",
    "ComponentSpec",
    "DecoderSettings",
    "SearchSettings",
    "ModelSettings",
    "Recipe",
    "DEFAULTED_SECTIONS",
    "SCHEDULER_RESERVED",
    "with_defaults",
]

#: Scheduler options that configure Lightning's stepping rather than the scheduler itself.
SCHEDULER_RESERVED: tuple[str, ...] = ("interval", "monitor")

#: Top-level sections, in the order ``recipe show`` prints them.
SECTIONS: tuple[str, ...] = (
    "seed",
    "run",
    "data",
    "transforms",
    "model",
    "objectives",
    "weighting",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "checkpoint",
)


@dataclass
class RunConfig:
    """Where runs are written.

    Args:
        root: folder holding all runs, relative to the working directory.
        name: name of this recipe's run group (``ROOT/NAME/<time>-<command>``); defaults to the
            recipe file's name without extension. One folder name: no ``/``, ``\\``, ``.`` or ``..``,
            so a run can never land outside ``root``.
    """

    root: str = "runs"
    name: str | None = None


@dataclass
class WandbConfig:
    """Weights & Biases logging through Lightning's ``WandbLogger`` (see docs/wandb.md).

    ``null`` values take the standard ``WANDB_*`` environment variable when it is set, else the
    default named below; ``WANDB_MODE`` and ``WANDB_TAGS`` combine with ``mode`` and ``tags`` as
    docs/wandb.md describes.

    Args:
        mode: ``offline`` writes the run into the run directory (upload later with ``wandb sync``),
            ``online`` streams it, ``disabled`` turns W&B off.
        project: W&B project (``WANDB_PROJECT``, else ``mmzoo``).
        entity: W&B team or user (``WANDB_ENTITY``, else your default).
        name: the run's display name (``WANDB_NAME``, else the run directory's name).
        group: the run's group (``WANDB_RUN_GROUP``, else ``run.name``), so that the fit, test and
            predict runs of one recipe sit together.
        job_type: the run's job type (``WANDB_JOB_TYPE``, else the command: ``fit``,
            ``validate``, ``test`` or ``predict``).
        notes: a longer description of the run (``WANDB_NOTES``).
        tags: tags attached to the run, besides one per component the recipe uses
            (``audio:conv1d``, ``fusion:concat``...) and those in ``WANDB_TAGS``.
        log_model: upload checkpoints as W&B artifacts, as Lightning's ``WandbLogger`` does:
            ``false`` never, ``true`` the best and last checkpoints when training ends,
            ``all`` each one as it is saved.
    """

    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str | None = None
    entity: str | None = None
    name: str | None = None
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    tags: list[str] = field(default_factory=list)
    log_model: bool | Literal["all"] = False


@dataclass
class LoggerConfig:
    """Metric loggers.

    Args:
        csv: write ``metrics.csv`` into the run directory.
        wandb: Weights & Biases settings.
    """

    csv: bool = True
    wandb: WandbConfig = field(default_factory=WandbConfig)


@dataclass
class CheckpointConfig:
    """Checkpointing (see docs/cli.md, "Runs, checkpoints and preemption").

    Args:
        monitor: logged value that decides the best checkpoint, e.g. ``val/loss``.
        mode: ``min`` or ``max`` of ``monitor`` is best.
        save_top_k: how many best checkpoints to keep (``-1`` all of them, ``0`` none).
        save_last: keep ``last.ckpt``, the newest state (needed for ``--resume last``). It is
            written at every epoch end and every mid-epoch save, whatever ``monitor`` does.
        every_n_epochs: check for a new best checkpoint every N epochs.
        every_n_steps: also save ``last.ckpt`` every N optimizer steps inside an epoch, so that a
            killed run loses at most N steps; ``null`` saves at epoch ends only.
        every_n_minutes: also save ``last.ckpt`` when this many minutes have passed since the last
            save (checked after every optimizer step); ``null`` turns it off.
        trust: load checkpoints with Python's full unpickler, which can run code stored in the file.
            Leave it ``false`` for checkpoints from anyone else; ``--trust-checkpoint`` sets it for
            one command.
    """

    monitor: str = "val/loss"
    mode: Literal["min", "max"] = "min"
    save_top_k: Annotated[int, Range(ge=-1)] = 1
    save_last: bool = True
    every_n_epochs: PositiveInt = 1
    every_n_steps: PositiveInt | None = None
    every_n_minutes: PositiveFloat | None = None
    trust: bool = False


@dataclass
class ModelSettings:
    """Model-wide settings, in the ``model:`` section next to ``encoders``, ``fusion`` and ``heads``.

    Args:
        attention: backend of every attention call: ``auto`` (mmzoo's fused Triton kernel on CUDA
            when it supports the shapes and dtypes, SDPA otherwise), ``sdpa`` or ``fused``.
        activation_checkpointing: recompute each block of the encoders and the fusion in the
            backward pass instead of keeping its activations.
        compile: ``torch.compile`` each block of the encoders and the fusion: ``true``, or the
            options ``{mode, fullgraph, dynamic, backend}`` of ``torch.compile``.
    """

    attention: Literal["auto", "sdpa", "fused"] = "auto"
    activation_checkpointing: bool = False
    compile: bool | dict[str, Any] = False

    @property
    def compile_options(self) -> dict[str, Any] | None:
        """``torch.compile`` options, or ``None`` when not compiling."""
        if isinstance(self.compile, dict):
            return dict(self.compile)
        return {} if self.compile else None


@dataclass
class LoraSettings:
    """LoRA adapters (through ``peft``) on an encoder's linear layers; the base weights freeze.

    Args:
        r: rank of the adapters.
        alpha: scaling numerator (the update is scaled by ``alpha / r``).
        dropout: dropout on the adapter input.
        target_modules: names (or name suffixes) of the ``nn.Linear`` modules to adapt; ``null``
            adapts every linear layer of the encoder.
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] | None = None


@dataclass
class EncoderSettings:
    """Options every encoder accepts, next to its own (see docs/encoders.md).

    Args:
        freeze: freeze every weight of the encoder.
        train_last: train only the last N blocks (``Encoder.blocks()``) and freeze the rest.
        project_dim: add a linear projection of ``seq`` and ``pooled`` to this width.
        lora: add LoRA adapters and train only them (and the projection, if any).
        gradient_checkpointing: recompute each block's activations in the backward pass.
    """

    freeze: bool = False
    train_last: int | None = None
    project_dim: int | None = None
    lora: LoraSettings | None = None
    gradient_checkpointing: bool = False


@dataclass(frozen=True)
class ComponentSpec:
    """A component named in the recipe.

    Attributes:
        key: dotted recipe key, e.g. ``model.encoders.audio``.
        kind: registry kind (``encoder``, ``fusion``...), or ``optimizer``/``scheduler``.
        name: registry name or, for optimizers and schedulers, a short name or dotted path.
        options: options for the factory (without ``name`` and ``weight``).
        weight: loss weight, for objectives.
        extras: the other recipe-level keys of the spec: ``train_only`` for transforms, the
            :class:`EncoderSettings` keys for encoders.
    """

    key: str
    kind: str
    name: str
    options: dict[str, Any]
    weight: float = 1.0
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    """A fully resolved and validated recipe.

    Attributes:
        source: the recipe file.
        data: the resolved recipe as plain YAML data (what components are built from).
        locations: dotted key -> ``file:line``.
        env_references: dotted key -> the ``${env:...}`` text written there (see :meth:`to_save`).
    """

    source: Path
    data: dict[str, Any]
    locations: dict[str, str]
    seed: int | None
    run: RunConfig
    datamodule: ComponentSpec
    transforms: dict[str, list[ComponentSpec]]
    encoders: dict[str, ComponentSpec]
    fusion: ComponentSpec
    heads: dict[str, ComponentSpec]
    model_settings: ModelSettings
    objectives: dict[str, ComponentSpec]
    weighting: ComponentSpec
    optimizer: ComponentSpec
    scheduler: ComponentSpec | None
    trainer: dict[str, Any]
    logger: LoggerConfig
    checkpoint: CheckpointConfig
    env_references: dict[str, str] = field(default_factory=dict)
    decoders: dict[str, ComponentSpec] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return self.run.name or self.source.stem

    def to_save(self) -> dict[str, Any]:
        """The recipe to write anywhere (``recipe.yaml``, hyperparameters, checkpoints, loggers, the
        screen): :attr:`data` with every value filled from the environment put back as the
        ``${env:...}`` reference it was written as."""
        saved = copy.deepcopy(self.data)
        for key, text in self.env_references.items():
            node: Any = saved
            *parents, last = key.split(".")
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            node[int(last) if isinstance(node, list) else last] = text
        return saved


#: Sections whose every key has a default; they are filled in before overrides apply, so that
#: ``checkpoint.mode=max`` works even when the recipe does not write a ``checkpoint:`` section, and
#: so that ``recipe show`` and saved runs spell every setting out.
DEFAULTED_SECTIONS: dict[str, type] = {"run": RunConfig, "logger": LoggerConfig, "checkpoint": CheckpointConfig}


def with_defaults(data: dict[str, Any]) -> None:
    """Fill in the defaulted sections of a loaded recipe, in place (values the recipe sets win)."""
    from mmzoo.recipe.loader import deep_merge

    for section, cls in DEFAULTED_SECTIONS.items():
        value = data.get(section)
        if value is None or isinstance(value, dict):
            data[section] = deep_merge(asdict(cls()), value or {})
    if data.get("trainer") is None:
        data["trainer"] = {}
