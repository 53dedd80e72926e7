"""Built-in fusions, registered through the ``mmzoo-fusions`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.fusions.concat import ConcatFusion
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = ["ConcatFusion"]


@hookimpl
def mmzoo_register_fusions(registrar: Registrar) -> None:
    registrar.add("concat", ConcatFusion, example={"dim": 16})
    # -- vector fusions --
    # -- attention fusions --
