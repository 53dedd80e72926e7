"""An example mmzoo plugin: a GRU encoder registered as ``template_gru``.

The components live in ordinary modules (:mod:`mmzoo_plugin_template.gru`); the hook functions that
register them live in :mod:`mmzoo_plugin_template.plugin`, which the distribution's ``mmzoo`` entry
point names.
"""

from __future__ import annotations

from mmzoo_plugin_template.gru import GruEncoder

__version__ = "0.1.0"

__all__ = ["GruEncoder", "__version__"]
