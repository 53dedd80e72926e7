"""Contrastive objectives between embedding heads: CLIP (softmax InfoNCE) and SigLIP (sigmoid).

Both read unit-norm embeddings ``(B, D)`` from two or more heads (``embedding`` heads), where row
``i`` of every head comes from the same example: the positives are the diagonal, every other row
of the batch (of every process, under DDP) is a negative. With more than two heads, every pair is
scored and the pair losses are averaged. Both report whole-set retrieval recall@k in both
directions of each pair (``recall@1/audio->text``: audio queries retrieving their text among all
texts of the stage).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmzoo.constraints import PositiveFloat, PositiveInt
from mmzoo.contracts import Batch, LossOutput, Objective
from mmzoo.objectives._distributed import gather_features, gather_with_grad, world

__all__ = ["ClipObjective", "SigLipObjective"]

_MAX_LOGIT_SCALE = 100.0


class _PairwiseContrastive(Objective):
    """Shared plumbing: head pairs, the learnable logit scale, retrieval metrics, examples."""

    def __init__(
        self,
        embeddings: list[str],
        heads: Mapping[str, Any] | None,
        init_temperature: PositiveFloat,
        learn_temperature: bool,
        recall_at: list[PositiveInt],
    ) -> None:
        super().__init__()
        names = list(embeddings)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"embeddings must name at least two different heads, got {names}")
        missing = [name for name in names if heads and name not in heads]
        if missing:
            raise ValueError(f"no head named {missing} (heads: {sorted(heads or {})})")
        if init_temperature <= 0:
            raise ValueError(f"init_temperature must be positive, got {init_temperature}")
        if any(k < 1 for k in recall_at):
            raise ValueError(f"recall_at must hold positive integers, got {recall_at}")
        self.embeddings = names
        self.pairs = list(combinations(names, 2))
        self.recall_at = list(recall_at)
        # Stored as a log scale, like CLIP / open_clip: logit_scale = log(1 / temperature).
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)), requires_grad=learn_temperature)

    def scale(self) -> Tensor:
        """``exp(logit_scale)``, after clamping the parameter to ``[0, log(100)]`` as open_clip does
        after every optimizer step (in place, so the parameter never drifts beyond it)."""
        with torch.no_grad():
            self.logit_scale.clamp_(0.0, math.log(_MAX_LOGIT_SCALE))
        return self.logit_scale.exp()

    def pair_loss(self, first: Tensor, second: Tensor, scale: Tensor, rank: int, world_size: int) -> Tensor:
        raise NotImplementedError

    def extra_logs(self) -> dict[str, Tensor]:
        return {}

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> LossOutput:
        rank, world_size = world()
        scale = self.scale()
        losses = {
            f"{a}-{b}": self.pair_loss(outputs[a].float(), outputs[b].float(), scale, rank, world_size)
            for a, b in self.pairs
        }
        loss = torch.stack(list(losses.values())).mean()
        logs = {"temperature": 1.0 / scale.detach(), **self.extra_logs()}
        if len(losses) > 1:
            logs.update({f"{pair}/loss": value.detach() for pair, value in losses.items()})
        return LossOutput(loss, logs)

    def make_metrics(self) -> dict[str, Any]:
        from mmzoo.objectives._retrieval import RetrievalRecallAtK

        return {
            f"recall@{k}/{query}->{target}": RetrievalRecallAtK(k)
            for a, b in self.pairs
            for query, target in ((a, b), (b, a))
            for k in self.recall_at
        }

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        for name, metric in metrics.items(keep_base=True):
            query, target = name.split("/", 1)[1].split("->")
            metric.update(outputs[query].detach(), outputs[target].detach())

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        shared = torch.randn(batch_size, 16)
        outputs = {
            name: F.normalize(shared + 0.5 * torch.randn(batch_size, 16), dim=-1).requires_grad_(True)
            for name in self.embeddings
        }
        return outputs, Batch(inputs={}, targets={}, ids=[str(i) for i in range(batch_size)])


class ClipObjective(_PairwiseContrastive):
    """CLIP's symmetric InfoNCE loss between embedding heads, with a learnable temperature.

    For a pair ``(a, b)``: ``logits = exp(logit_scale) * a @ b.T``, and the loss is the mean of
    the cross-entropies of ``logits`` and ``logits.T`` against the diagonal (Radford et al., 2021,
    "Learning Transferable Visual Models From Natural Language Supervision"). ``logit_scale``
    starts at ``log(1 / init_temperature)`` and is kept in ``[0, log(100)]``.

    Under DDP the embeddings of every process are gathered, exactly as ``open_clip.loss.ClipLoss``
    does: every process scores the whole global batch (``local_loss: false``), or only its own
    rows against the global batch (``local_loss: true``, cheaper; labels are offset by the rank).
    ``gather_with_grad`` makes the gather differentiable, so gradients reach the process that
    computed each embedding; without it only each process's own rows get gradients.

    Args:
        embeddings: names of the embedding heads to contrast: two for one pair, more for every
            pair (pair losses averaged).
        init_temperature: initial softmax temperature (CLIP: 0.07).
        learn_temperature: learn the temperature; otherwise it stays at ``init_temperature``.
        local_loss: under DDP, score only this process's rows against the gathered batch.
        gather_with_grad: under DDP, let gradients flow through the gathered embeddings.
        recall_at: the ``k`` of the retrieval recall@k metrics.
    """

    def __init__(
        self,
        embeddings: list[str],
        heads: Mapping[str, Any] | None = None,
        init_temperature: PositiveFloat = 0.07,
        learn_temperature: bool = True,
        local_loss: bool = False,
        gather_with_grad: bool = True,
        recall_at: list[PositiveInt] = [1, 5, 10],  # noqa: B006 - read only
    ) -> None:
        super().__init__(embeddings, heads, init_temperature, learn_temperature, recall_at)
        self.local_loss = local_loss
        self.gather_with_grad = gather_with_grad

    def pair_loss(self, first: Tensor, second: Tensor, scale: Tensor, rank: int, world_size: int) -> Tensor:
        if world_size > 1:
            options = {"local_loss": self.local_loss, "with_grad": self.gather_with_grad}
            all_first = gather_features(first, rank=rank, world_size=world_size, **options)
            all_second = gather_features(second, rank=rank, world_size=world_size, **options)
            if self.local_loss:
                logits_first = scale * first @ all_second.T
                logits_second = scale * second @ all_first.T
            else:
                logits_first = scale * all_first @ all_second.T
                logits_second = logits_first.T
        else:
            logits_first = scale * first @ second.T
            logits_second = logits_first.T
        labels = torch.arange(logits_first.shape[0], device=first.device)
        if world_size > 1 and self.local_loss:
            labels = labels + logits_first.shape[0] * rank
        return (F.cross_entropy(logits_first, labels) + F.cross_entropy(logits_second, labels)) / 2


class SigLipObjective(_PairwiseContrastive):
    """SigLIP's pairwise sigmoid loss between embedding heads, with learnable temperature and bias.

    For a pair ``(a, b)``: ``logits = exp(logit_scale) * a @ b.T + bias``, and the loss is
    ``-sum(log sigmoid(labels * logits)) / B`` with ``labels`` ``+1`` on the diagonal and ``-1``
    elsewhere (Zhai et al., 2023, "Sigmoid Loss for Language Image Pre-Training").

    Under DDP each process also scores its ``a`` rows against the ``b`` rows of every other
    process, all negatives, and adds those terms, as ``open_clip.loss.SigLipLoss`` does. open_clip
    passes the ``b`` rows around the ring of processes (neighbour exchange); here they are
    gathered at once with a differentiable all-gather (open_clip's ``gather`` variant), which gives
    the same loss and gradients at the cost of holding every process's ``b`` rows.

    Args:
        embeddings: names of the embedding heads to contrast: two for one pair, more for every
            pair (pair losses averaged). In a pair, the first plays SigLIP's image role.
        init_temperature: initial temperature (SigLIP: 0.1, a logit scale of 10).
        init_bias: initial logit bias (SigLIP: -10).
        learn_temperature: learn the temperature; otherwise it stays at ``init_temperature``.
        learn_bias: learn the bias; otherwise it stays at ``init_bias``.
        recall_at: the ``k`` of the retrieval recall@k metrics.
    """

    def __init__(
        self,
        embeddings: list[str],
        heads: Mapping[str, Any] | None = None,
        init_temperature: PositiveFloat = 0.1,
        init_bias: float = -10.0,
        learn_temperature: bool = True,
        learn_bias: bool = True,
        recall_at: list[PositiveInt] = [1, 5, 10],  # noqa: B006 - read only
    ) -> None:
        super().__init__(embeddings, heads, init_temperature, learn_temperature, recall_at)
        self.logit_bias = nn.Parameter(torch.tensor(float(init_bias)), requires_grad=learn_bias)

    @staticmethod
    def _block(first: Tensor, second: Tensor, scale: Tensor, bias: Tensor, negative_only: bool) -> Tensor:
        logits = scale * first @ second.T + bias
        labels = -torch.ones_like(logits)
        if not negative_only:
            labels = labels + 2 * torch.eye(*logits.shape, device=logits.device, dtype=logits.dtype)
        return -F.logsigmoid(labels * logits).sum() / first.shape[0]

    def pair_loss(self, first: Tensor, second: Tensor, scale: Tensor, rank: int, world_size: int) -> Tensor:
        loss = self._block(first, second, scale, self.logit_bias, negative_only=False)
        if world_size > 1:
            for other_rank, other in enumerate(gather_with_grad(second)):
                if other_rank != rank:
                    loss = loss + self._block(first, other, scale, self.logit_bias, negative_only=True)
        return loss

    def extra_logs(self) -> dict[str, Tensor]:
        return {"bias": self.logit_bias.detach()}
