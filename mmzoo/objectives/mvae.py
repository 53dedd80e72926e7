"""Negative ELBO of a multimodal VAE head over its subsets of modalities, with missing-modality metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor

from mmzoo.constraints import NonNegativeFloat, NonNegativeInt
from mmzoo.contracts import Batch, LossOutput, ModalityInput, ModalitySpec, Objective
from mmzoo.heads.mvae import ModalityLikelihood, MVAEHead, row_present, subset_name

__all__ = ["MVAEObjective"]


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per row ``(B,)``."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=-1)


class MVAEObjective(Objective):
    """Negative ELBO of an ``mvae`` head, summed over the subsets of modalities it inferred.

    For each subset ``S`` (full set, single modalities, random subsets) and each row with at least
    one modality of ``S``: ``sum_m w_m * NLL(summary(x_m) | z_S) + beta_t * KL(q(z | x_S) || N(0, I))``,
    where ``m`` runs over the modalities present in the row (and, with ``reconstruct: subset``,
    in ``S``). Targets are the same summaries the head's decoders reconstruct
    (:meth:`ModalityLikelihood.summarize`). The loss is averaged over the batch's rows.

    KL annealing: ``beta_t = beta * min(1, t / kl_warmup_steps)``, with ``t`` the training steps
    this objective has seen (a buffer, counted only in training mode).

    Logs ``kl``, ``recon/<m>`` (summed over subsets, per row) and ``beta``. Metrics (the
    missing-modality evaluation, in eval mode): for each ordered pair of modalities the mean
    squared error of the reconstruction (summary space) of ``m`` from ``m'`` alone,
    ``recon_error/<m>|<m'>``, and from the prior mean, ``recon_error/<m>|prior``, on the rows that
    have the modalities involved.

    Args:
        head: name of the ``mvae`` head in ``model.heads``.
        beta: weight of the KL term once warmed up.
        kl_warmup_steps: training steps of the linear KL warm-up from 0 to ``beta``; 0 for none.
        weights: modality -> non-negative weight of its reconstruction NLL (default 1 each).
        reconstruct: ``subset`` (the paper: each subset's ELBO reconstructs its own modalities) or
            ``all`` (every subset also reconstructs the other present modalities, cross-modal terms).
    """

    def __init__(
        self,
        head: str = "mvae",
        heads: Mapping[str, Any] | None = None,
        beta: NonNegativeFloat = 1.0,
        kl_warmup_steps: NonNegativeInt = 0,
        weights: dict[str, NonNegativeFloat] | None = None,
        reconstruct: Literal["subset", "all"] = "subset",
    ) -> None:
        super().__init__()
        if beta < 0 or kl_warmup_steps < 0:
            raise ValueError(f"mvae: beta and kl_warmup_steps must be >= 0, got {beta}, {kl_warmup_steps}")
        if reconstruct not in ("subset", "all"):
            raise ValueError(f"mvae: reconstruct must be 'subset' or 'all', got '{reconstruct}'")
        self.head = head
        self.beta = beta
        self.kl_warmup_steps = kl_warmup_steps
        self.reconstruct = reconstruct
        self.weights = dict(weights or {})
        self.likelihoods: dict[str, ModalityLikelihood] | None = None
        built = (heads or {}).get(head)
        if built is not None:
            if not isinstance(built, MVAEHead):
                raise ValueError(f"mvae objective: head '{head}' is a {type(built).__name__}, not an mvae head")
            self._use_head(built)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def _use_head(self, head: MVAEHead) -> None:
        unknown = sorted(set(self.weights) - set(head.modalities))
        if unknown:
            raise ValueError(
                f"mvae objective: weights for unmodelled modalities {unknown} (modelled: {head.modalities})"
            )
        self.likelihoods = dict(head.likelihoods)

    def current_beta(self) -> float:
        """The KL weight at the current step of the warm-up."""
        if self.kl_warmup_steps == 0:
            return self.beta
        return self.beta * min(1.0, int(self.step) / self.kl_warmup_steps)

    def _targets(self, batch: Batch) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        assert self.likelihoods is not None, "mvae objective: no head to take the likelihoods from"
        targets = {m: lik.summarize(batch.inputs[m]) for m, lik in self.likelihoods.items()}
        present = {m: row_present(batch.inputs[m].mask) for m in self.likelihoods}
        return targets, present

    def forward(self, outputs: Mapping[str, Any], batch: Batch) -> LossOutput:
        output = outputs[self.head]
        targets, present = self._targets(batch)
        beta = self.current_beta()
        rows = len(batch.ids)
        total_kl = torch.zeros((), device=output["z_mean"].device)
        recon_logs = {m: torch.zeros_like(total_kl) for m in targets}
        for name, subset in output["subsets"].items():
            members = set(name.split("+"))
            valid = subset["rows"].float()
            kl = (gaussian_kl(subset["mu"], subset["logvar"]) * valid).sum() / rows
            total_kl = total_kl + kl
            for m, params in subset["recon"].items():
                if self.reconstruct == "subset" and m not in members:
                    continue
                nll = self.likelihoods[m].nll(params, targets[m])  # type: ignore[index]
                gate = present[m].float() * valid
                recon_logs[m] = recon_logs[m] + self.weights.get(m, 1.0) * (nll * gate).sum() / rows
        loss = sum(recon_logs.values()) + beta * total_kl
        if self.training:
            self.step += 1
        logs = {"kl": total_kl.detach(), "beta": torch.tensor(beta, device=total_kl.device)}
        logs.update({f"recon/{m}": value.detach() for m, value in recon_logs.items()})
        return LossOutput(loss, logs)

    # -- metrics ----------------------------------------------------------------------------------

    def make_metrics(self) -> dict[str, Any]:
        from torchmetrics import MeanMetric

        if not self.likelihoods or len(self.likelihoods) < 2:
            return {}
        names = sorted(self.likelihoods)
        made = {f"recon_error/{m}|{source}": MeanMetric() for m in names for source in names if source != m}
        made.update({f"recon_error/{m}|prior": MeanMetric() for m in names})
        return made

    def update_metrics(self, metrics: Any, outputs: Mapping[str, Any], batch: Batch) -> None:
        output = outputs[self.head]
        targets, present = self._targets(batch)
        for name, metric in metrics.items(keep_base=True):
            target_m, source = name.removeprefix("recon_error/").split("|")
            lik = self.likelihoods[target_m]  # type: ignore[index]
            if source == "prior":
                params, rows = output["prior_recon"][target_m], present[target_m]
            else:
                subset = output["subsets"].get(source)
                if subset is None:
                    continue
                params, rows = subset["recon"][target_m], present[target_m] & present[source]
            if bool(rows.any()):
                metric.update(lik.error(params.detach(), targets[target_m])[rows])

    def example_inputs(self, batch_size: int) -> tuple[dict[str, Any], Batch]:
        if self.likelihoods is None:
            specs = {
                "audio": ModalitySpec(kind="features", feature_dim=5),
                "text": ModalitySpec(kind="tokens", vocab_size=7),
            }
            self._use_head(
                MVAEHead(in_dim=4, latent_dim=3, hidden_dim=8, encoder_dims={"audio": 4, "text": 4}, input_specs=specs)
            )
        assert self.likelihoods is not None
        generator = torch.Generator().manual_seed(0)
        inputs: dict[str, ModalityInput] = {}
        for index, (m, lik) in enumerate(sorted(self.likelihoods.items())):
            lengths = torch.tensor([(row + index) % 4 for row in range(batch_size)])  # some rows lack m
            if lik.kind == "image":
                h, w = lik.image_size
                values = torch.rand(batch_size, lik.dim // (h * w), h, w, generator=generator)
                mask = (lengths > 0).unsqueeze(1)
            else:
                mask = torch.arange(3).unsqueeze(0) < lengths.unsqueeze(1)
                if lik.kind == "tokens":
                    values = torch.randint(1, lik.dim, (batch_size, 3), generator=generator)
                else:
                    values = torch.randn(batch_size, 3, lik.dim, generator=generator)
            inputs[m] = ModalityInput(values, mask)
        present = {m: row_present(inp.mask) for m, inp in inputs.items()}
        names = sorted(self.likelihoods)
        latent = 3

        def leaf(*shape: int, grad: bool = True) -> Tensor:
            return torch.randn(*shape, generator=generator).requires_grad_(grad)

        subsets = {}
        for members in [names] + [[m] for m in names]:
            recon = {
                m: leaf(batch_size, lik.out_dim, grad=self.reconstruct == "all" or m in members)
                for m, lik in self.likelihoods.items()
            }
            rows = torch.stack([present[m] for m in members]).any(dim=0)
            mu, logvar = leaf(batch_size, latent), leaf(batch_size, latent)
            subsets[subset_name(members)] = {"mu": mu, "logvar": logvar, "z": mu, "rows": rows, "recon": recon}
        output = {
            "z_mean": subsets[subset_name(names)]["mu"],
            "present": present,
            "subsets": subsets,
            "prior_recon": {m: leaf(batch_size, lik.out_dim, grad=False) for m, lik in self.likelihoods.items()},
        }
        return {self.head: output}, Batch(inputs=inputs, targets={}, ids=[str(i) for i in range(batch_size)])
