"""Validate a loaded recipe against the registry and the section schemas.

Nothing heavy happens here: no data is read, no weights are created, no Trainer is built. Every
problem is collected and raised together as one :class:`~mmzoo.errors.RecipeError`, each with its
dotted key and ``file:line``.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from mmzoo.constraints import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range
from mmzoo.errors import Problem, RecipeError
from mmzoo.recipe.callables import CallableSchemas, Signature
from mmzoo.recipe.loader import LoadedRecipe, join_key, location_of
from mmzoo.recipe.schema import (
    SCHEDULER_RESERVED,
    SECTIONS,
    CheckpointConfig,
    ComponentSpec,
    EncoderSettings,
    LoggerConfig,
    ModelSettings,
    Recipe,
    RunConfig,
)
from mmzoo.registry import REQUIRED, RESERVED_KEYS, Registry, did_you_mean
from mmzoo.typecheck import check_value, describe_type, describe_value

__all__ = ["validate_recipe", "run_name_problem", "TRAINER_MANAGED_KEYS", "DEFAULT_OPTIMIZER"]

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
_MODEL_SETTINGS = tuple(f.name for f in dataclasses.fields(ModelSettings))

#: Types of the recipe-level keys of component specs (other than ``name`` and ``weight``).
_EXTRA_TYPES: dict[str, Any] = {
    "train_only": bool,
    **typing.get_type_hints(EncoderSettings),
}

T = TypeVar("T")


class _Checker:
    def __init__(self, loaded: LoadedRecipe, registry: Registry, callables: CallableSchemas) -> None:
        self.loaded = loaded
        self.registry = registry
        self.callables = callables
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(key, message, location_of(self.loaded.locations, key)))

    def unknown_keys(
        self, mapping: Mapping[str, Any], known: tuple[str, ...] | list[str], prefix: str, what: str
    ) -> None:
        for key in mapping:
            if key not in known:
                self.problem(
                    join_key(prefix, key),
                    f"unknown {what}{did_you_mean(str(key), list(known))}; expected one of: {', '.join(known)}",
                )

    def mapping(self, value: Any, key: str, *, required: bool = True) -> dict[str, Any] | None:
        if value is None and not required:
            return None
        if not isinstance(value, dict):
            self.problem(key, f"must be a mapping, got {describe_value(value)}")
            return None
        return value

    # -- sections -------------------------------------------------------------------------

    def dataclass_section(self, value: Any, cls: type[T], key: str) -> T | None:
        """Check a mapping against a dataclass's typed fields and build it."""
        if value is None:
            return cls()
        if self.mapping(value, key) is None:
            return None
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        hints = inspect.get_annotations(cls, eval_str=True)
        ok = True
        kwargs: dict[str, Any] = {}
        for name, item in value.items():
            sub = join_key(key, name)
            if name not in fields:
                self.problem(
                    sub, f"unknown key{did_you_mean(name, list(fields))}; expected one of: {', '.join(fields)}"
                )
                ok = False
                continue
            annotation = hints[name]
            if dataclasses.is_dataclass(annotation):
                built = self.dataclass_section(item, annotation, sub)
                ok = ok and built is not None
                kwargs[name] = built
                continue
            error = check_value(item, annotation)
            if error:
                self.problem(sub, error)
                ok = False
            kwargs[name] = item
        return cls(**kwargs) if ok else None

    def component(self, value: Any, kind: str, key: str) -> ComponentSpec | None:
        """Check ``{name: ..., **options}`` against the registry entry of that name."""
        if not isinstance(value, dict):
            self.problem(key, f"must be a mapping with a 'name' key naming a {kind}, got {describe_value(value)}")
            return None
        name = value.get("name")
        if name is None:
            choices = ", ".join(self.registry.names(kind)) or "none installed"
            self.problem(key, f"missing 'name' of the {kind}; available: {choices}")
            return None
        if not isinstance(name, str) or (kind, name) not in self.registry:
            self.problem(join_key(key, "name"), self.registry.unknown_message(kind, str(name)))
            return None
        entry = self.registry.get(kind, name)
        reserved = RESERVED_KEYS[kind]
        options = {k: v for k, v in value.items() if k not in reserved}
        for option, message in entry.check_options(options):
            self.problem(join_key(key, option), message)
        extras = {k: v for k, v in value.items() if k in reserved and k not in ("name", "weight")}
        for extra, item in extras.items():
            error = check_value(item, _EXTRA_TYPES[extra])
            if error:
                self.problem(join_key(key, extra), error)
        weight = value.get("weight", 1.0)
        if "weight" in reserved and (check_value(weight, float) or weight < 0):
            self.problem(join_key(key, "weight"), f"must be a number >= 0, got {describe_value(weight)}")
            weight = 1.0
        return ComponentSpec(key=key, kind=kind, name=name, options=options, weight=float(weight), extras=extras)

    def transforms(self, value: Any) -> dict[str, list[ComponentSpec]]:
        """``modality -> [transform, ...]``; ``null`` for a modality means no transforms."""
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

    def named_mapping(self, value: Any, kind: str, key: str, what: str) -> dict[str, ComponentSpec]:
        specs: dict[str, ComponentSpec] = {}
        if self.mapping(value, key) is None:
            return specs
        # `null` drops an entry, so a child recipe or an override can remove an inherited one
        # (e.g. `model.encoders.text=null` for an audio-only run).
        kept = {name: item for name, item in value.items() if item is not None}
        if not kept:
            self.problem(key, f"needs at least one {what}")
        for name, item in kept.items():
            spec = self.component(item, kind, join_key(key, name))
            if spec is not None:
                specs[str(name)] = spec
        return specs

    def callable_spec(
        self, value: Any, kind: str, key: str, signature_of: Callable[[str], Signature], reserved: tuple[str, ...] = ()
    ) -> ComponentSpec | None:
        """Check an optimizer or scheduler: bind its options to the signature ``signature_of(name)`` gives.

        An optimizer's options named in :data:`OPTIMIZER_RANGES` must also lie in those ranges.
        """
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            self.problem(key, f"must be a mapping with a 'name' key naming the {kind}")
            return None
        name = value["name"]
        try:
            signature = signature_of(name)
        except (ImportError, TypeError) as exc:
            self.problem(join_key(key, "name"), f"cannot use {kind} '{name}': {exc}")
            return None
        options = {k: v for k, v in value.items() if k != "name"}
        known = signature.known()
        for option, item in options.items():
            sub = join_key(key, option)
            if option in reserved:
                continue
            if option not in known:
                if not signature.accepts_extra:
                    self.problem(
                        sub,
                        f"unknown option for {kind} '{name}'{did_you_mean(option, list(known))}; its options: {', '.join(known)}",
                    )
                    continue
                error = None  # taken by **kwargs: only mmzoo's range applies
            else:
                error = check_value(item, known[option].annotation)
            if not error and kind == "optimizer" and option in OPTIMIZER_RANGES:
                error = check_value(item, OPTIMIZER_RANGES[option])
            if error:
                self.problem(sub, f"{error} (option of {kind} '{name}')")
        for option in known.values():
            if option.default is REQUIRED and option.name not in options:
                self.problem(join_key(key, option.name), f"missing required option of {kind} '{name}'")
        return ComponentSpec(key=key, kind=kind, name=name, options=options)

    def model_settings(self, value: dict[str, Any]) -> ModelSettings | None:
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

    def trainer(self, value: Any) -> dict[str, Any]:
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
    check = _Checker(loaded, registry, callables or CallableSchemas(registry))
    check.unknown_keys(data, SECTIONS, "", "top-level section")

    seed = data.get("seed")
    error = check_value(seed, NonNegativeInt | None)
    if error:
        check.problem("seed", error)

    run = check.dataclass_section(data.get("run"), RunConfig, "run")
    if run is not None and run.name is not None and (problem := run_name_problem(run.name)):
        check.problem("run.name", problem)
    logger = check.dataclass_section(data.get("logger"), LoggerConfig, "logger")
    checkpoint = check.dataclass_section(data.get("checkpoint"), CheckpointConfig, "checkpoint")

    if "data" not in data:
        check.problem("data", "missing section: name a datamodule, e.g. `data: {name: tones_and_words}`")
    datamodule = check.component(data.get("data"), "datamodule", "data") if "data" in data else None
    transforms = check.transforms(data.get("transforms"))

    model = check.mapping(data.get("model"), "model") if "model" in data else None
    if "model" not in data:
        check.problem("model", "missing section: needs encoders, fusion and heads")
    encoders: dict[str, ComponentSpec] = {}
    heads: dict[str, ComponentSpec] = {}
    fusion = None
    model_settings: ModelSettings | None = ModelSettings()
    if model is not None:
        check.unknown_keys(model, _MODEL_PARTS + _MODEL_SETTINGS, "model", "key")
        model_settings = check.model_settings({k: v for k, v in model.items() if k in _MODEL_SETTINGS})
        for part in _MODEL_PARTS:
            if part not in model:
                check.problem(f"model.{part}", "missing")
        encoders = check.named_mapping(model.get("encoders", {}), "encoder", "model.encoders", "encoder")
        heads = check.named_mapping(model.get("heads", {}), "head", "model.heads", "head")
        if "fusion" in model:
            fusion = check.component(model["fusion"], "fusion", "model.fusion")

    if fusion is not None and datamodule is not None:
        optional = _optional_modalities(datamodule, encoders)
        if optional and not registry.get("fusion", fusion.name).handles_missing:
            able = [e.name for e in registry.entries("fusion") if e.handles_missing]
            check.problem(
                "model.fusion.name",
                f"fusion '{fusion.name}' cannot train with missing modalities, but data.modalities marks"
                f" {', '.join(optional)} optional; use a fusion that handles them ({', '.join(able)})"
                " or make every modality required",
            )

    if "objectives" not in data:
        check.problem("objectives", "missing section: name at least one objective")
    objectives = check.named_mapping(data.get("objectives", {}), "objective", "objectives", "objective")
    if model is not None:
        for name, spec in objectives.items():
            head = spec.options.get("head")
            if isinstance(head, str) and heads and head not in heads:
                check.problem(
                    f"objectives.{name}.head",
                    f"no head named '{head}' in model.heads{did_you_mean(head, list(heads))}; heads: {', '.join(heads)}",
                )

    weighting = check.component(data.get("weighting") or {"name": "fixed"}, "weighting", "weighting")
    optimizer = check.callable_spec(
        data.get("optimizer") or DEFAULT_OPTIMIZER, "optimizer", "optimizer", check.callables.optimizer
    )
    scheduler_value = data.get("scheduler")
    scheduler = None
    if scheduler_value is not None:
        scheduler = check.callable_spec(
            scheduler_value, "scheduler", "scheduler", check.callables.scheduler, SCHEDULER_RESERVED
        )
        interval = scheduler_value.get("interval") if isinstance(scheduler_value, dict) else None
        if interval not in (None, "step", "epoch"):
            check.problem("scheduler.interval", f"must be 'step' or 'epoch', got {describe_value(interval)}")
    trainer = check.trainer(data.get("trainer"))

    if check.problems:
        raise RecipeError(check.problems, source=str(loaded.source))
    assert run and logger and checkpoint and datamodule and fusion and weighting and optimizer and model_settings
    return Recipe(
        source=loaded.source,
        data=data,
        locations=loaded.locations,
        seed=seed,
        run=run,
        datamodule=datamodule,
        transforms=transforms,
        encoders=encoders,
        fusion=fusion,
        heads=heads,
        model_settings=model_settings,
        objectives=objectives,
        weighting=weighting,
        optimizer=optimizer,
        scheduler=scheduler,
        trainer=trainer,
        logger=logger,
        checkpoint=checkpoint,
        env_references=dict(loaded.env_references),
    )
