"""Built-in fusions, registered through the ``mmzoo-fusions`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.fusions.attention_pool import AttentionPoolFusion
from mmzoo.fusions.bilinear import BilinearFusion
from mmzoo.fusions.bottleneck import BottleneckFusion
from mmzoo.fusions.concat import ConcatFusion
from mmzoo.fusions.cross_attention import CrossAttentionFusion
from mmzoo.fusions.early import EarlyFusion
from mmzoo.fusions.gated import GatedFusion
from mmzoo.fusions.hierarchical import HierarchicalFusion
from mmzoo.fusions.joint_transformer import JointTransformerFusion
from mmzoo.fusions.late import LateFusion
from mmzoo.fusions.low_rank import LowRankFusion
from mmzoo.fusions.mult import MulTFusion
from mmzoo.fusions.pooling import MaxFusion, MeanFusion, SumFusion
from mmzoo.fusions.tensor import TensorFusion
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = [
    "AttentionPoolFusion",
    "BottleneckFusion",
    "CrossAttentionFusion",
    "HierarchicalFusion",
    "JointTransformerFusion",
    "MulTFusion",
    "BilinearFusion",
    "ConcatFusion",
    "EarlyFusion",
    "GatedFusion",
    "LateFusion",
    "LowRankFusion",
    "MaxFusion",
    "MeanFusion",
    "SumFusion",
    "TensorFusion",
]


@hookimpl
def mmzoo_register_fusions(registrar: Registrar) -> None:
    registrar.add("concat", ConcatFusion, example={"dim": 16})
    # -- vector fusions --
    registrar.add("early", EarlyFusion, example={"dim": 16, "depth": 1, "heads": 2, "dropout": 0.0})
    registrar.add("sum", SumFusion, example={"dim": 16})
    registrar.add("mean", MeanFusion, example={"dim": 16})
    registrar.add("max", MaxFusion, example={"dim": 16})
    registrar.add("late", LateFusion, example={"dim": 16, "weighting": "learned"})
    registrar.add(
        "gated",
        GatedFusion,
        example={"dim": 16},
        paper="Arevalo et al., Gated Multimodal Units for Information Fusion, ICLR Workshop 2017",
    )
    registrar.add(
        "tensor",
        TensorFusion,
        example={"dim": 16, "rank_dim": 4, "hidden_dim": 32},
        paper="Zadeh et al., Tensor Fusion Network for Multimodal Sentiment Analysis, EMNLP 2017",
    )
    registrar.add(
        "low_rank",
        LowRankFusion,
        example={"dim": 16, "rank": 2},
        paper="Liu et al., Efficient Low-rank Multimodal Fusion with Modality-Specific Factors, ACL 2018",
    )
    registrar.add(
        "bilinear",
        BilinearFusion,
        example={"dim": 16, "out_dim": 8, "factors": 3},
        paper="Yu et al., Multi-modal Factorized Bilinear Pooling with Co-Attention Learning for Visual Question Answering, ICCV 2017",
    )
    # -- attention fusions --
    registrar.add(
        "attention",
        AttentionPoolFusion,
        example={"dim": 16, "hidden_dim": 8},
        paper="Hori et al., Attention-Based Multimodal Fusion for Video Description, ICCV 2017",
    )
    registrar.add(
        "cross_attention",
        CrossAttentionFusion,
        example={"dim": 16, "heads": 2, "layers": 1},
        paper="Lu et al., ViLBERT: Pretraining Task-Agnostic Visiolinguistic Representations for Vision-and-Language Tasks, NeurIPS 2019",
    )
    registrar.add(
        "joint_transformer",
        JointTransformerFusion,
        example={"dim": 16, "heads": 2, "layers": 1},
        paper="Chen et al., UNITER: UNiversal Image-TExt Representation Learning, ECCV 2020; Li et al., VisualBERT: A Simple and Performant Baseline for Vision and Language, arXiv 2019",
    )
    registrar.add(
        "mult",
        MulTFusion,
        example={"dim": 16, "heads": 2, "layers": 1},
        paper="Tsai et al., Multimodal Transformer for Unaligned Multimodal Language Sequences, ACL 2019",
    )
    registrar.add(
        "bottleneck",
        BottleneckFusion,
        example={"dim": 16, "heads": 2, "layers": 2, "num_bottlenecks": 2},
        paper="Nagrani et al., Attention Bottlenecks for Multimodal Fusion, NeurIPS 2021",
    )
    registrar.add("hierarchical", HierarchicalFusion, example={"dim": 16, "levels": 2, "hidden_dim": 16})
