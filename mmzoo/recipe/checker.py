"""The checks every recipe section is built from: mappings, dataclass sections, components.

A :class:`Checker` collects :class:`~mmzoo.errors.Problem` s (each with its dotted key and
``file:line``) instead of raising at the first one; :mod:`mmzoo.recipe.validate` runs one check per
section with it and raises them all together.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mmzoo.errors import Problem
from mmzoo.recipe.callables import Signature
from mmzoo.recipe.loader import LoadedRecipe, join_key, location_of
from mmzoo.recipe.schema import ComponentSpec, DecoderSettings, EncoderSettings
from mmzoo.registry import REQUIRED, RESERVED_KEYS, Registry, did_you_mean
from mmzoo.typecheck import check_value, describe_value

__all__ = ["Checker"]

#: Types of the recipe-level keys of component specs (other than ``name`` and ``weight``).
_EXTRA_TYPES: dict[str, Any] = {
    "train_only": bool,
    **typing.get_type_hints(EncoderSettings),
    **typing.get_type_hints(DecoderSettings),
}

T = TypeVar("T")


class Checker:
    """Checks parts of a loaded recipe, collecting every problem in :attr:`problems`.

    Args:
        loaded: the recipe (its ``locations`` give each problem's ``file:line``).
        registry: the components available.
    """

    def __init__(self, loaded: LoadedRecipe, registry: Registry) -> None:
        self.loaded = loaded
        self.registry = registry
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        """Record a problem with the value at dotted ``key``."""
        self.problems.append(Problem(key, message, location_of(self.loaded.locations, key)))

    def unknown_keys(
        self, mapping: Mapping[str, Any], known: tuple[str, ...] | list[str], prefix: str, what: str
    ) -> None:
        """A problem for each key of ``mapping`` (under ``prefix``) that is not in ``known``."""
        for key in mapping:
            if key not in known:
                self.problem(
                    join_key(prefix, key),
                    f"unknown {what}{did_you_mean(str(key), list(known))}; expected one of: {', '.join(known)}",
                )

    def mapping(self, value: Any, key: str, *, required: bool = True) -> dict[str, Any] | None:
        """``value`` if it is a mapping; otherwise a problem (none for ``null`` when not required)."""
        if value is None and not required:
            return None
        if not isinstance(value, dict):
            self.problem(key, f"must be a mapping, got {describe_value(value)}")
            return None
        return value

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

    def named_mapping(self, value: Any, kind: str, key: str, what: str) -> dict[str, ComponentSpec]:
        """``{name: component, ...}`` (encoders, heads, objectives): at least one, each checked."""
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
        self,
        value: Any,
        kind: str,
        key: str,
        signature_of: Callable[[str], Signature],
        reserved: tuple[str, ...] = (),
        ranges: Mapping[str, Any] | None = None,
    ) -> ComponentSpec | None:
        """Check an optimizer or scheduler: bind its options to the signature ``signature_of(name)`` gives.

        Options in ``reserved`` are not checked; options named in ``ranges`` must also pass the
        annotation given there.
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
            if not error and ranges and option in ranges:
                error = check_value(item, ranges[option])
            if error:
                self.problem(sub, f"{error} (option of {kind} '{name}')")
        for option in known.values():
            if option.default is REQUIRED and option.name not in options:
                self.problem(join_key(key, option.name), f"missing required option of {kind} '{name}'")
        return ComponentSpec(key=key, kind=kind, name=name, options=options)
