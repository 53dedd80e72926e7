"""Built-in objectives, registered through the ``mmzoo-objectives`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.hookspecs import hookimpl
from mmzoo.objectives.bce import BCEObjective
from mmzoo.objectives.contrastive import ClipObjective, SigLipObjective
from mmzoo.objectives.cross_entropy import CrossEntropyObjective
from mmzoo.objectives.ctc import CTCObjective
from mmzoo.objectives.itm import MatchingObjective
from mmzoo.objectives.mlm import MaskedLanguageModeling
from mmzoo.objectives.mvae import MVAEObjective
from mmzoo.objectives.regression import RegressionObjective
from mmzoo.objectives.sequence_ce import SequenceCrossEntropyObjective
from mmzoo.registry import Registrar

__all__ = [
    "BCEObjective",
    "CTCObjective",
    "ClipObjective",
    "CrossEntropyObjective",
    "MVAEObjective",
    "MaskedLanguageModeling",
    "MatchingObjective",
    "RegressionObjective",
    "SequenceCrossEntropyObjective",
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
    registrar.add(
        "clip",
        ClipObjective,
        example={"embeddings": ["audio", "text"]},
        paper="Radford et al., Learning Transferable Visual Models From Natural Language Supervision, ICML 2021",
    )
    registrar.add(
        "siglip",
        SigLipObjective,
        example={"embeddings": ["audio", "text"]},
        paper="Zhai et al., Sigmoid Loss for Language Image Pre-Training, ICCV 2023",
    )
    # -- ctc objectives --
    registrar.add(
        "ctc",
        CTCObjective,
        example={"head": "transcript", "target": "transcript"},
        paper="Graves et al., Connectionist Temporal Classification: Labelling Unsegmented Sequence Data with Recurrent Neural Networks, ICML 2006",
    )
    registrar.add(
        "sequence_ce",
        SequenceCrossEntropyObjective,
        example={"head": "transcript", "target": "transcript"},
        paper="Chorowski et al., Attention-Based Models for Speech Recognition, NeurIPS 2015",
    )
    # -- masked modelling and matching --
    registrar.add(
        "mlm",
        MaskedLanguageModeling,
        example={"head": "tokens", "modality": "text"},
        paper="Devlin et al., BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding, NAACL 2019",
    )
    registrar.add(
        "itm",
        MatchingObjective,
        example={"head": "match", "modality": "text", "negatives": "random"},
        paper="Li et al., Align before Fuse: Vision and Language Representation Learning with Momentum Distillation, NeurIPS 2021",
    )
    # -- generative objectives --
    registrar.add(
        "mvae",
        MVAEObjective,
        example={"head": "mvae", "kl_warmup_steps": 10},
        paper="Wu and Goodman, Multimodal Generative Models for Scalable Weakly-Supervised Learning, NeurIPS 2018",
    )
