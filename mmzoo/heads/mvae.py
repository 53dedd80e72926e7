"""Multimodal VAE (Wu & Goodman 2018): per-modality Gaussian experts, product of experts, decoders.

The head owns the inference networks ``q(z | x_m)`` and the decoders ``p(x_m | z)``; the ``mvae``
objective scores its output (the negative ELBO of each subset of modalities).

What a decoder reconstructs is a fixed-size *summary* of its modality's input, computed by
:meth:`ModalityLikelihood.summarize` (shared with the objective):

* ``features`` ``(B, T, F)``: the masked mean over time, ``(F,)``; likelihood ``gaussian``
  (default) or ``laplace``, with unit scale or a learned per-dimension scale.
* ``tokens`` ``(B, T)``: the bag of tokens, normalized counts over the vocabulary ``(V,)``
  (padding excluded); likelihood ``categorical`` (soft-target cross-entropy).
* ``image`` ``(B, C, H, W)``: the pixels area-downsampled to ``image_size``, flattened
  ``(C * h * w,)``; likelihood ``bernoulli`` (default; inputs should lie in ``[0, 1]``, they are
  clamped) or ``gaussian``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmzoo.constraints import NonNegativeInt, PositiveInt
from mmzoo.contracts import Encoded, Fused, Head, ModalityInput, ModalitySpec
from mmzoo.ops.masking import masked_mean

__all__ = ["MVAEHead", "ModalityLikelihood", "product_of_experts", "row_present"]

_LIKELIHOODS = {
    "features": ("gaussian", "laplace"),
    "tokens": ("categorical",),
    "image": ("bernoulli", "gaussian"),
}
_LOG_SCALE_RANGE = (-5.0, 3.0)
_LOGVAR_RANGE = (-12.0, 12.0)


def row_present(mask: Tensor) -> Tensor:
    """``(B,)`` bool: whether each row has the modality (any real position in its mask)."""
    return mask.reshape(mask.shape[0], -1).any(dim=1)


def product_of_experts(mus: Tensor, logvars: Tensor, present_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Precision-weighted product of Gaussian experts and the ``N(0, I)`` prior expert.

    ``precision = 1 + sum_e present_e / var_e`` and ``mean = sum_e present_e * mu_e / var_e /
    precision``; an expert that is absent in a row (``present_mask`` false) is left out of that
    row's product, so a row without any expert gets the prior. Computed in float32.

    Inputs:
        mus, logvars: ``(E, B, L)`` one Gaussian per expert; present_mask: bool ``(E, B)``.
    Returns:
        ``(mu, logvar)``, each ``(B, L)``.
    """
    logvars = logvars.float().clamp(*_LOGVAR_RANGE)
    gate = present_mask.to(torch.float32).unsqueeze(-1)
    expert_precision = torch.exp(-logvars) * gate
    precision = 1.0 + expert_precision.sum(dim=0)
    mu = (mus.float() * expert_precision).sum(dim=0) / precision
    return mu, -torch.log(precision)


@dataclass(frozen=True)
class ModalityLikelihood:
    """How one modality is summarized, decoded and scored (shared by the head and the objective).

    Attributes:
        kind: the :class:`ModalitySpec` kind (``features``, ``tokens`` or ``image``).
        likelihood: ``gaussian``, ``laplace``, ``categorical`` or ``bernoulli``.
        dim: width of the summary (and of the decoder's mean).
        learn_scale: whether the decoder also outputs a log-scale per dimension
            (``gaussian``/``laplace`` only); otherwise the scale is 1.
        pad_id: padding id (``tokens``).
        image_size: ``(h, w)`` of the downsampled image (``image``).
    """

    kind: str
    likelihood: str
    dim: int
    learn_scale: bool = False
    pad_id: int = 0
    image_size: tuple[int, int] = (16, 16)

    @property
    def has_scale(self) -> bool:
        return self.learn_scale and self.likelihood in ("gaussian", "laplace")

    @property
    def out_dim(self) -> int:
        """Width of the decoder output (the distribution's parameters)."""
        return 2 * self.dim if self.has_scale else self.dim

    def summarize(self, inputs: ModalityInput) -> Tensor:
        """The fixed-size target ``(B, dim)`` of a batch's input (float32; zeros for absent rows)."""
        values, mask = inputs
        if self.kind == "features":
            return masked_mean(values.float(), mask)
        if self.kind == "tokens":
            real = mask & (values != self.pad_id)
            ids = values.long().clamp(0, self.dim - 1)
            counts = torch.zeros(values.shape[0], self.dim, device=values.device)
            counts.scatter_add_(1, ids, real.float())
            return counts / counts.sum(dim=1, keepdim=True).clamp_min(1.0)
        if self.kind == "image":
            pooled = F.adaptive_avg_pool2d(values.float(), self.image_size).flatten(1)
            if self.likelihood == "bernoulli":
                pooled = pooled.clamp(0.0, 1.0)
            return pooled * row_present(mask).unsqueeze(1).float()
        raise ValueError(f"mvae: no summary for modality kind '{self.kind}'")

    def split(self, params: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(location or logits, log_scale or None)`` from a decoder output."""
        params = params.float()
        if not self.has_scale:
            return params, None
        loc, log_scale = params.chunk(2, dim=-1)
        return loc, log_scale.clamp(*_LOG_SCALE_RANGE)

    def mean(self, params: Tensor) -> Tensor:
        """The reconstruction in summary space ``(B, dim)``: the distribution's mean."""
        loc, _ = self.split(params)
        if self.likelihood == "categorical":
            return loc.softmax(dim=-1)
        if self.likelihood == "bernoulli":
            return loc.sigmoid()
        return loc

    def nll(self, params: Tensor, target: Tensor) -> Tensor:
        """Negative log-likelihood per row ``(B,)``, summed over the summary's dimensions.

        ``categorical`` is the cross-entropy with the normalized counts (per token, on average).
        """
        loc, log_scale = self.split(params)
        target = target.float()
        if self.likelihood == "categorical":
            return -(target * loc.log_softmax(dim=-1)).sum(dim=-1)
        if self.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(loc, target, reduction="none").sum(dim=-1)
        log_scale = torch.zeros_like(loc) if log_scale is None else log_scale
        if self.likelihood == "gaussian":
            nll = 0.5 * ((target - loc) * torch.exp(-log_scale)).square() + log_scale + 0.5 * math.log(2 * math.pi)
        else:  # laplace
            nll = (target - loc).abs() * torch.exp(-log_scale) + log_scale + math.log(2.0)
        return nll.sum(dim=-1)

    def error(self, params: Tensor, target: Tensor) -> Tensor:
        """Mean squared error per row ``(B,)`` between :meth:`mean` and the target summary."""
        return (self.mean(params) - target.float()).square().mean(dim=-1)


def _likelihood_for(
    modality: str, spec: ModalitySpec, likelihood: str | None, learn_scale: bool, image_size: tuple[int, int]
) -> ModalityLikelihood:
    if spec.kind not in _LIKELIHOODS:
        raise ValueError(
            f"mvae: modality '{modality}' is of kind '{spec.kind}', which has no decoder (supported:"
            f" {sorted(_LIKELIHOODS)}); leave it out with the `modalities` option"
        )
    allowed = _LIKELIHOODS[spec.kind]
    likelihood = likelihood or allowed[0]
    if likelihood not in allowed:
        raise ValueError(f"mvae: likelihood '{likelihood}' for '{modality}' ({spec.kind}) must be one of {allowed}")
    if spec.kind == "features":
        if not spec.feature_dim:
            raise ValueError(f"mvae: modality '{modality}' has no feature_dim")
        dim = spec.feature_dim
    elif spec.kind == "tokens":
        if not spec.vocab_size:
            raise ValueError(f"mvae: modality '{modality}' has no vocab_size")
        dim = spec.vocab_size
    else:
        dim = (spec.channels or 1) * image_size[0] * image_size[1]
    return ModalityLikelihood(
        kind=spec.kind,
        likelihood=likelihood,
        dim=dim,
        learn_scale=learn_scale,
        pad_id=spec.pad_id,
        image_size=image_size,
    )


def _mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim))


def subset_name(modalities: Sequence[str]) -> str:
    """The output key of a subset of modalities: their sorted names joined by ``+``."""
    return "+".join(sorted(modalities))


class MVAEHead(Head):
    """Multimodal VAE: Gaussian experts per modality, product of experts, and decoders.

    For every modality ``m``, an MLP maps ``encoded[m].pooled`` to the Gaussian expert
    ``q(z | x_m) = N(mu_m, exp(logvar_m))``. A subset of modalities is inferred by the product of
    its experts and the ``N(0, I)`` prior (:func:`product_of_experts`); in each row only the
    modalities present there take part. Per subset the head draws ``z`` (reparameterized in
    training, the mean in eval) and decodes every modality's summary (see the module docstring).

    Subsets: the full set, each single modality, and in training ``k_subsets`` random subsets of
    two or more modalities short of the full set (there are none with two modalities).

    Args:
        latent_dim: width of ``z``.
        hidden_dim: width of the hidden layer of every expert and decoder MLP.
        modalities: modalities to model; by default every encoded one.
        likelihoods: modality -> likelihood: ``gaussian`` (default) or ``laplace`` for
            ``features``, ``bernoulli`` (default) or ``gaussian`` for ``image``; ``tokens`` are
            always ``categorical``.
        learn_scale: ``gaussian``/``laplace`` decoders also predict a log-scale per dimension
            (otherwise the scale is 1).
        image_size: side of the downsampled images that are reconstructed.
        k_subsets: random subsets per training step, besides the full set and single modalities.
        fused_expert: add an expert computed from the fused vector to the full-set posterior only
            (the single-modality subsets and the cross-modal API never use it).

    Inputs:
        fused: :class:`Fused` (``pooled`` used only with ``fused_expert``); encoded: modality ->
            :class:`Encoded` with ``pooled (B, D_m)``.
    Returns:
        dict with ``z_mean (B, latent_dim)`` the full-set posterior mean, ``present``
        (modality -> bool ``(B,)``), ``subsets`` (name -> dict of ``mu``, ``logvar``, ``z``
        ``(B, latent_dim)``, ``rows`` bool ``(B,)`` the rows with at least one of its modalities,
        and ``recon`` modality -> decoder output), and ``prior_recon`` (modality -> decoder output
        at ``z = 0``, the prior mean). Subset names are the sorted modality names joined by ``+``.
    """

    def __init__(
        self,
        in_dim: int,
        latent_dim: PositiveInt = 16,
        hidden_dim: PositiveInt = 128,
        modalities: list[str] | None = None,
        likelihoods: dict[str, str] | None = None,
        learn_scale: bool = False,
        image_size: PositiveInt = 16,
        k_subsets: NonNegativeInt = 0,
        fused_expert: bool = False,
        encoder_dims: Mapping[str, int] | None = None,
        input_specs: Mapping[str, ModalitySpec] | None = None,
    ) -> None:
        super().__init__()
        if latent_dim < 1 or hidden_dim < 1 or image_size < 1 or k_subsets < 0:
            raise ValueError("mvae: latent_dim, hidden_dim and image_size must be positive, k_subsets >= 0")
        encoder_dims = dict(encoder_dims or {})
        input_specs = dict(input_specs or {})
        chosen = sorted(modalities if modalities is not None else encoder_dims)
        if not chosen:
            raise ValueError("mvae: no modalities to model (the head needs encoder_dims)")
        for modality in chosen:
            if modality not in encoder_dims or modality not in input_specs:
                raise ValueError(
                    f"mvae: no encoder or input spec for modality '{modality}' (have {sorted(encoder_dims)})"
                )
        unknown = sorted(set(likelihoods or {}) - set(chosen))
        if unknown:
            raise ValueError(f"mvae: likelihoods given for unmodelled modalities {unknown} (modelled: {chosen})")
        self.modalities = chosen
        self.latent_dim = latent_dim
        self.k_subsets = k_subsets
        self.likelihoods = {
            m: _likelihood_for(m, input_specs[m], (likelihoods or {}).get(m), learn_scale, (image_size, image_size))
            for m in chosen
        }
        self.experts = nn.ModuleDict({m: _mlp(encoder_dims[m], hidden_dim, 2 * latent_dim) for m in chosen})
        self.decoders = nn.ModuleDict({m: _mlp(latent_dim, hidden_dim, self.likelihoods[m].out_dim) for m in chosen})
        self.fused_expert = _mlp(in_dim, hidden_dim, 2 * latent_dim) if fused_expert else None

    # -- inference ------------------------------------------------------------------------------

    def _experts(
        self, encoded: Mapping[str, Encoded], modalities: Sequence[str]
    ) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        out = {}
        for m in modalities:
            mu, logvar = self.experts[m](encoded[m].pooled).float().chunk(2, dim=-1)
            out[m] = (mu, logvar, row_present(encoded[m].mask))
        return out

    @staticmethod
    def _poe(experts: Sequence[tuple[Tensor, Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        mus, logvars, present = (torch.stack(parts) for parts in zip(*experts))
        return product_of_experts(mus, logvars, present)

    def infer(self, encoded: Mapping[str, Encoded], from_modalities: Sequence[str]) -> tuple[Tensor, Tensor]:
        """The posterior ``q(z | x_S)`` of a subset ``S`` of modalities (with the prior expert).

        Rows lacking every modality of ``S`` get the prior ``N(0, I)``.

        Returns:
            ``(mu, logvar)``, each ``(B, latent_dim)``.
        """
        unknown = sorted(set(from_modalities) - set(self.modalities))
        if unknown:
            raise ValueError(f"mvae: unknown modalities {unknown} (modelled: {self.modalities})")
        if not from_modalities:
            reference = encoded[self.modalities[0]].pooled
            zeros = torch.zeros(reference.shape[0], self.latent_dim, device=reference.device)
            return zeros, zeros.clone()
        experts = self._experts(encoded, from_modalities)
        return self._poe([experts[m] for m in sorted(from_modalities)])

    def decode(self, z: Tensor) -> dict[str, Tensor]:
        """Decoder outputs (distribution parameters) of every modality from latents ``(B, L)``."""
        return {m: self.decoders[m](z) for m in self.modalities}

    def reconstruct(self, encoded: Mapping[str, Encoded], from_modalities: Sequence[str]) -> dict[str, Tensor]:
        """Reconstructions (summary-space means, ``(B, dim_m)``) of every modality from the
        posterior mean of ``from_modalities`` alone (cross-modal inference)."""
        mu, _ = self.infer(encoded, from_modalities)
        return {m: self.likelihoods[m].mean(params) for m, params in self.decode(mu).items()}

    # -- forward ----------------------------------------------------------------------------------

    def _subsets(self) -> list[list[str]]:
        full = list(self.modalities)
        subsets = [full] + [[m] for m in full if len(full) > 1]
        middle = [list(c) for size in range(2, len(full)) for c in itertools.combinations(full, size)]
        if self.training and self.k_subsets and middle:
            subsets += random.sample(middle, min(self.k_subsets, len(middle)))
        return subsets

    def forward(self, fused: Fused, encoded: Mapping[str, Encoded]) -> dict[str, Any]:
        experts = self._experts(encoded, self.modalities)
        present = {m: experts[m][2] for m in self.modalities}
        full = subset_name(self.modalities)
        subsets: dict[str, dict[str, Any]] = {}
        for members in self._subsets():
            chosen = [experts[m] for m in members]
            name = subset_name(members)
            if name == full and self.fused_expert is not None:
                f_mu, f_logvar = self.fused_expert(fused.pooled).float().chunk(2, dim=-1)
                f_present = torch.stack([experts[m][2] for m in members]).any(dim=0)
                chosen.append((f_mu, f_logvar, f_present))
            mu, logvar = self._poe(chosen)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
            rows = torch.stack([experts[m][2] for m in members]).any(dim=0)
            subsets[name] = {"mu": mu, "logvar": logvar, "z": z, "rows": rows, "recon": self.decode(z)}
        prior_z = torch.zeros_like(subsets[full]["mu"])
        return {
            "z_mean": subsets[full]["mu"],
            "present": present,
            "subsets": subsets,
            "prior_recon": self.decode(prior_z),
        }

    def predict(self, output: Mapping[str, Any]) -> dict[str, Tensor]:
        """``latent (B, latent_dim)`` the full-set posterior mean, and ``recon/<m> (B, dim_m)`` every
        modality reconstructed (summary-space mean, flattened) from the modalities present in the row."""
        full = output["subsets"][subset_name(self.modalities)]
        values = {"latent": output["z_mean"]}
        for m, params in full["recon"].items():
            values[f"recon/{m}"] = self.likelihoods[m].mean(params)
        return values
