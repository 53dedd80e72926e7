"""Built-in objectives, registered through the ``mmzoo-objectives`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.hookspecs import hookimpl
from mmzoo.objectives.bce import BCEObjective
from mmzoo.objectives.contrastive import ClipObjective, SigLipObjective
from mmzoo.objectives.cross_entropy import CrossEntropyObjective
from mmzoo.objectives.ctc import CTCObjective
from mmzoo.objectives.regression import RegressionObjective
from mmzoo.registry import Registrar

__all__ = [
    "BCEObjective",
    "CTCObjective",
    "ClipObjective",
    "CrossEntropyObjective",
    "RegressionObjective",
    "SigLipObjective",
]


@hookimpl
def mmzoo_register_objectives(registrar: Registrar) -> None:
    registrar.add(
        "cross_entropy", CrossEntropyObjective, example={"head": "label", "target": "label", "num_classes": 3}
    )
    # -- supervised objectives --
    registrar.add("bce", BCEObjective, example={"head": "tags", "target": "tags", "num_classes": 4})
    registrar.add("regression", RegressionObjective, example={"head": "score", "target": "score"})
    # -- contrastive objectives --
    registrar.add("clip", ClipObjective, example={"embeddings": ["audio", "text"]})
    registrar.add("siglip", SigLipObjective, example={"embeddings": ["audio", "text"]})
    # -- ctc objectives --
    registrar.add("ctc", CTCObjective, example={"head": "transcript", "target": "transcript"})
