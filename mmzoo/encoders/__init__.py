"""Built-in encoders, registered through the ``mmzoo-encoders`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.encoders.bag import BagEncoder
from mmzoo.encoders.conv1d import Conv1dEncoder
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = ["BagEncoder", "Conv1dEncoder"]


@hookimpl
def mmzoo_register_encoders(registrar: Registrar) -> None:
    registrar.add("conv1d", Conv1dEncoder, example={"dim": 16, "layers": 1})
    registrar.add("bag", BagEncoder, example={"dim": 16})
