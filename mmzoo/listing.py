"""What ``mmzoo plugins`` shows, read from a cache while the installed plugins are unchanged.

Listing components needs their names, kinds, options and descriptions, not the components
themselves; but registering them means importing the plugins, and so torch and Lightning (about
5 s on a 2-core CPU). The listing of a registry is therefore kept as JSON in the user's cache
folder (``$MMZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmzoo``, else ``~/.cache/mmzoo``), under a key
that changes whenever what the plugins would register could change:

- the ``mmzoo`` entry points (name and target) and the name and version of every installed
  distribution (a plugin's dependencies included: installing one can mend a plugin that failed);
- the size and modification time of every file in the package of each entry point's module
  (editable installs change without a version change);
- the plugins disabled by ``MMZOO_DISABLE_PLUGINS`` (a disabled plugin is never imported), the
  Python version and mmzoo's version.

Any change gives a new key, so a stale listing is never served; without a cache entry the
plugins are loaded as usual and the listing is written for the next time. A cache folder that
cannot be written is ignored. ``MMZOO_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mmzoo import __version__, hookspecs
from mmzoo.registry import KINDS, REQUIRED, Registry, not_loaded_note
from mmzoo.typecheck import yaml_text

__all__ = ["Listing", "ListedEntry", "ListedOption", "cache_key", "listing_of", "load_listing"]

#: Bumped when the cached form changes.
_FORMAT = 1


@dataclass(frozen=True)
class ListedOption:
    """One option as ``mmzoo plugins show`` prints it."""

    name: str
    type_name: str
    default: str | None  # a YAML value, or None when the option is required
    doc: str


@dataclass(frozen=True)
class ListedEntry:
    """One component as ``mmzoo plugins`` lists it."""

    kind: str
    name: str
    plugin: str
    distribution: str | None
    doc: str
    factory: str
    options: tuple[ListedOption, ...]
    context_args: tuple[str, ...]
    docs_url: str | None = None
    paper: str | None = None


@dataclass
class Listing:
    """Every component, and what did not load."""

    entries: list[ListedEntry] = field(default_factory=list)
    failed_plugins: dict[str, str] = field(default_factory=dict)
    disabled_plugins: list[str] = field(default_factory=list)
    failed_components: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> why
    from_cache: bool = False

    def of_kind(self, kind: str | None) -> list[ListedEntry]:
        """The entries of one kind (or all), sorted by kind then name, as ``Registry.entries``."""
        order = {k: i for i, k in enumerate(KINDS)}
        chosen = [e for e in self.entries if kind is None or e.kind == kind]
        return sorted(chosen, key=lambda e: (order[e.kind], e.name))

    def not_loaded_note(self) -> str:
        """See :func:`mmzoo.registry.not_loaded_note`."""
        return not_loaded_note(self.disabled_plugins, self.failed_plugins)


def listing_of(registry: Registry) -> Listing:
    """The listing of a loaded registry."""
    entries = [
        ListedEntry(
            kind=entry.kind,
            name=entry.name,
            plugin=entry.plugin,
            distribution=entry.distribution,
            doc=entry.doc,
            factory=f"{entry.factory.__module__}.{entry.factory.__qualname__}",
            options=tuple(
                ListedOption(
                    option.name,
                    option.type_name,
                    None if option.default is REQUIRED else yaml_text(option.default),
                    option.doc,
                )
                for option in entry.options
            ),
            context_args=entry.context_args,
            docs_url=entry.docs_url,
            paper=entry.paper,
        )
        for entry in registry.entries()
    ]
    return Listing(
        entries=entries,
        failed_plugins=dict(registry.failed_plugins),
        disabled_plugins=list(registry.disabled_plugins),
        failed_components=dict(registry.failed_components),
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
    """The key of the listing the installed plugins give today (see the module docstring)."""
    digest = hashlib.sha256()
    for part in (f"format {_FORMAT}", f"mmzoo {__version__}", f"python {platform.python_version()}"):
        digest.update(part.encode() + b"\n")
    digest.update(("disabled " + ",".join(sorted(disabled)) + "\n").encode())
    versions = sorted(
        f"{dist.metadata['Name']} {dist.version}" for dist in importlib.metadata.distributions() if dist.metadata["Name"]
    )
    digest.update("\n".join(versions).encode())
    points = sorted(importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    for point in points:
        digest.update(f"\nentry point {point.name} = {point.value}\n".encode())
        for line in _package_files(point.module):
            digest.update(line.encode() + b"\n")
    return digest.hexdigest()[:32]


def _cache_folder() -> Path:
    if os.environ.get("MMZOO_CACHE_DIR"):
        return Path(os.environ["MMZOO_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmzoo"


def _read(path: Path) -> Listing | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [
            ListedEntry(
                **{**item, "options": tuple(ListedOption(**o) for o in item["options"]), "context_args": tuple(item["context_args"])}
            )
            for item in data["entries"]
        ]
        return Listing(
            entries=entries,
            failed_plugins=data["failed_plugins"],
            disabled_plugins=data["disabled_plugins"],
            failed_components={(kind, name): why for kind, name, why in data["failed_components"]},
            from_cache=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, listing: Listing) -> None:
    data = {
        "entries": [asdict(entry) for entry in listing.entries],
        "failed_plugins": listing.failed_plugins,
        "disabled_plugins": listing.disabled_plugins,
        "failed_components": [[kind, name, why] for (kind, name), why in listing.failed_components.items()],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:  # a read-only home: list without caching
        pass


def load_listing() -> Listing:
    """The listing of the installed plugins: from the cache when it is current, else by loading them
    (and caching it). Either way a :class:`~mmzoo.plugins.PluginWarning` names each plugin that
    failed to load and each component that was not registered."""
    from mmzoo.plugins import disabled_from_env, load_registry, warn_skipped

    use_cache = os.environ.get("MMZOO_NO_CACHE", "") not in ("1", "true", "yes")
    path = _cache_folder() / f"listing-{cache_key(disabled_from_env())}.json" if use_cache else None
    listing = _read(path) if path is not None and path.is_file() else None
    if listing is None:
        listing = listing_of(load_registry(warn=False))
        if path is not None:
            _write(path, listing)
    warn_skipped(listing.failed_plugins, listing.failed_components)
    return listing
