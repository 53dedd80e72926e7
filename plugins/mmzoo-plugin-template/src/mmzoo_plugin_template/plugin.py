"""The plugin module named by the ``mmzoo`` entry point in ``pyproject.toml``.

mmzoo imports this module and calls the functions marked ``@mmzoo.hookimpl`` whose names match the
hooks in :mod:`mmzoo.hookspecs`. A misspelt hook name is not ignored: mmzoo warns and skips the
whole plugin, so copy the names from there. Implement only the hooks for the kinds of component you provide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mmzoo

from mmzoo_plugin_template.gru import GruEncoder

if TYPE_CHECKING:
    from mmzoo.registry import Registrar


@mmzoo.hookimpl
def mmzoo_register_encoders(registrar: Registrar) -> None:
    """Register the template's encoders.

    Args:
        registrar: adds components on behalf of this plugin; ``example`` holds options that build a
            small instance, used by the contract tests (``mmzoo.testing.check_entry``).
    """
    registrar.add("template_gru", GruEncoder, example={"dim": 16, "layers": 1})
