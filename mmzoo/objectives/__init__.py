"""Built-in objectives, registered through the ``mmzoo-objectives`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.hookspecs import hookimpl
from mmzoo.objectives.cross_entropy import CrossEntropyObjective
from mmzoo.registry import Registrar

__all__ = ["CrossEntropyObjective"]


@hookimpl
def mmzoo_register_objectives(registrar: Registrar) -> None:
    registrar.add("cross_entropy", CrossEntropyObjective, example={"head": "label", "target": "label", "num_classes": 3})
    # -- supervised objectives --
    # -- contrastive objectives --
    # -- ctc objectives --
