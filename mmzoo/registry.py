"""The component registry: every encoder, fusion, head, objective and datamodule mmzoo can build.

Plugins fill it through the hooks in :mod:`mmzoo.hookspecs`; :func:`mmzoo.plugins.load_registry`
builds a fresh one from the installed entry points. Each :class:`Entry` knows where it came from
(plugin and distribution) and its option schema, derived from the factory's typed signature.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from mmzoo.errors import DuplicateComponentError, RegistryError, UnknownComponentError
from mmzoo.generation_settings import DecoderSettings
from mmzoo.typecheck import NO_YAML, check_value, describe_type, yaml_form

__all__ = [
    "KINDS",
    "CONTEXT_ARGS",
    "REQUIRED",
    "Option",
    "Entry",
    "parse_arg_docs",
    "Registrar",
    "Registry",
    "did_you_mean",
    "factory_origin",
    "factory_path",
    "not_loaded_note",
]

#: The kinds of component, in the order the CLI lists them.
KINDS: tuple[str, ...] = ("encoder", "fusion", "head", "decoder", "objective", "weighting", "datamodule", "transform")

#: Arguments mmzoo passes to a factory from the surrounding build (when the factory accepts them).
#: They are not recipe options.
CONTEXT_ARGS: dict[str, tuple[str, ...]] = {
    "encoder": ("input_spec",),
    "fusion": ("input_dims",),
    "head": ("in_dim", "encoder_dims", "input_specs"),
    "decoder": ("memory_dim",),
    "objective": ("heads", "input_specs"),
    "weighting": ("objectives",),
    "datamodule": ("seed", "transforms"),
    "transform": (),
}

#: Recipe keys that configure the build itself rather than the factory, per kind.
RESERVED_KEYS: dict[str, tuple[str, ...]] = {
    "encoder": ("name", "freeze", "train_last", "project_dim", "lora", "gradient_checkpointing"),
    "fusion": ("name",),
    "head": ("name",),
    "decoder": ("name", *(setting.name for setting in fields(DecoderSettings))),
    "objective": ("name", "weight"),
    "weighting": ("name",),
    "datamodule": ("name",),
    "transform": ("name", "train_only"),
}

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Marks an option without a default.
REQUIRED: Any = _Required()


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=2, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


@dataclass(frozen=True)
class Option:
    """One option of a component, as a recipe sets it."""

    name: str
    annotation: Any
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_name(self) -> str:
        return describe_type(self.annotation)


@dataclass(frozen=True)
class Entry:
    """A registered component.

    Attributes:
        name: the short name recipes use.
        kind: one of :data:`KINDS`.
        factory: the class or function that builds it.
        doc: one-line description (``mmzoo plugins`` shows it in its "description" column).
        plugin: the name of the plugin (entry point) that registered it.
        distribution: ``name version`` of the installed distribution providing the plugin, or
            ``None`` for a plugin registered directly on a manager (tests).
        options: the option schema, in signature order.
        accepts_extra: whether the factory takes ``**kwargs`` (unknown options are then allowed).
        context_args: which build-context arguments (:data:`CONTEXT_ARGS`) the factory accepts.
        example: options that make a small working instance (or a function returning them); used
            by the contract tests.
        docs_url: where the component is documented (``None`` when nowhere else than here).
        paper: the paper it implements, as a citation or link (``None`` when it has none).
        handles_missing: for a fusion, whether rows may lack a modality (its class's
            :attr:`~mmzoo.contracts.Fusion.handles_missing`).
        input_kinds: for an encoder or transform, the :class:`~mmzoo.contracts.ModalitySpec` kinds
            it reads (its class's ``input_kinds``); ``None`` when it does not say.
    """

    name: str
    kind: str
    factory: Callable[..., Any]
    doc: str
    plugin: str
    distribution: str | None
    options: tuple[Option, ...]
    accepts_extra: bool = False
    context_args: tuple[str, ...] = ()
    example: Mapping[str, Any] | Callable[[], Mapping[str, Any]] = field(default_factory=dict)
    docs_url: str | None = None
    paper: str | None = None
    handles_missing: bool = False
    input_kinds: tuple[str, ...] | None = None

    def example_options(self) -> dict[str, Any]:
        """The example options (calling :attr:`example` when it is a function)."""
        return dict(self.example() if callable(self.example) else self.example)

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name:
                return opt
        return None

    def check_options(self, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Bind recipe options against the schema.

        Args:
            options: option name -> value, without the reserved keys such as ``name``.

        Returns:
            ``(option_name, message)`` for every problem: unknown options (with a suggestion),
            values of the wrong type and missing required options. Empty when all is well.
        """
        problems: list[tuple[str, str]] = []
        known = [o.name for o in self.options]
        for key, value in options.items():
            opt = self.option(key)
            if opt is None:
                if not self.accepts_extra:
                    hint = did_you_mean(key, known)
                    listing = ", ".join(known) if known else "none"
                    problems.append(
                        (key, f"unknown option for {self.kind} '{self.name}'{hint}; its options: {listing}")
                    )
                continue
            error = check_value(value, opt.annotation)
            if error:
                problems.append((key, f"{error} (option of {self.kind} '{self.name}')"))
        for opt in self.options:
            if opt.required and opt.name not in options:
                problems.append((opt.name, f"missing required option of {self.kind} '{self.name}' ({opt.type_name})"))
        return problems

    def build(self, options: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
        """Call the factory with the recipe options plus the context arguments it accepts."""
        kwargs = dict(options)
        for name in self.context_args:
            if name in context:
                kwargs[name] = context[name]
        return self.factory(**kwargs)


def _unwrapped(factory: Any) -> Any:
    """The class or function a ``functools.partial`` wraps (the factory itself otherwise)."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    return factory


def factory_origin(factory: Any) -> tuple[str, str]:
    """``(module, qualname)`` of a factory (of the function a ``functools.partial`` wraps)."""
    factory = _unwrapped(factory)
    return str(getattr(factory, "__module__", "?")), str(getattr(factory, "__qualname__", type(factory).__qualname__))


def factory_path(factory: Any) -> str:
    """``module.qualname`` of a factory (see :func:`factory_origin`)."""
    return ".".join(factory_origin(factory))


def _signature_target(factory: Callable[..., Any]) -> Callable[..., Any]:
    """The function whose annotations type a factory's options: a class's ``__init__``, and for a
    ``functools.partial`` that of the class or function it wraps."""
    factory = _unwrapped(factory)
    return factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]


def parse_arg_docs(docstring: str | None) -> dict[str, str]:
    """Option descriptions from a Google-style ``Args:`` section."""
    if not docstring:
        return {}
    lines = inspect.cleandoc(docstring).splitlines()
    docs: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Options:"):
            in_args, current = True, None
            continue
        if not in_args:
            continue
        if stripped and not line.startswith(" "):
            in_args = False
            continue
        match = re.match(r"^\s{2,4}(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and stripped:
            docs[current] += " " + stripped
    return docs


def _first_line(docstring: str | None) -> str:
    if not docstring:
        return ""
    return inspect.cleandoc(docstring).splitlines()[0].strip()


def schema_of(
    factory: Callable[..., Any], context_args: tuple[str, ...]
) -> tuple[tuple[Option, ...], bool, tuple[str, ...]]:
    """Derive ``(options, accepts_extra, accepted_context_args)`` from a factory's signature.

    A ``functools.partial`` has the options of the class or function it wraps, typed and
    documented there, less the arguments it binds by position; an argument it binds by keyword
    stays an option, with the bound value as its default.
    """
    wrapped = _unwrapped(factory)
    target = _signature_target(factory)
    # A partial's own signature (no ``self``) already drops and re-defaults what it binds.
    signature = inspect.signature(factory if wrapped is not factory else target)
    try:
        hints = typing.get_type_hints(target, include_extras=True)  # keeps Annotated ranges
    except Exception:  # unresolved forward references: fall back to the raw annotations
        hints = {}
    arg_docs = parse_arg_docs(wrapped.__doc__)
    if inspect.isclass(wrapped):
        arg_docs.update(parse_arg_docs(getattr(wrapped.__init__, "__doc__", None)))
    options: list[Option] = []
    accepted: list[str] = []
    accepts_extra = False
    for index, (pname, param) in enumerate(signature.parameters.items()):
        if inspect.isclass(factory) and index == 0:
            continue  # self
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_extra = True
            continue
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if pname in context_args:
            accepted.append(pname)
            continue
        annotation = hints.get(pname, param.annotation)
        default = REQUIRED if param.default is inspect.Parameter.empty else param.default
        options.append(Option(pname, annotation, default, arg_docs.get(pname, "")))
    return tuple(options), accepts_extra, tuple(accepted)


class Registry:
    """All registered components, by kind and name, plus what went wrong while loading plugins.

    Attributes:
        failed_plugins: plugin name -> one-line reason, for plugins that failed to load.
        disabled_plugins: plugin names blocked by ``MMZOO_DISABLE_PLUGINS``.
        failed_components: ``(kind, name)`` -> why it was not registered (its plugin, the file and
            line of its factory, and each mistake in its declaration); the plugin's other
            components are registered.
    """

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self.failed_plugins: dict[str, str] = {}
        self.disabled_plugins: list[str] = []
        self.failed_components: dict[tuple[str, str], str] = {}

    def add(self, entry: Entry) -> None:
        table = self._entries[entry.kind]
        existing = table.get(entry.name)
        if existing is not None and existing.plugin == entry.plugin:
            raise RegistryError(f"plugin '{entry.plugin}' registered {entry.kind} '{entry.name}' twice")
        if existing is not None:
            raise DuplicateComponentError(
                f"{entry.kind} '{entry.name}' is registered twice: by plugin '{existing.plugin}'"
                f" ({existing.distribution or 'not installed'}) and by plugin '{entry.plugin}'"
                f" ({entry.distribution or 'not installed'})",
                hint=f"rename one of them, or disable a plugin with MMZOO_DISABLE_PLUGINS={entry.plugin}",
            )
        table[entry.name] = entry

    def remove_plugin(self, plugin: str) -> None:
        """Forget every component a plugin registered (used when its hook fails half-way)."""
        for table in self._entries.values():
            for name in [n for n, e in table.items() if e.plugin == plugin]:
                del table[name]

    def names(self, kind: str) -> list[str]:
        """Sorted names of the registered components of one kind."""
        return sorted(self._entries[kind])

    def entries(self, kind: str | None = None) -> Iterator[Entry]:
        """Entries of one kind (or all kinds), sorted by kind then name."""
        for k in KINDS if kind is None else (kind,):
            for name in self.names(k):
                yield self._entries[k][name]

    def packages(self) -> set[str]:
        """The top-level packages that registered components come from (the installed plugins' code)."""
        return {factory_path(entry.factory).split(".")[0] for entry in self.entries()}

    def find(self, name: str) -> list[Entry]:
        """Every entry with this name, across kinds."""
        return [t[name] for t in self._entries.values() if name in t]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return name in self._entries.get(kind, {})

    def get(self, kind: str, name: str) -> Entry:
        """Look up a component, with a helpful error when it does not exist."""
        if kind not in self._entries:
            raise UnknownComponentError(f"unknown component kind '{kind}'; kinds: {', '.join(KINDS)}")
        entry = self._entries[kind].get(name)
        if entry is None:
            raise UnknownComponentError(self.unknown_message(kind, name), hint=self.unknown_hint(kind))
        return entry

    def unknown_message(self, kind: str, name: str) -> str:
        """``unknown encoder 'x' (did you mean 'y'?)`` plus notes about plugins that did not load."""
        rejected = self.failed_components.get((kind, name))
        if rejected is not None:
            return f"{kind} '{name}' was not registered: {rejected}"
        return f"unknown {kind} '{name}'{did_you_mean(str(name), self.names(kind))}" + self.not_loaded_note()

    def not_loaded_note(self) -> str:
        """See :func:`not_loaded_note`."""
        return not_loaded_note(self.disabled_plugins, self.failed_plugins)

    def unknown_hint(self, kind: str) -> str:
        return f"`mmzoo plugins --kind {kind}` lists the available {kind}s"


def not_loaded_note(disabled_plugins: Iterable[str], failed_plugins: Mapping[str, str]) -> str:
    """``"; these plugins were not loaded and may provide it: ..."`` naming each plugin that failed
    to load or is disabled, and why; empty when every plugin loaded."""
    reasons = [f"'{plugin}' (disabled by MMZOO_DISABLE_PLUGINS)" for plugin in sorted(disabled_plugins)]
    reasons += [f"'{plugin}' (failed to load: {why})" for plugin, why in sorted(failed_plugins.items())]
    return "; these plugins were not loaded and may provide it: " + ", ".join(reasons) if reasons else ""


class Registrar:
    """What a plugin's hook receives: adds components of one kind on behalf of that plugin."""

    def __init__(self, registry: Registry, kind: str, plugin: str, distribution: str | None) -> None:
        self._registry = registry
        self.kind = kind
        self.plugin = plugin
        self.distribution = distribution

    def add(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        doc: str | None = None,
        example: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        docs_url: str | None = None,
        paper: str | None = None,
    ) -> None:
        """Register a component.

        Args:
            name: short lowercase name used in recipes (``[a-z][a-z0-9_]*``).
            factory: class or function building the component from keyword options. Its typed
                signature is the option schema; document options in an ``Args:`` docstring section.
            doc: the one-line description ``mmzoo plugins`` lists and ``mmzoo plugins show`` heads
                its table with; defaults to the first line of the factory's docstring.
            example: options that build a small working instance, for the contract tests; or a
                function returning them (when they depend on files found at run time).
            docs_url: a link to the component's documentation (shown by ``mmzoo plugins show``).
            paper: the paper the component implements: a citation such as ``"Vaswani et al.,
                Attention Is All You Need, NeurIPS 2017"`` or a link (shown by ``mmzoo plugins show``).
        """
        schema, problems = _read_declaration(self.kind, name, factory, (doc, docs_url, paper))
        if schema is None or problems:
            self._registry.failed_components[(self.kind, str(name))] = (
                f"plugin '{self.plugin}', {_where(factory)}: " + "; ".join(problems)
            )
            return
        options, accepts_extra, accepted = schema
        declared = _unwrapped(factory)  # a functools.partial's class or function
        entry = Entry(
            name=name,
            kind=self.kind,
            factory=factory,
            doc=doc if doc is not None else _first_line(declared.__doc__),
            plugin=self.plugin,
            distribution=self.distribution,
            options=options,
            accepts_extra=accepts_extra,
            context_args=accepted,
            example=example if callable(example) else dict(example or {}),
            docs_url=docs_url,
            paper=paper,
            # What the component's class declares (mmzoo.contracts), read once here.
            handles_missing=bool(getattr(declared, "handles_missing", False)),
            input_kinds=_input_kinds(declared),
        )
        self._registry.add(entry)


def _input_kinds(factory: Any) -> tuple[str, ...] | None:
    kinds = getattr(factory, "input_kinds", None)
    return tuple(kinds) if isinstance(kinds, (tuple, list)) and kinds else None


def _where(factory: Any) -> str:
    """``file:line`` of the function whose signature is a factory's schema (``unknown place`` if none)."""
    try:
        target = _signature_target(factory)
        if target is object.__init__:  # a class without its own __init__: point at the class
            while isinstance(factory, functools.partial):
                factory = factory.func
            target = factory
        target = inspect.unwrap(target)
        return f"{inspect.getsourcefile(target)}:{inspect.getsourcelines(target)[1]}"
    except (TypeError, OSError):
        return factory_path(factory)


def _read_declaration(
    kind: str, name: Any, factory: Any, texts: tuple[Any, Any, Any]
) -> tuple[tuple[tuple[Option, ...], bool, tuple[str, ...]] | None, list[str]]:
    """A component's schema (see :func:`schema_of`; ``None`` when it cannot be read) and every
    mistake in its declaration: its name, factory, descriptions and options.

    An option must have a type annotation (recipes are checked against it), and a default must be
    a value of that type, as a recipe would write it.
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        return None, [
            f"the name {name!r} is invalid: names are lowercase letters, digits and underscores, starting with a letter"
        ]
    if not callable(factory):
        return None, [f"the factory {factory!r} is not callable"]
    problems = [
        f"{label}={value!r} is not a non-empty string"
        for label, value in zip(("doc", "docs_url", "paper"), texts)
        if value is not None and (not isinstance(value, str) or not value.strip())
    ]
    try:
        schema = schema_of(factory, CONTEXT_ARGS[kind])
    except (TypeError, ValueError) as exc:  # no signature to read (a builtin without one)
        return None, [*problems, f"its signature cannot be read ({exc})"]
    options = schema[0]
    reserved = [o.name for o in options if o.name in RESERVED_KEYS[kind]]
    if reserved:
        problems.append(f"options named {reserved} clash with keys recipes use for themselves; rename those arguments")
    for option in options:
        if option.annotation is inspect.Parameter.empty:
            problems.append(f"option '{option.name}' has no type annotation; annotate it (e.g. `{option.name}: float`)")
        elif option.default is not REQUIRED and (form := yaml_form(option.default)) is not NO_YAML:
            wrong = check_value(form, option.annotation)
            if wrong:
                problems.append(
                    f"the default of option '{option.name}' does not fit its type {describe_type(option.annotation)}:"
                    f" {wrong}" + ("; annotate it `... | None`" if option.default is None else "")
                )
    return schema, problems
