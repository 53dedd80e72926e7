"""Any timm image model as an encoder, built without downloads (weights from a local file only)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._image import encode_present_images
from mmzoo.encoders._input import expect_input_kind

__all__ = ["TimmImageEncoder"]

# Containers of repeated blocks in timm models (ViT/EfficientNet ``blocks``, ConvNeXt ``stages``,
# Swin ``layers``), tried before the stages named by ``feature_info`` (ResNet ``layer1``...).
_BLOCK_CONTAINERS = ("blocks", "stages", "layers")


class TimmImageEncoder(Encoder):
    """A timm model: pooled pre-logits features plus the token or feature-map sequence.

    The model is created with ``pretrained=False`` (never downloads). ``checkpoint_path`` loads a
    local state dict (strictly, through timm's ``load_checkpoint``) before the classifier is
    removed, so checkpoints saved with their classification head load too (set ``num_classes`` in
    ``model_kwargs`` when it differs from the architecture's default).

    ``pooled`` is ``forward_head(forward_features(x), pre_logits=True)``. ``seq`` is the output
    of ``forward_features``: ViT tokens ``(B, N, D)`` (prefix tokens such as ``[CLS]`` included)
    or a CNN feature map flattened to ``(B, H * W, C)``; when ``C`` differs from the pooled width
    (MobileNetV3's head convolution) a linear layer maps it to ``dim``. Rows whose image mask is
    ``False`` never reach the model and get zeros. ``blocks()`` lists the model's stages or blocks;
    gradient checkpointing uses timm's ``set_grad_checkpointing()``. Attention in timm's
    transformers is timm's own (not :func:`mmzoo.ops.attention.attention`); prefer ``small_vit``
    when that matters.

    Args:
        model_name: a timm architecture name (``timm.list_models()``), e.g. ``resnet18`` or
            ``vit_tiny_patch16_224``.
        model_kwargs: extra ``timm.create_model`` arguments, e.g. ``{img_size: 32, depth: 2}`` for a
            ViT; ``in_chans`` defaults to the input's channels.
        checkpoint_path: a local weights file for this architecture (``.pth``/``.safetensors``).

    Inputs:
        values: float ``(B, C, H, W)``; mask: bool ``(B, 1)`` (``False`` for rows without an image).
    Returns:
        :class:`Encoded` with ``seq (B, N, dim)``, ``mask (B, N)`` (all ``True`` for rows with an
        image), ``pooled (B, dim)``.
    """

    input_kinds = ("image",)

    def __init__(
        self,
        input_spec: ModalitySpec,
        model_name: str = "resnet18",
        model_kwargs: dict[str, Any] | None = None,
        checkpoint_path: str | None = None,
    ) -> None:
        super().__init__()
        import timm
        import timm.models

        expect_input_kind("timm", input_spec, "image")
        kwargs = dict(model_kwargs or {})
        if input_spec.channels:
            kwargs.setdefault("in_chans", input_spec.channels)
        if kwargs.pop("pretrained", False):
            raise ValueError("timm: weights are never downloaded; pass a local file as checkpoint_path instead")
        model = timm.create_model(model_name, pretrained=False, **kwargs)
        if checkpoint_path:
            timm.models.load_checkpoint(model, checkpoint_path, strict=True)
        model.reset_classifier(0)
        self.model = model
        self.output_fmt = str(getattr(model, "output_fmt", "NCHW"))
        width = int(model.num_features)
        self.dim = int(getattr(model, "head_hidden_size", None) or width)
        self.seq_proj = nn.Linear(width, self.dim) if width != self.dim else None

    def blocks(self) -> list[nn.Module]:
        """The model's repeated blocks or stages, input to output."""
        for name in _BLOCK_CONTAINERS:
            container = getattr(self.model, name, None)
            if isinstance(container, (nn.Sequential, nn.ModuleList)) and len(container) > 1:
                return list(container)
        modules = [self.model.get_submodule(info["module"]) for info in getattr(self.model, "feature_info", [])]
        return [m for m in modules if any(True for _ in m.parameters())]

    def enable_gradient_checkpointing(self) -> None:
        """Recompute blocks in the backward pass (timm's ``set_grad_checkpointing``)."""
        self.model.set_grad_checkpointing(True)

    def _run(self, images: Tensor) -> tuple[Tensor, Tensor]:
        features = self.model.forward_features(images)
        pooled = self.model.forward_head(features, pre_logits=True)
        if features.dim() == 4:
            if self.output_fmt == "NHWC":
                features = features.flatten(1, 2)  # (B, H * W, C)
            else:
                features = features.flatten(2).transpose(1, 2)  # (B, H * W, C)
        if self.seq_proj is not None:
            features = self.seq_proj(features)
        return features, pooled

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        return encode_present_images(self, self._run, values, mask)
