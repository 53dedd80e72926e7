"""Discover plugins through pluggy and fill a :class:`~mmzoo.registry.Registry` from them.

Every call builds a fresh ``PluginManager``, so that tests (and long-lived processes that install
plugins) never see stale state:

1. ``add_hookspecs(mmzoo.hookspecs)``;
2. block the plugins named in ``MMZOO_DISABLE_PLUGINS`` (comma separated);
3. ``load_setuptools_entrypoints("mmzoo", name=...)`` once per entry point, so that one plugin that
   fails to import is reported as a warning and does not take the others down;
4. ``check_pending()``, so that a plugin with a misspelt hook name is reported (and skipped) rather
   than silently half-working;
5. call each plugin's registration hooks with a registrar that records the plugin and distribution.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from collections.abc import Iterable, Mapping

import pluggy

from mmzoo import hookspecs
from mmzoo.errors import DuplicateComponentError, RegistryError
from mmzoo.registry import KINDS, Registrar, Registry

__all__ = ["DISABLE_ENV", "PluginWarning", "build_plugin_manager", "load_registry", "disabled_from_env", "warn_skipped"]

#: Environment variable with comma-separated plugin names to block.
DISABLE_ENV = "MMZOO_DISABLE_PLUGINS"

_HOOK_FOR_KIND = {
    "encoder": "mmzoo_register_encoders",
    "fusion": "mmzoo_register_fusions",
    "head": "mmzoo_register_heads",
    "decoder": "mmzoo_register_decoders",
    "objective": "mmzoo_register_objectives",
    "weighting": "mmzoo_register_weightings",
    "datamodule": "mmzoo_register_datamodules",
    "transform": "mmzoo_register_transforms",
}


class PluginWarning(UserWarning):
    """A plugin failed to load or to register its components; the others keep working."""


def disabled_from_env() -> list[str]:
    """Plugin names listed in ``MMZOO_DISABLE_PLUGINS``."""
    raw = os.environ.get(DISABLE_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line (pluggy's validation messages span several)."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def build_plugin_manager(
    *,
    entrypoints: bool = True,
    extra_plugins: Iterable[tuple[str, object]] = (),
    disabled: Iterable[str] | None = None,
) -> tuple[pluggy.PluginManager, dict[str, str], list[str]]:
    """Create a plugin manager with mmzoo's hooks and its plugins loaded.

    Args:
        entrypoints: load the ``mmzoo`` entry points of installed distributions.
        extra_plugins: ``(name, plugin)`` pairs registered directly (used by tests and embedders).
        disabled: plugin names to block; defaults to ``MMZOO_DISABLE_PLUGINS``.

    Returns:
        ``(manager, failed, blocked)``: ``failed`` maps plugin name -> reason for plugins whose
        import failed; ``blocked`` lists the blocked plugin names that exist.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    blocked_names = list(disabled_from_env() if disabled is None else disabled)
    for name in blocked_names:
        manager.set_blocked(name)

    failed: dict[str, str] = {}
    present: set[str] = set()
    for name, plugin in extra_plugins:
        present.add(name)
        if not manager.is_blocked(name):
            try:
                manager.register(plugin, name=name)
            except Exception as exc:  # same isolation as for entry points
                failed[name] = _describe(exc)
    if entrypoints:
        names = sorted({ep.name for ep in importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)})
        for name in names:
            present.add(name)
            try:
                manager.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP, name=name)
            except Exception as exc:  # a broken plugin must not take the others down
                failed[name] = _describe(exc)
    # check_pending() stops at the first plugin implementing a hook mmzoo does not define (a
    # misspelt hook would otherwise be silently ignored); that plugin is reported and dropped.
    while True:
        try:
            manager.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            name = manager.get_name(exc.plugin) or repr(exc.plugin)
            failed[name] = f"{_describe(exc)} (mmzoo's hooks are listed in mmzoo.hookspecs)"
            manager.unregister(exc.plugin)
    return manager, failed, [n for n in blocked_names if n in present]


def _distributions(manager: pluggy.PluginManager) -> dict[int, str]:
    return {id(plugin): f"{dist.project_name} {dist.version}" for plugin, dist in manager.list_plugin_distinfo()}


def load_registry(
    *,
    entrypoints: bool = True,
    extra_plugins: Iterable[tuple[str, object]] = (),
    disabled: Iterable[str] | None = None,
    warn: bool = True,
) -> Registry:
    """Build a registry from the installed plugins (see the module docstring for the steps).

    Args:
        entrypoints: load installed ``mmzoo`` entry points.
        extra_plugins: ``(name, plugin)`` pairs to register as well.
        disabled: plugin names to block; defaults to ``MMZOO_DISABLE_PLUGINS``.
        warn: emit a :class:`PluginWarning` for each plugin that failed.

    Raises:
        RegistryError: two plugins registered the same name for one kind.
    """
    manager, failed, blocked = build_plugin_manager(
        entrypoints=entrypoints, extra_plugins=extra_plugins, disabled=disabled
    )
    registry = Registry()
    registry.disabled_plugins = blocked
    distributions = _distributions(manager)
    for kind in KINDS:
        hook = getattr(manager.hook, _HOOK_FOR_KIND[kind])
        # Each implementation is called on its own so that every component is attributed to its
        # plugin, and so that a hook that raises costs only that plugin its components.
        for impl in reversed(hook.get_hookimpls()):
            if impl.plugin_name in failed:
                continue
            registrar = Registrar(registry, kind, impl.plugin_name, distributions.get(id(impl.plugin)))
            try:
                impl.function(registrar=registrar)
            except DuplicateComponentError:
                raise
            except RegistryError as exc:
                failed[impl.plugin_name] = exc.message
                registry.remove_plugin(impl.plugin_name)
            except Exception as exc:
                failed[impl.plugin_name] = f"its {_HOOK_FOR_KIND[kind]} hook raised {_describe(exc)}"
                registry.remove_plugin(impl.plugin_name)
    registry.failed_plugins = failed
    if warn:
        warn_skipped(failed, registry.failed_components)
    return registry


def warn_skipped(failed_plugins: Mapping[str, str], failed_components: Mapping[tuple[str, str], str]) -> None:
    """A :class:`PluginWarning` for each plugin that failed to load and each component not registered."""
    for name, why in sorted(failed_plugins.items()):
        warnings.warn(f"plugin '{name}' failed to load and is skipped: {why}", PluginWarning, stacklevel=3)
    for (kind, name), why in sorted(failed_components.items()):
        warnings.warn(f"{kind} '{name}' is skipped: {why}", PluginWarning, stacklevel=3)
