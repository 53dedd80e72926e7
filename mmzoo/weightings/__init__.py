"""Multi-task weighting rules, registered through the ``mmzoo-weightings`` entry point."""

from __future__ import annotations

from mmzoo.contracts.weighting import Weighting
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar
from mmzoo.weightings.fixed import FixedWeighting
from mmzoo.weightings.uncertainty import UncertaintyWeighting

__all__ = ["Weighting", "FixedWeighting", "UncertaintyWeighting"]


@hookimpl
def mmzoo_register_weightings(registrar: Registrar) -> None:
    registrar.add("fixed", FixedWeighting)
    registrar.add(
        "uncertainty",
        UncertaintyWeighting,
        paper="Kendall et al., Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry and Semantics, CVPR 2018",
    )
