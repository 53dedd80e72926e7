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
    registrar.add("gated", GatedFusion, example={"dim": 16})
    registrar.add("tensor", TensorFusion, example={"dim": 16, "rank_dim": 4, "hidden_dim": 32})
    registrar.add("low_rank", LowRankFusion, example={"dim": 16, "rank": 2})
    registrar.add("bilinear", BilinearFusion, example={"dim": 16, "out_dim": 8, "factors": 3})
    # -- attention fusions --
    registrar.add("attention", AttentionPoolFusion, example={"dim": 16, "hidden_dim": 8})
    registrar.add("cross_attention", CrossAttentionFusion, example={"dim": 16, "heads": 2, "layers": 1})
    registrar.add("joint_transformer", JointTransformerFusion, example={"dim": 16, "heads": 2, "layers": 1})
    registrar.add("mult", MulTFusion, example={"dim": 16, "heads": 2, "layers": 1})
    registrar.add("bottleneck", BottleneckFusion, example={"dim": 16, "heads": 2, "layers": 2, "num_bottlenecks": 2})
    registrar.add("hierarchical", HierarchicalFusion, example={"dim": 16, "levels": 2, "hidden_dim": 16})
