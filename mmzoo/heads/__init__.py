"""Built-in task heads, registered through the ``mmzoo-heads`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.heads.classification import ClassificationHead
from mmzoo.heads.ctc import CTCHead
from mmzoo.heads.ctc_alignment import CTCAlignmentHead
from mmzoo.heads.embedding import EmbeddingHead
from mmzoo.heads.multilabel import MultiLabelHead
from mmzoo.heads.mvae import MVAEHead
from mmzoo.heads.regression import RegressionHead
from mmzoo.heads.token_logits import TokenLogitsHead
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = [
    "CTCAlignmentHead",
    "CTCHead",
    "ClassificationHead",
    "EmbeddingHead",
    "MultiLabelHead",
    "MVAEHead",
    "RegressionHead",
    "TokenLogitsHead",
]


@hookimpl
def mmzoo_register_heads(registrar: Registrar) -> None:
    registrar.add("classification", ClassificationHead, example={"num_classes": 3})
    # -- supervised heads --
    registrar.add("multilabel", MultiLabelHead, example={"num_classes": 4})
    registrar.add("regression", RegressionHead, example={"outputs": 1})
    # -- contrastive heads --
    registrar.add("embedding", EmbeddingHead, example={"dim": 16})
    # -- ctc heads --
    registrar.add("ctc", CTCHead, example={"modality": "audio", "vocab_size": 5})
    registrar.add("ctc_alignment", CTCAlignmentHead, example={"num_classes": 3, "hidden_dim": 16, "acoustic_layers": 1})
    # -- masked modelling --
    registrar.add("token_logits", TokenLogitsHead, example={"modality": "text"})
    # -- generative heads --
    registrar.add("mvae", MVAEHead, example={"latent_dim": 4, "hidden_dim": 16})
