"""Turn a validated :class:`~mmzoo.recipe.Recipe` into objects: datamodule, module, trainer.

This is the only place that reads recipes. Each factory call is wrapped so that a component that
fails while being constructed is reported with its recipe key and name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mmzoo.contracts import Decoder, DecoderSettings, Encoder, Fusion, SearchSettings
from mmzoo.contracts.datamodule import MultimodalDataModule
from mmzoo.encoder_settings import apply_encoder_settings
from mmzoo.errors import BuildError
from mmzoo.generation import ctc_markup
from mmzoo.lifecycle.best_checkpoints import BestCheckpoints
from mmzoo.lifecycle.checkpoint_io import AtomicCheckpointIO
from mmzoo.lifecycle.last_checkpoint import LastCheckpoint
from mmzoo.lifecycle.names import CHECKPOINT_DIR
from mmzoo.lifecycle.preemption import Preemption
from mmzoo.lifecycle.random_state import RandomState
from mmzoo.module import MultimodalModule
from mmzoo.optim import TotalSteps, resolve_optimizer, resolve_scheduler
from mmzoo.recipe.schema import (
    SCHEDULER_RESERVED,
    CheckpointConfig,
    ComponentSpec,
    EncoderSettings,
    LoraSettings,
    Recipe,
)
from mmzoo.registry import Registry

__all__ = ["build_component", "build_datamodule", "build_module", "build_trainer", "TRAINER_DEFAULTS"]

#: Trainer settings mmzoo uses unless the recipe's ``trainer:`` section says otherwise.
TRAINER_DEFAULTS: dict[str, Any] = {"log_every_n_steps": 10}


def build_component(registry: Registry, spec: ComponentSpec, context: Mapping[str, Any] | None = None) -> Any:
    """Build one registered component, naming its recipe key if the factory fails.

    Raises:
        BuildError: the factory raised.
    """
    entry = registry.get(spec.kind, spec.name)
    try:
        return entry.build(spec.options, context or {})
    except Exception as exc:
        raise BuildError(
            f"{spec.key}: building {spec.kind} '{spec.name}' (plugin '{entry.plugin}') failed:"
            f" {type(exc).__name__}: {exc}",
            hint=f"check its options (`mmzoo plugins show {spec.name}`); rerun with --debug for the traceback",
        ) from exc


def build_transforms(recipe: Recipe, registry: Registry) -> dict[str, list[Any]]:
    """The ``transforms:`` section: modality -> built transforms, in recipe order."""
    chains: dict[str, list[Any]] = {}
    for modality, specs in recipe.transforms.items():
        chain = []
        for spec in specs:
            transform = build_component(registry, spec)
            transform.train_only = bool(spec.extras.get("train_only", False))
            transform.modality = modality
            chain.append(transform)
        chains[modality] = chain
    return chains


def build_datamodule(recipe: Recipe, registry: Registry) -> MultimodalDataModule:
    """The recipe's datamodule, with its transforms. Datamodules may read their manifests here (to
    describe their modalities); decoding and batching wait until the Trainer asks."""
    context = {"seed": recipe.seed, "transforms": build_transforms(recipe, registry)}
    datamodule = build_component(registry, recipe.datamodule, context)
    if not isinstance(datamodule, MultimodalDataModule):
        raise BuildError(
            f"data: datamodule '{recipe.datamodule.name}' built a {type(datamodule).__name__}, not a MultimodalDataModule",
            hint="datamodules subclass mmzoo.contracts.datamodule.MultimodalDataModule (docs/plugins.md)",
        )
    for attribute in ("modality_specs", "target_names"):
        if not hasattr(datamodule, attribute):
            raise BuildError(
                f"data: datamodule '{recipe.datamodule.name}' does not describe its {attribute}",
                hint="set it in __init__, before setup (mmzoo.contracts.datamodule.MultimodalDataModule)",
            )
    unused = sorted(set(recipe.transforms) - set(datamodule.modality_specs))
    if unused:
        raise BuildError(
            f"transforms: no modality {unused} in datamodule '{recipe.datamodule.name}'",
            hint=f"its modalities: {', '.join(sorted(datamodule.modality_specs))}",
        )
    return datamodule


def _optimizer_factory(spec: ComponentSpec) -> Any:
    return functools.partial(resolve_optimizer(spec.name), **spec.options)


def _make_scheduler(spec: ComponentSpec, optimizer: torch.optim.Optimizer, total_steps: TotalSteps) -> dict[str, Any]:
    factory, default_interval = resolve_scheduler(spec.name)
    options = {k: v for k, v in spec.options.items() if k not in SCHEDULER_RESERVED}
    if default_interval == "step":  # mmzoo's own schedulers know the run length
        scheduler = factory(optimizer, total_steps, **options)
    else:
        scheduler = factory(optimizer, **options)
    config: dict[str, Any] = {"scheduler": scheduler, "interval": spec.options.get("interval", default_interval)}
    if "monitor" in spec.options:
        config["monitor"] = spec.options["monitor"]
    return config


def _build_encoder(registry: Registry, spec: ComponentSpec, input_spec: Any) -> Any:
    """One encoder with the common options of its recipe entry applied (freeze, LoRA...)."""
    encoder = build_component(registry, spec, {"input_spec": input_spec})
    settings = dict(spec.extras)
    if isinstance(settings.get("lora"), dict):
        settings["lora"] = LoraSettings(**settings["lora"])
    try:
        encoder = apply_encoder_settings(encoder, EncoderSettings(**settings))
    except (ValueError, TypeError) as exc:
        raise BuildError(f"{spec.key}: {exc}", hint="see docs/encoders.md for the common encoder options") from exc
    if not isinstance(getattr(encoder, "dim", None), int):
        raise BuildError(
            f"{spec.key}: encoder '{spec.name}' has no integer `dim`",
            hint=f"encoders must follow {Encoder.__module__}.Encoder",
        )
    return encoder


def build_module(recipe: Recipe, registry: Registry, datamodule: MultimodalDataModule) -> MultimodalModule:
    """Encoders per modality, fusion, heads and objectives, assembled into a LightningModule.

    Raises:
        BuildError: a component failed to build, or the recipe's modalities do not match the data.
    """
    specs = datamodule.modality_specs
    unknown = sorted(set(recipe.encoders) - set(specs))
    if unknown:
        raise BuildError(
            f"model.encoders: no data for modalities {unknown}; datamodule '{recipe.datamodule.name}'"
            f" provides {sorted(specs)}",
            hint="name each encoder after a modality the datamodule provides",
        )
    encoders = {modality: _build_encoder(registry, spec, specs[modality]) for modality, spec in recipe.encoders.items()}
    input_dims = {modality: encoder.dim for modality, encoder in encoders.items()}
    fusion = build_component(registry, recipe.fusion, {"input_dims": input_dims})
    if not isinstance(getattr(fusion, "dim", None), int):
        raise BuildError(
            f"model.fusion: fusion '{recipe.fusion.name}' has no integer `dim`",
            hint=f"fusions must follow {Fusion.__module__}.Fusion",
        )
    heads = {
        name: build_component(registry, spec, {"in_dim": fusion.dim, "encoder_dims": input_dims, "input_specs": specs})
        for name, spec in recipe.heads.items()
    }
    decoders, decoder_settings = _build_decoders(recipe, registry, datamodule, fusion.dim, input_dims, heads)
    objectives = {
        name: build_component(registry, spec, {"heads": {**heads, **decoders}, "input_specs": specs})
        for name, spec in recipe.objectives.items()
    }
    for name, spec in recipe.objectives.items():
        target = spec.options.get("target")
        if isinstance(target, str) and target not in datamodule.target_names:
            raise BuildError(
                f"objectives.{name}.target: datamodule '{recipe.datamodule.name}' has no target '{target}';"
                f" its targets: {', '.join(datamodule.target_names) or 'none'}",
            )
    weighting = build_component(registry, recipe.weighting, {"objectives": tuple(recipe.objectives)})
    scheduler = functools.partial(_make_scheduler, recipe.scheduler) if recipe.scheduler else None
    return MultimodalModule(
        encoders=encoders,
        fusion=fusion,
        heads=heads,
        objectives=objectives,
        weights={name: spec.weight for name, spec in recipe.objectives.items()},
        weighting=weighting,
        optimizer=_optimizer_factory(recipe.optimizer),
        scheduler=scheduler,
        recipe=recipe.to_save(),
        attention=recipe.model_settings.attention,
        activation_checkpointing=recipe.model_settings.activation_checkpointing,
        compile=recipe.model_settings.compile_options,
        decoders=decoders,
        decoder_settings=decoder_settings,
    )


def _build_decoders(
    recipe: Recipe,
    registry: Registry,
    datamodule: MultimodalDataModule,
    fusion_dim: int,
    encoder_dims: Mapping[str, int],
    heads: Mapping[str, Any],
) -> tuple[dict[str, Decoder], dict[str, DecoderSettings]]:
    """``model.decoders``: each decoder, given the width of the memory it attends to, and its settings.

    Raises:
        BuildError: a target the data lacks, or a search ``ctc_head`` over other tokens.
    """
    decoders: dict[str, Decoder] = {}
    settings: dict[str, DecoderSettings] = {}
    for name, spec in recipe.decoders.items():
        extras = dict(spec.extras)
        if isinstance(extras.get("search"), dict):
            extras["search"] = SearchSettings(**extras["search"])
        chosen = DecoderSettings(**extras)
        if chosen.target not in datamodule.target_names:
            raise BuildError(
                f"{spec.key}.target: datamodule '{recipe.datamodule.name}' has no target '{chosen.target}';"
                f" its targets: {', '.join(datamodule.target_names) or 'none'}",
            )
        memory_dim = fusion_dim if chosen.memory == "fusion" else encoder_dims[chosen.memory]
        decoder = build_component(registry, spec, {"memory_dim": memory_dim})
        if not isinstance(decoder, Decoder):
            raise BuildError(
                f"{spec.key}: decoder '{spec.name}' built a {type(decoder).__name__}, not a Decoder",
                hint=f"decoders subclass {Decoder.__module__}.Decoder (docs/plugins.md)",
            )
        ctc_head = chosen.search.ctc_head
        ctc_vocab = getattr(heads.get(ctc_head), "vocab_size", None) if ctc_head else None
        if ctc_head is not None and ctc_vocab != decoder.vocab_size:
            raise BuildError(
                f"{spec.key}.search.ctc_head: head '{ctc_head}' scores {ctc_vocab} tokens, decoder '{spec.name}'"
                f" {decoder.vocab_size}; joint decoding needs a ctc head over the decoder's tokens",
            )
        if ctc_head is not None:
            try:
                ctc_markup(chosen)
            except ValueError as error:
                raise BuildError(f"{spec.key}.{error}") from None
        decoders[name], settings[name] = decoder, chosen
    return decoders, settings


def _checkpoint_callbacks(settings: CheckpointConfig, dirpath: Path) -> list[Any]:
    """The best checkpoints (Lightning's ``ModelCheckpoint``, continued across resumes), ``last.ckpt``
    (written at every epoch end and every mid-epoch save), the random states every checkpoint carries,
    and preemption."""
    # Always one ModelCheckpoint, also with save_top_k 0 (it then saves nothing): without one,
    # Lightning would add its own default.
    callbacks: list[Any] = [
        RandomState(),
        BestCheckpoints(
            dirpath=str(dirpath),
            filename="best-{epoch:03d}-{step:06d}",
            monitor=settings.monitor,
            mode=settings.mode,
            save_top_k=settings.save_top_k,
            save_last=False,
            every_n_epochs=settings.every_n_epochs,
            auto_insert_metric_name=False,
        ),
    ]
    if settings.save_last:
        last = LastCheckpoint(dirpath, every_n_steps=settings.every_n_steps, every_n_minutes=settings.every_n_minutes)
        callbacks += [last, Preemption(last)]
    return callbacks


def _rich_available() -> bool:
    from lightning.pytorch.callbacks.progress.rich_progress import _RICH_AVAILABLE

    return bool(_RICH_AVAILABLE)


def build_trainer(
    recipe: Recipe, run_dir: Path, *, callbacks: list[Any] | None = None, fit: bool = True, command: str = "fit"
) -> Any:
    """A ``lightning.Trainer`` from the recipe's ``trainer:`` section, logging into ``run_dir``.

    Args:
        recipe: the validated recipe.
        run_dir: this run's directory (checkpoints, metrics.csv, wandb/).
        callbacks: extra callbacks (e.g. the prediction writer).
        fit: add checkpointing (only training writes checkpoints).
        command: the command the Trainer runs (``fit``, ``validate``, ``test`` or ``predict``):
            the W&B run's default job type.
    """
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from mmzoo.progress import QuietModelSummary, ThrottledRichProgressBar
    from mmzoo.scaling.strategy import resolve_strategy
    from mmzoo.tracking import trainer_parts

    loggers: list[Any] = []
    if recipe.logger.csv:
        loggers.append(CSVLogger(save_dir=str(run_dir), name="", version=""))
    options = {**TRAINER_DEFAULTS, "enable_checkpointing": fit, **recipe.trainer}
    # The W&B logger (mmzoo.tracking: settings from the recipe and WANDB_*, the config logged
    # once) and the tracking callbacks: training metrics, and last.ckpt as an artifact.
    checkpointing = fit and bool(options["enable_checkpointing"]) and recipe.checkpoint.save_last
    wandb_logger, tracking_callbacks = trainer_parts(
        recipe, run_dir, command, other_loggers=bool(loggers), checkpointing=checkpointing
    )
    if wandb_logger is not None:
        loggers.append(wandb_logger)
    if "strategy" in options:
        try:
            options["strategy"] = resolve_strategy(options["strategy"])
        except ValueError as exc:
            raise BuildError(f"trainer.strategy: {exc}") from exc
    all_callbacks = list(callbacks or [])
    has_bar = any(isinstance(callback, ProgressBar) for callback in all_callbacks)
    if options.get("enable_progress_bar", True) and not has_bar and _rich_available():
        all_callbacks.append(ThrottledRichProgressBar())
    if options.get("enable_model_summary", True) and _rich_available():
        all_callbacks.append(QuietModelSummary())  # instead of Lightning's, whose FLOPs are always 0 here
    if fit and options["enable_checkpointing"]:
        all_callbacks += _checkpoint_callbacks(recipe.checkpoint, run_dir / CHECKPOINT_DIR)
    all_callbacks += tracking_callbacks  # after LastCheckpoint: they read the last.ckpt it just wrote
    try:
        return pl.Trainer(
            default_root_dir=str(run_dir),
            logger=loggers or False,
            callbacks=all_callbacks,
            plugins=[AtomicCheckpointIO(trust=recipe.checkpoint.trust)],
            **options,
        )
    except Exception as exc:
        raise BuildError(
            f"trainer: lightning.Trainer refused these settings: {type(exc).__name__}: {exc}",
            hint="fix the `trainer:` section; rerun with --debug for the traceback",
        ) from exc
