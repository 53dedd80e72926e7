"""Validate a loaded recipe against the registry and the section schemas.

Nothing heavy happens here: no data is read, no weights are created, no Trainer is built. Every
problem is collected and raised together as one :class:`~mmzoo.errors.RecipeError`, each with its
dotted key and ``file:line``. :func:`validate_recipe` runs one check per section, in the order of
:class:`_Sections`' methods; the checks they share are in :mod:`mmzoo.recipe.checker`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from mmzoo.constraints import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range
from mmzoo.errors import RecipeError
from mmzoo.recipe.callables import CallableSchemas
from mmzoo.recipe.checker import Checker
from mmzoo.recipe.loader import LoadedRecipe, join_key
from mmzoo.recipe.schema import (
    SCHEDULER_RESERVED,
    SECTIONS,
    CheckpointConfig,
    ComponentSpec,
    LoggerConfig,
    ModelSettings,
    Recipe,
    RunConfig,
)
from mmzoo.registry import Registry, did_you_mean
from mmzoo.typecheck import check_value, describe_type, describe_value

__all__ = [
    "validate_recipe",
    "run_name_problem",
    "TRAINER_MANAGED_KEYS",
    "DEFAULT_OPTIMIZER",
    "TRAINER_RANGES",
    "OPTIMIZER_RANGES",
]

#: Trainer arguments that mmzoo sets itself, from other sections.
TRAINER_MANAGED_KEYS: dict[str, str] = {
    "logger": "use the `logger:` section",
    "callbacks": "mmzoo adds checkpointing from the `checkpoint:` section",
    "default_root_dir": "use `run.root`",
}

DEFAULT_OPTIMIZER: dict[str, Any] = {"name": "adamw", "lr": 1e-3}

# A number of batches (int) or a fraction of them (float), as Lightning reads its limit_* options.
_BATCHES = NonNegativeInt | Annotated[float, Range(ge=0, le=1)] | None

#: mmzoo's ranges for numeric ``lightning.Trainer`` options, whose signature declares only their
#: types. A value must pass Lightning's annotation first, then this one.
TRAINER_RANGES: dict[str, Any] = {
    "max_epochs": Literal[-1] | PositiveInt | None,  # -1: no limit; null: Lightning's default
    "max_steps": Literal[-1] | PositiveInt,
    "min_epochs": NonNegativeInt | None,
    "min_steps": NonNegativeInt | None,
    "accumulate_grad_batches": PositiveInt,
    "gradient_clip_val": NonNegativeFloat | None,
    "log_every_n_steps": PositiveInt | None,
    "check_val_every_n_epoch": PositiveInt | None,
    "num_sanity_val_steps": Annotated[int, Range(ge=-1)] | None,  # -1: every validation batch
    "limit_train_batches": _BATCHES,
    "limit_val_batches": _BATCHES,
    "limit_test_batches": _BATCHES,
    "limit_predict_batches": _BATCHES,
    # Every N training batches, a fraction of an epoch, or a duration ("DD:HH:MM:SS" or timedelta keywords).
    "val_check_interval": PositiveInt | Annotated[float, Range(gt=0, le=1)] | str | dict[str, int] | None,
}

_BETA = Annotated[float, Range(ge=0, lt=1)]

#: mmzoo's ranges for common optimizer options, checked whatever the optimizer class (torch
#: annotates their types at most).
OPTIMIZER_RANGES: dict[str, Any] = {
    "lr": NonNegativeFloat,
    "weight_decay": NonNegativeFloat,
    "momentum": Annotated[float, Range(ge=0, le=1)],
    "dampening": Annotated[float, Range(ge=0, le=1)],
    # One epsilon, or a pair of them for torch's Adafactor (whose first one may be null).
    "eps": PositiveFloat | list[PositiveFloat | None],
    "betas": tuple[_BETA, _BETA],
}

_MODEL_PARTS = ("encoders", "fusion", "heads")
_OPTIONAL_MODEL_PARTS = ("decoders",)
_MODEL_SETTINGS = tuple(f.name for f in dataclasses.fields(ModelSettings))


def run_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a run group (it must be one folder inside ``run.root``), or ``None``."""
    if not name.strip():
        return "must not be empty"
    if any(sep in name for sep in ("/", "\\")) or name in (".", "..") or name != name.strip():
        return (
            f"must be a single folder name (no '/', '\\', '.', '..' or surrounding spaces), got {describe_value(name)};"
            " runs are written to run.root/run.name and may not escape run.root"
        )
    return None


def _optional_modalities(datamodule: ComponentSpec, encoders: Mapping[str, ComponentSpec]) -> list[str]:
    """Encoded modalities that the datamodule's ``modalities`` option marks ``optional: true``."""
    declared = datamodule.options.get("modalities")
    if not isinstance(declared, dict):
        return []
    return sorted(
        name
        for name, field in declared.items()
        if isinstance(field, dict) and field.get("optional") and name in encoders
    )


def _has_entries(value: Any) -> bool:
    """A ``{name: component}`` mapping with at least one entry that is not ``null`` (removed)."""
    return isinstance(value, Mapping) and any(item is not None for item in value.values())


@dataclasses.dataclass
class _Model:
    """The checked ``model:`` section (``None`` for a part with problems)."""

    settings: ModelSettings | None = dataclasses.field(default_factory=ModelSettings)
    encoders: dict[str, ComponentSpec] = dataclasses.field(default_factory=dict)
    fusion: ComponentSpec | None = None
    heads: dict[str, ComponentSpec] = dataclasses.field(default_factory=dict)
    decoders: dict[str, ComponentSpec] = dataclasses.field(default_factory=dict)


class _Sections(Checker):
    """One check per recipe section; each takes the whole recipe mapping and returns what
    :class:`Recipe` keeps of its section (``None`` when it has problems).

    Args:
        callables: the schemas of the Trainer, strategies, ``torch.compile``, optimizers and
            schedulers.
    """

    def __init__(self, loaded: LoadedRecipe, registry: Registry, callables: CallableSchemas) -> None:
        super().__init__(loaded, registry)
        self.callables = callables

    def top_level(self, data: Mapping[str, Any]) -> None:
        """Only known sections."""
        self.unknown_keys(data, SECTIONS, "", "top-level section")

    def seed(self, data: Mapping[str, Any]) -> Any:
        """``seed``: an int >= 0 or ``null``; returned as given."""
        seed = data.get("seed")
        error = check_value(seed, NonNegativeInt | None)
        if error:
            self.problem("seed", error)
        return seed

    def run(self, data: Mapping[str, Any]) -> RunConfig | None:
        """``run``: :class:`RunConfig`, whose ``name`` must be one folder name."""
        run = self.dataclass_section(data.get("run"), RunConfig, "run")
        if run is not None and run.name is not None and (problem := run_name_problem(run.name)):
            self.problem("run.name", problem)
        return run

    def logger(self, data: Mapping[str, Any]) -> LoggerConfig | None:
        """``logger``: :class:`LoggerConfig`."""
        return self.dataclass_section(data.get("logger"), LoggerConfig, "logger")

    def checkpoint(self, data: Mapping[str, Any]) -> CheckpointConfig | None:
        """``checkpoint``: :class:`CheckpointConfig`."""
        return self.dataclass_section(data.get("checkpoint"), CheckpointConfig, "checkpoint")

    def data(self, data: Mapping[str, Any]) -> ComponentSpec | None:
        """``data``: a registered datamodule and its options; required."""
        if "data" not in data:
            self.problem("data", "missing section: name a datamodule, e.g. `data: {name: tones_and_words}`")
            return None
        return self.component(data.get("data"), "datamodule", "data")

    def transforms(self, data: Mapping[str, Any]) -> dict[str, list[ComponentSpec]]:
        """``transforms``: ``modality -> [transform, ...]``; ``null`` for a modality means no transforms."""
        value = data.get("transforms")
        chains: dict[str, list[ComponentSpec]] = {}
        if value is None or self.mapping(value, "transforms") is None:
            return chains
        for modality, items in value.items():
            key = join_key("transforms", modality)
            if items is None:
                continue
            if not isinstance(items, list):
                self.problem(key, f"must be a list of transforms, got {describe_value(items)}")
                continue
            specs = [self.component(item, "transform", join_key(key, i)) for i, item in enumerate(items)]
            chains[str(modality)] = [spec for spec in specs if spec is not None]
        return chains

    def model(self, data: Mapping[str, Any], datamodule: ComponentSpec | None) -> _Model:
        """``model``: its settings, encoders, fusion and heads (required), and a fusion that can
        train with the modalities ``datamodule`` marks optional."""
        model = self.mapping(data.get("model"), "model") if "model" in data else None
        if "model" not in data:
            self.problem("model", "missing section: needs encoders, fusion and heads")
        checked = _Model()
        if model is None:
            return checked
        self.unknown_keys(model, _MODEL_PARTS + _OPTIONAL_MODEL_PARTS + _MODEL_SETTINGS, "model", "key")
        checked.settings = self.model_settings({k: v for k, v in model.items() if k in _MODEL_SETTINGS})
        generates = _has_entries(model.get("decoders"))  # a model that only generates needs no head
        for part in _MODEL_PARTS:
            if part not in model and not (part == "heads" and generates):
                self.problem(f"model.{part}", "missing")
        checked.encoders = self.named_mapping(model.get("encoders", {}), "encoder", "model.encoders", "encoder")
        if _has_entries(model.get("heads")) or not generates:
            checked.heads = self.named_mapping(model.get("heads", {}), "head", "model.heads", "head")
        if "fusion" in model:
            checked.fusion = self.component(model["fusion"], "fusion", "model.fusion")
        if checked.fusion is not None and datamodule is not None:
            self.fusion_handles_optional_modalities(checked.fusion, datamodule, checked.encoders)
        if generates:
            checked.decoders = self.named_mapping(model["decoders"], "decoder", "model.decoders", "decoder")
            self.decoder_references(checked)
        elif model.get("decoders") is not None:
            self.mapping(model["decoders"], "model.decoders")  # a mapping whose entries were all removed is fine
        return checked

    def decoder_references(self, model: _Model) -> None:
        """Each decoder needs a ``target``, a name no head has, a ``memory`` that is ``fusion`` or an
        encoded modality, and a search ``ctc_head`` among the heads."""
        for name, spec in model.decoders.items():
            key = f"model.decoders.{name}"
            if name in model.heads:
                self.problem(key, f"a head is also named '{name}'; outputs of heads and decoders share one namespace")
            if "target" not in spec.extras:
                self.problem(join_key(key, "target"), "missing: the transcript target it learns")
            memory = spec.extras.get("memory", "fusion")
            if isinstance(memory, str) and memory != "fusion" and model.encoders and memory not in model.encoders:
                choices = ["fusion", *model.encoders]
                self.problem(
                    join_key(key, "memory"),
                    f"no encoder '{memory}'{did_you_mean(memory, choices)}; choose {', '.join(choices)}",
                )
            search = spec.extras.get("search")
            ctc_head = search.get("ctc_head") if isinstance(search, dict) else None
            if ctc_head is not None and model.heads and ctc_head not in model.heads:
                self.problem(join_key(key, "search.ctc_head"), f"no head named '{ctc_head}' in model.heads")

    def model_settings(self, value: dict[str, Any]) -> ModelSettings | None:
        """The model-wide keys (:class:`ModelSettings`); ``compile`` options must be ``torch.compile``'s."""
        settings = self.dataclass_section(value, ModelSettings, "model")
        if settings is not None and isinstance(settings.compile, dict):
            known = self.callables.compile_options().known()
            for option, item in settings.compile.items():
                key = join_key("model.compile", option)
                if option not in known:
                    self.problem(key, f"unknown option of torch.compile; options: {', '.join(known)}")
                elif error := check_value(item, known[option].annotation):
                    self.problem(key, error)
        return settings

    def fusion_handles_optional_modalities(
        self, fusion: ComponentSpec, datamodule: ComponentSpec, encoders: Mapping[str, ComponentSpec]
    ) -> None:
        """A fusion that cannot handle missing modalities, with data that marks some optional."""
        optional = _optional_modalities(datamodule, encoders)
        if optional and not self.registry.get("fusion", fusion.name).handles_missing:
            able = [e.name for e in self.registry.entries("fusion") if e.handles_missing]
            self.problem(
                "model.fusion.name",
                f"fusion '{fusion.name}' cannot train with missing modalities, but data.modalities marks"
                f" {', '.join(optional)} optional; use a fusion that handles them ({', '.join(able)})"
                " or make every modality required",
            )

    def objectives(self, data: Mapping[str, Any], heads: Mapping[str, ComponentSpec]) -> dict[str, ComponentSpec]:
        """``objectives``: at least one; an objective's ``head`` must be one of ``heads`` (when any
        were checked)."""
        if "objectives" not in data:
            self.problem("objectives", "missing section: name at least one objective")
        objectives = self.named_mapping(data.get("objectives", {}), "objective", "objectives", "objective")
        for name, spec in objectives.items():
            head = spec.options.get("head")
            if isinstance(head, str) and heads and head not in heads:
                self.problem(
                    f"objectives.{name}.head",
                    f"no head or decoder named '{head}' in model{did_you_mean(head, list(heads))}; they are:"
                    f" {', '.join(heads)}",
                )
        return objectives

    def weighting(self, data: Mapping[str, Any]) -> ComponentSpec | None:
        """``weighting``: a registered weighting (default ``fixed``)."""
        return self.component(data.get("weighting") or {"name": "fixed"}, "weighting", "weighting")

    def optimizer(self, data: Mapping[str, Any]) -> ComponentSpec | None:
        """``optimizer`` (default :data:`DEFAULT_OPTIMIZER`): options bound to its signature, within
        :data:`OPTIMIZER_RANGES`."""
        value = data.get("optimizer") or DEFAULT_OPTIMIZER
        return self.callable_spec(value, "optimizer", "optimizer", self.callables.optimizer, ranges=OPTIMIZER_RANGES)

    def scheduler(self, data: Mapping[str, Any]) -> ComponentSpec | None:
        """``scheduler`` (optional): options bound to its signature; ``interval`` is ``step`` or ``epoch``."""
        value = data.get("scheduler")
        if value is None:
            return None
        scheduler = self.callable_spec(value, "scheduler", "scheduler", self.callables.scheduler, SCHEDULER_RESERVED)
        interval = value.get("interval") if isinstance(value, dict) else None
        if interval not in (None, "step", "epoch"):
            self.problem("scheduler.interval", f"must be 'step' or 'epoch', got {describe_value(interval)}")
        return scheduler

    def trainer(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``trainer``: options of ``lightning.Trainer`` (not those in :data:`TRAINER_MANAGED_KEYS`),
        within :data:`TRAINER_RANGES`."""
        value = data.get("trainer")
        if value is None:
            return {}
        if self.mapping(value, "trainer") is None:
            return {}
        known = self.callables.trainer().known()
        for option, item in value.items():
            key = join_key("trainer", option)
            if option in TRAINER_MANAGED_KEYS:
                self.problem(key, f"is set by mmzoo; {TRAINER_MANAGED_KEYS[option]}")
            elif option == "strategy" and isinstance(item, dict):
                self.strategy(item)
            elif option not in known:
                self.problem(key, f"unknown option of lightning.Trainer{did_you_mean(option, list(known))}")
            elif error := check_value(item, known[option].annotation):
                self.problem(key, error)
            elif option in TRAINER_RANGES and check_value(item, TRAINER_RANGES[option]):
                # Name every allowed form: a range message would name only one member of the union.
                self.problem(key, f"expected {describe_type(TRAINER_RANGES[option])}, got {describe_value(item)}")
        return dict(value)

    def strategy(self, value: dict[str, Any]) -> None:
        """``trainer.strategy`` as a mapping: ``{name: ddp | fsdp, **options of that strategy}``."""
        strategies = self.callables.strategies()
        name = value.get("name")
        if not isinstance(name, str) or name not in strategies:
            self.problem(
                "trainer.strategy.name",
                f"must be one of {', '.join(strategies)} when trainer.strategy is a mapping,"
                f" got {describe_value(name)}",
            )
            return
        known = {option.name: option.annotation for option in strategies[name].options}
        for option, item in value.items():
            key = join_key("trainer.strategy", option)
            if option == "name":
                continue
            if option not in known:
                self.problem(
                    key,
                    f"unknown option of strategy '{name}'{did_you_mean(option, list(known))};"
                    f" its options: {', '.join(known)}",
                )
            elif error := check_value(item, known[option]):
                self.problem(key, error)


def validate_recipe(loaded: LoadedRecipe, registry: Registry, callables: CallableSchemas | None = None) -> Recipe:
    """Check every section, component name and option of a loaded recipe.

    Args:
        loaded: the recipe after ``extends:``, overrides and interpolation.
        registry: the components available.
        callables: the schemas of the Trainer, optimizers and schedulers; read from their
            signatures by default.

    Returns:
        The validated :class:`Recipe`.

    Raises:
        RecipeError: with every problem found.
    """
    data = loaded.data
    check = _Sections(loaded, registry, callables or CallableSchemas(registry))
    check.top_level(data)
    seed = check.seed(data)
    run = check.run(data)
    logger = check.logger(data)
    checkpoint = check.checkpoint(data)
    datamodule = check.data(data)
    transforms = check.transforms(data)
    model = check.model(data, datamodule)
    objectives = check.objectives(data, {**model.heads, **model.decoders})
    weighting = check.weighting(data)
    optimizer = check.optimizer(data)
    scheduler = check.scheduler(data)
    trainer = check.trainer(data)
    if check.problems:
        raise RecipeError(check.problems, source=str(loaded.source))
    assert run and logger and checkpoint and datamodule and model.fusion and weighting and optimizer and model.settings
    return Recipe(
        source=loaded.source,
        data=data,
        locations=loaded.locations,
        seed=seed,
        run=run,
        datamodule=datamodule,
        transforms=transforms,
        encoders=model.encoders,
        fusion=model.fusion,
        heads=model.heads,
        decoders=model.decoders,
        model_settings=model.settings,
        objectives=objectives,
        weighting=weighting,
        optimizer=optimizer,
        scheduler=scheduler,
        trainer=trainer,
        logger=logger,
        checkpoint=checkpoint,
        env_references=dict(loaded.env_references),
    )
