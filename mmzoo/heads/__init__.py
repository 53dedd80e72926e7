"""Built-in task heads, registered through the ``mmzoo-heads`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.heads.classification import ClassificationHead
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = ["ClassificationHead"]


@hookimpl
def mmzoo_register_heads(registrar: Registrar) -> None:
    registrar.add("classification", ClassificationHead, example={"num_classes": 3})
    # -- supervised heads --
    # -- contrastive heads --
    # -- ctc heads --
