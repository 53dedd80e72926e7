"""The options every encoder accepts: freezing, LoRA, a projection, gradient checkpointing.

They are recipe keys next to the encoder's own options (see
:class:`~mmzoo.recipe.schema.EncoderSettings`) and are applied here, after the encoder is built,
so that no encoder has to implement them. Two of them need the encoder to list its repeated
blocks through ``blocks()`` (input to output): ``train_last`` and, unless the encoder offers
``enable_gradient_checkpointing()`` itself, ``gradient_checkpointing``.
"""

from __future__ import annotations

from torch import Tensor, nn

from mmzoo.contracts import Encoded, Encoder
from mmzoo.recipe.schema import EncoderSettings, LoraSettings
from mmzoo.scaling.checkpointing import blocks_of, enable_activation_checkpointing

__all__ = ["apply_encoder_settings", "ProjectedEncoder"]


class ProjectedEncoder(Encoder):
    """An encoder followed by a linear projection of ``seq`` and ``pooled`` to ``dim``.

    Inputs/Returns: as the wrapped encoder, with width ``dim``.
    """

    def __init__(self, encoder: nn.Module, dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.dim = dim
        self.input_kinds = getattr(encoder, "input_kinds", ("features",))
        self.proj = nn.Linear(encoder.dim, dim)

    def blocks(self) -> list[nn.Module]:
        return blocks_of(self.encoder)

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        out = self.encoder(values, mask)
        seq = self.proj(out.seq) * out.mask.unsqueeze(-1).to(out.seq.dtype)
        return Encoded(seq=seq, mask=out.mask, pooled=self.proj(out.pooled))


def _set_trainable(module: nn.Module, trainable: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(trainable)


def _add_lora(encoder: nn.Module, lora: LoraSettings) -> None:
    import peft

    targets = lora.target_modules
    if targets is None:
        # Every linear layer, except those that nn.MultiheadAttention reads as raw weights.
        attention_children = {
            f"{name}.{child}" if name else child
            for name, module in encoder.named_modules()
            if isinstance(module, nn.MultiheadAttention)
            for child, _ in module.named_children()
        }
        targets = [
            name
            for name, module in encoder.named_modules()
            if isinstance(module, nn.Linear) and name not in attention_children
        ]
    if not targets:
        raise ValueError("lora: the encoder has no linear layers to adapt")
    config = peft.LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets)
    try:
        peft.inject_adapter_in_model(config, encoder)
    except ValueError as exc:
        raise ValueError(f"lora: {exc}") from exc
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad_("lora_" in name)


def apply_encoder_settings(encoder: nn.Module, settings: EncoderSettings) -> nn.Module:
    """Apply the common encoder options; returns the encoder (wrapped when projected).

    Raises:
        ValueError: an option the encoder cannot honour (no blocks for ``train_last``, more blocks
            asked for than it has, nothing for LoRA to adapt).
    """
    if settings.freeze and (settings.lora or settings.train_last is not None):
        raise ValueError("freeze: true trains nothing; drop it when using lora or train_last")
    if settings.lora is not None:
        _add_lora(encoder, settings.lora)
    if settings.freeze:
        _set_trainable(encoder, False)
    if settings.train_last is not None:
        blocks = blocks_of(encoder)
        if not blocks:
            raise ValueError(f"train_last: {type(encoder).__name__} does not list its blocks (no blocks() method)")
        if not 0 <= settings.train_last <= len(blocks):
            raise ValueError(f"train_last must be between 0 and {len(blocks)} (the encoder's blocks)")
        _set_trainable(encoder, False)
        for block in blocks[len(blocks) - settings.train_last :]:
            _set_trainable(block, True)
    if settings.gradient_checkpointing and not enable_activation_checkpointing(encoder):
        raise ValueError(
            f"gradient_checkpointing: {type(encoder).__name__} does not list its blocks (no blocks() method)"
        )
    if settings.project_dim is not None:
        return ProjectedEncoder(encoder, settings.project_dim)
    return encoder
