"""Transforms: per-example steps from decoded data to model inputs (a plugin like any other)."""

from __future__ import annotations

from mmzoo.data.transforms.base import Transform
from mmzoo.data.transforms.chain import TransformChain
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = ["Transform", "TransformChain"]


@hookimpl
def mmzoo_register_transforms(registrar: Registrar) -> None:
    pass
