"""The registry and the recipe schemas, read from a cache while the installed plugins are unchanged.

Listing components and checking a recipe need names, kinds, options (their types, defaults and
descriptions) and a few declared facts (a fusion's ``handles_missing``), not the components
themselves. Registering them, though, means importing the plugins, and so torch and Lightning
(about 5 s on a 2-core CPU). So the first command that loads the plugins writes what they
registered, together with the schemas of the Trainer, strategies, ``torch.compile`` and torch's
optimizers and schedulers (:meth:`~mmzoo.recipe.callables.CallableSchemas.snapshot`), as JSON into
the user's cache folder (``$MMZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmzoo``, else
``~/.cache/mmzoo``). Option types are written in the small JSON type language of
:mod:`mmzoo.typeform`. The file is named by a key that changes whenever what the plugins would
register could change:

- the ``mmzoo`` entry points (name and target) and the name and version of every installed
  distribution (a plugin's dependencies included: installing one can mend a plugin that failed;
  torch and Lightning included: their signatures are cached too);
- the size and modification time of every file in the package of each entry point's module
  (editable installs change without a version change); the same stamp of the packages the
  registered factories come from is checked when the file is read;
- the plugins disabled by ``MMZOO_DISABLE_PLUGINS`` (a disabled plugin is never imported), the
  Python version and mmzoo's version.

Any change gives a new key, so a stale schema is never served. Without a cache entry the plugins
are loaded as usual and the entry is written for the next time, unless an option's type cannot be
written exactly (:func:`mmzoo.typeform.same_checks`): then nothing is cached and every command
loads the plugins. A cache folder that cannot be written is ignored. ``MMZOO_NO_CACHE=1`` turns
the cache off.

A registry read from the cache lists and validates exactly as the live one; its factories are
:class:`LazyFactory` objects that import the real factory when called. Commands that build
components (``fit``, ``recipe check --build``...) load the plugins themselves.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzoo import __version__, hookspecs
from mmzoo.errors import RegistryError
from mmzoo.recipe.callables import CallableSchemas, Signature
from mmzoo.registry import REQUIRED, Entry, Option, Registry, factory_origin
from mmzoo.typecheck import NO_YAML, yaml_form
from mmzoo.typeform import from_form, same_checks, to_form

__all__ = ["Schemas", "LazyFactory", "cache_key", "load_schemas"]

#: Bumped when the cached form changes.
_FORMAT = 2


@dataclass
class Schemas:
    """What listing components and checking recipes need."""

    registry: Registry
    callables: CallableSchemas
    from_cache: bool = False


class LazyFactory:
    """A component's factory, named by its module and qualified name; imported when first called."""

    def __init__(self, path: str, *, importable: bool = True) -> None:
        self.__module__, _, self.__qualname__ = path.partition(":")
        self._importable = importable
        self._loaded: Any = None

    def load(self) -> Any:
        """The real factory.

        Raises:
            RegistryError: it cannot be found under its name (a ``functools.partial`` or a
                function defined inside another one); load the plugins with
                :func:`mmzoo.plugins.load_registry` instead.
        """
        if self._loaded is None:
            try:
                if not self._importable:
                    raise ImportError("it is not reachable by that name")
                found: Any = importlib.import_module(self.__module__)
                for part in self.__qualname__.split("."):
                    found = getattr(found, part)
            except (ImportError, AttributeError) as exc:
                raise RegistryError(
                    f"the factory {self.__module__}.{self.__qualname__} cannot be imported by name ({exc});"
                    " build components from mmzoo.plugins.load_registry()"
                ) from exc
            self._loaded = found
        return self._loaded

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyFactory('{self.__module__}:{self.__qualname__}')"


class _Shown:
    """A default that YAML cannot write, kept as the text ``plugins show`` prints for it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _Inexact(Exception):
    """An annotation whose JSON form would not check values exactly as it does."""


def _option_form(option: Option) -> dict[str, Any]:
    form = to_form(option.annotation)
    default = REQUIRED if option.required else yaml_form(option.default)
    if not same_checks(
        option.annotation, from_form(form), None if default is REQUIRED or default is NO_YAML else default
    ):
        raise _Inexact(option.name)
    if option.required:
        default_form: dict[str, Any] = {"required": True}
    elif default is NO_YAML:
        default_form = {"shown": repr(option.default)}
    else:
        default_form = {"value": default}
    return {"name": option.name, "type": form, "default": default_form, "doc": option.doc}


def _option_from(form: dict[str, Any]) -> Option:
    default = form["default"]
    value = REQUIRED if "required" in default else _Shown(default["shown"]) if "shown" in default else default["value"]
    return Option(form["name"], from_form(form["type"]), value, form["doc"])


def _signature_form(signature: Signature) -> dict[str, Any]:
    return {"options": [_option_form(o) for o in signature.options], "accepts_extra": signature.accepts_extra}


def _signature_from(form: dict[str, Any]) -> Signature:
    return Signature(tuple(_option_from(o) for o in form["options"]), form["accepts_extra"])


def _entry_form(entry: Entry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "name": entry.name,
        "factory": ":".join(factory_origin(entry.factory)),
        "importable": _importable(entry.factory),
        "plugin": entry.plugin,
        "distribution": entry.distribution,
        "doc": entry.doc,
        **_signature_form(Signature(entry.options, entry.accepts_extra)),
        "context_args": list(entry.context_args),
        "docs_url": entry.docs_url,
        "paper": entry.paper,
        "handles_missing": entry.handles_missing,
        "input_kinds": None if entry.input_kinds is None else list(entry.input_kinds),
    }


def _importable(factory: Any) -> bool:
    """Whether importing the factory by its module and qualified name gives this very object (not
    so for a ``functools.partial``, or a function defined inside another)."""
    module, qualname = factory_origin(factory)
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is factory


def _entry_from(form: dict[str, Any]) -> Entry:
    signature = _signature_from(form)
    return Entry(
        name=form["name"],
        kind=form["kind"],
        factory=LazyFactory(form["factory"], importable=form["importable"]),
        doc=form["doc"],
        plugin=form["plugin"],
        distribution=form["distribution"],
        options=signature.options,
        accepts_extra=signature.accepts_extra,
        context_args=tuple(form["context_args"]),
        docs_url=form["docs_url"],
        paper=form["paper"],
        handles_missing=form["handles_missing"],
        input_kinds=None if form["input_kinds"] is None else tuple(form["input_kinds"]),
    )


def _package_files(module: str) -> Iterator[str]:
    """``path size mtime`` of every file in the top-level package of ``module`` (found without importing it)."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        yield f"{module} missing"
        return
    roots = list(spec.submodule_search_locations or []) or ([spec.origin] if spec.origin else [])
    for root in roots:
        if os.path.isfile(root):
            stat = os.stat(root)
            yield f"{root} {stat.st_size} {stat.st_mtime_ns}"
            continue
        for folder, folders, files in os.walk(root):
            folders[:] = sorted(name for name in folders if name != "__pycache__")
            for name in sorted(files):
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                yield f"{path} {stat.st_size} {stat.st_mtime_ns}"


def cache_key(disabled: list[str]) -> str:
    """The key of the cache entry for the plugins installed today (see the module docstring)."""
    digest = hashlib.sha256()
    for part in (f"format {_FORMAT}", f"mmzoo {__version__}", f"python {platform.python_version()}"):
        digest.update(part.encode() + b"\n")
    digest.update(("disabled " + ",".join(sorted(disabled)) + "\n").encode())
    versions = sorted(
        f"{dist.metadata['Name']} {dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    )
    digest.update("\n".join(versions).encode())
    points = sorted(importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    for point in points:
        digest.update(f"\nentry point {point.name} = {point.value}\n".encode())
        for line in _package_files(point.module):
            digest.update(line.encode() + b"\n")
    return digest.hexdigest()[:32]


def _files_stamp(packages: set[str]) -> str:
    """A digest of the files of the packages the registered factories come from: a plugin's entry
    point may register components of another package, edited in place without a new version."""
    digest = hashlib.sha256()
    for package in sorted(packages):
        for line in _package_files(package):
            digest.update(line.encode() + b"\n")
    return digest.hexdigest()[:32]


def _cache_folder() -> Path:
    if os.environ.get("MMZOO_CACHE_DIR"):
        return Path(os.environ["MMZOO_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmzoo"


def _read(path: Path) -> Schemas | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["files"] != _files_stamp(set(data["packages"])):
            return None
        registry = Registry()
        for item in data["entries"]:
            registry.add(_entry_from(item))
        registry.failed_plugins = data["failed_plugins"]
        registry.disabled_plugins = data["disabled_plugins"]
        registry.failed_components = {(kind, name): why for kind, name, why in data["failed_components"]}
        known = {key: _signature_from(form) for key, form in data["callables"].items()}
        return Schemas(registry, CallableSchemas(registry, known), from_cache=True)
    except (OSError, ValueError, KeyError, TypeError, RegistryError):
        return None


def _write(path: Path, schemas: Schemas) -> None:
    registry = schemas.registry
    try:
        data = {
            "entries": [_entry_form(entry) for entry in registry.entries()],
            "failed_plugins": registry.failed_plugins,
            "disabled_plugins": registry.disabled_plugins,
            "failed_components": [[kind, name, why] for (kind, name), why in registry.failed_components.items()],
            "callables": {key: _signature_form(sig) for key, sig in schemas.callables.snapshot().items()},
            "packages": sorted(registry.packages()),
            "files": _files_stamp(registry.packages()),
        }
    except _Inexact:  # an option type the cache cannot hold exactly: every command loads the plugins
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:  # a read-only home: work without caching
        pass


def load_schemas() -> Schemas:
    """The registry and the recipe schemas of the installed plugins: from the cache when it is
    current, else by loading the plugins (and caching them). Either way a
    :class:`~mmzoo.plugins.PluginWarning` names each plugin that failed to load and each component
    that was not registered."""
    from mmzoo.plugins import disabled_from_env, load_registry, warn_skipped

    use_cache = os.environ.get("MMZOO_NO_CACHE", "") not in ("1", "true", "yes")
    path = _cache_folder() / f"schemas-{cache_key(disabled_from_env())}.json" if use_cache else None
    schemas = _read(path) if path is not None and path.is_file() else None
    if schemas is None:
        registry = load_registry(warn=False)
        schemas = Schemas(registry, CallableSchemas(registry))
        if path is not None:
            _write(path, schemas)
    registry = schemas.registry
    warn_skipped(registry.failed_plugins, registry.failed_components)
    return schemas
