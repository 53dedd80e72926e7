"""Any Hugging Face transformers encoder (BERT, RoBERTa, DistilBERT...) over token ids."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._input import expect_input_kind
from mmzoo.encoders._sequence import first_real
from mmzoo.ops.masking import masked_mean

__all__ = ["HFTextEncoder"]

# Where transformers models keep their list of layers, most common first.
_LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers", "layer", "transformer.h", "h")


def _find_layers(model: nn.Module) -> list[nn.Module]:
    for path in _LAYER_PATHS:
        try:
            found = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(found, nn.ModuleList) and len(found):
            return list(found)
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m)]
    return list(max(lists, key=len)) if lists else []


class HFTextEncoder(Encoder):
    """A transformers encoder model, built from a config (offline) or loaded from a checkpoint.

    Without ``pretrained`` the model is built from ``AutoConfig.for_model(model_type, **config)``
    with random weights (nothing is downloaded); ``vocab_size`` and ``pad_token_id`` come from the
    input spec unless ``config`` sets them. With ``pretrained`` the weights are loaded by
    ``AutoModel.from_pretrained``: a local directory written by ``save_pretrained`` works offline,
    a hub name works when online; ``config`` entries then override the checkpoint's config. The
    token ids must come from the matching tokenizer (the datamodule's job).

    The mask is passed as ``attention_mask``. Attention inside the model is transformers' own
    implementation: this (with ``conformer`` and ``wav2vec2``/``hubert``) is one of the documented
    places where attention does not go through :func:`mmzoo.ops.attention.attention`.
    ``blocks()`` lists the model's layers when it can find them (``encoder.layer`` for BERT-like
    models, ``transformer.layer`` for DistilBERT...); gradient checkpointing uses transformers'
    own (``activation_checkpointing_enable()``, formerly ``gradient_checkpointing_enable()``).

    Args:
        model_type: a transformers model type for ``AutoConfig.for_model`` (``bert``, ``roberta``,
            ``distilbert``, ``electra``...); ignored with ``pretrained``.
        config: config values, e.g. ``{hidden_size: 64, num_hidden_layers: 2,
            num_attention_heads: 2, intermediate_size: 128}`` (names as the model's config class).
        pretrained: a local directory (or, online, a hub name) to load weights and config from.
        pool: ``cls`` (the first real position, i.e. the tokenizer's ``[CLS]``/``<s>``) or ``mean``
            over real positions.

    Inputs:
        values: long ``(B, T)`` token ids; mask: bool ``(B, T)``.
    Returns:
        :class:`Encoded` with ``seq (B, T, hidden_size)``, ``mask (B, T)``, ``pooled (B, hidden_size)``.
    """

    input_kinds = ("tokens",)

    def __init__(
        self,
        input_spec: ModalitySpec,
        model_type: str = "bert",
        config: dict[str, Any] | None = None,
        pretrained: str | None = None,
        pool: Literal["cls", "mean"] = "cls",
    ) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        expect_input_kind("hf_text", input_spec, "tokens")
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        overrides = dict(config or {})
        if pretrained:
            model = AutoModel.from_pretrained(pretrained, **overrides)
        else:
            if input_spec.vocab_size:
                overrides.setdefault("vocab_size", input_spec.vocab_size)
            overrides.setdefault("pad_token_id", input_spec.pad_id)
            try:
                model_config = AutoConfig.for_model(model_type, **overrides)
            except ValueError as exc:
                raise ValueError(f"hf_text: {exc}") from exc
            model = AutoModel.from_config(model_config)
        vocab = getattr(model.config, "vocab_size", None)
        if input_spec.vocab_size and vocab and input_spec.vocab_size > vocab:
            raise ValueError(
                f"hf_text: the data has {input_spec.vocab_size} token ids but the model's vocabulary has {vocab}"
            )
        if isinstance(getattr(model, "pooler", None), nn.Module):
            model.pooler = None  # the task pooler (BERT's tanh layer) is not used; drop its weights
        self.model = model
        self.pool = pool
        self.dim = int(model.config.hidden_size)

    def blocks(self) -> list[nn.Module]:
        """The model's transformer layers, input to output (empty when none are found)."""
        return _find_layers(self.model)

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each layer in the backward pass, through transformers' own checkpointing."""
        if not getattr(self.model, "supports_gradient_checkpointing", False):
            raise ValueError(f"{type(self.model).__name__} does not support gradient checkpointing")
        if hasattr(self.model.config, "use_cache"):
            self.model.config.use_cache = False  # a decoder cache cannot be checkpointed (and is unused here)
        options = {"use_reentrant": False}
        enable = getattr(self.model, "activation_checkpointing_enable", None)  # transformers >= 5
        if callable(enable):
            enable(activation_checkpointing_kwargs=options)
        else:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        hidden = self.model(input_ids=values, attention_mask=mask.to(torch.long)).last_hidden_state
        seq = hidden * mask.unsqueeze(-1).to(hidden.dtype)
        pooled = first_real(seq, mask) if self.pool == "cls" else masked_mean(seq, mask)
        return Encoded(seq=seq, mask=mask, pooled=pooled)
