"""Raw-waveform encoders: wav2vec 2.0 and HuBERT from torchaudio's model builders."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchaudio import models

from mmzoo.constraints import PositiveInt, Probability
from mmzoo.contracts import Encoded, Encoder, ModalitySpec
from mmzoo.encoders._input import expect_input_kind
from mmzoo.encoders._sequence import compact, compact_order, lengths_to_mask, masked_group_norm
from mmzoo.ops.masking import masked_max, masked_mean

__all__ = ["Wav2Vec2Encoder", "HubertEncoder"]

# Six convolutions, 32 channels, total stride 160 (100 frames per second at 16 kHz). Built from
# separate lists so that no two entries are the same object (YAML listings would show anchors).
_TINY_CONV = tuple(tuple(layer) for layer in [[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 2, 2], [32, 2, 2]])


_Init = TypeVar("_Init", bound=Callable[..., None])


def _same_options(init: Callable[..., None], **types: Any) -> Callable[[_Init], _Init]:
    """Make a pass-through ``__init__`` take the options of ``init``, some of them with other types.

    The decorated ``__init__`` hands ``*args, **kwargs`` on unchanged. Its signature, which the
    registry reads as the option schema (``inspect.signature`` follows ``__wrapped__``), is
    ``init``'s: the same names, order and defaults. Its annotations are ``init``'s with ``types``
    (option name -> type) put in. HuBERT takes wav2vec 2.0's options this way, with its own sizes.
    """

    def wrap(wrapper: _Init) -> _Init:
        functools.update_wrapper(wrapper, init, assigned=(), updated=())  # sets __wrapped__ only
        wrapper.__annotations__ = {**init.__annotations__, **types}
        return wrapper

    return wrap


_DOC = """{title}

    ``size: custom`` builds ``torchaudio.models.wav2vec2_model`` from the explicit options below
    (the defaults make a tiny model: 2 layers of width 64 over a 6-layer convolutional extractor
    with stride 160, i.e. 100 frames per second at 16 kHz). ``size: {sizes}`` calls torchaudio's
    ``{prefix}_<size>`` builder instead ({what}); the architecture options are then ignored and
    only the dropouts apply. ``checkpoint_path`` loads a local state dict saved from a model of
    the same configuration (``torch.save(model.state_dict(), path)``, e.g. from a torchaudio
    bundle's ``get_model()``); its ``aux.*`` fine-tuning head, if any, is ignored. Nothing is
    downloaded. Pretrained base and large models expect 16 kHz audio.

    The mask gives each row's length in samples (real samples are moved to the front first when
    the mask is not a prefix). The convolutional extractor is run layer by layer with torchaudio's
    length arithmetic; group norm (``extractor_mode: group_norm``) takes its statistics over real
    frames only, so a row encodes the same alone or in a padded batch and padded samples never
    reach real frames. The transformer masks padded frames itself. Its attention is torchaudio's
    own: like ``hf_text``, a documented exception to :func:`mmzoo.ops.attention.attention`.
    ``blocks()`` lists the transformer layers (the feature extractor is not a block, so
    ``train_last`` freezes it). Output frames past a row's length are zero; rows without any
    sample give zeros.

    Args:
        size: ``custom`` (the options below) or a named torchaudio configuration.
        dim: transformer width (``custom``).
        layers: transformer layers (``custom``).
        heads: attention heads (``custom``).
        ff_dim: feed-forward hidden width (``custom``).
        conv_layers: extractor convolutions as ``[channels, kernel, stride]`` triples (``custom``).
        extractor_mode: ``layer_norm`` (every extractor layer) or ``group_norm`` (first layer
            only, as in base models) (``custom``).
        conv_bias: bias in the extractor convolutions (``custom``).
        pos_conv_kernel: kernel of the convolutional position embedding (``custom``).
        pos_conv_groups: groups of the convolutional position embedding (``custom``).
        layer_norm_first: pre-norm transformer layers (``custom``; large models use it).
        dropout: dropout on the projected features, attention, feed-forward and layer outputs.
        layer_drop: probability of skipping each transformer layer in training.
        normalize_waveform: standardise each row over its real samples first (what large
            pretrained models expect).
        checkpoint_path: a local state dict for this configuration.
        pool: ``mean`` or ``max`` over real output frames.

    Inputs:
        values: float ``(B, T)`` samples; mask: bool ``(B, T)``.
    Returns:
        :class:`Encoded` with ``seq (B, T', dim)`` (``T'`` from the extractor's strides),
        ``mask (B, T')`` (the model's output lengths), ``pooled (B, dim)``.
    """


class Wav2Vec2Encoder(Encoder):
    input_kinds = ("waveform",)
    _BUILDERS: ClassVar[dict[str, Callable[..., Any]]] = {
        "base": models.wav2vec2_base,
        "large": models.wav2vec2_large,
        "large_lv60k": models.wav2vec2_large_lv60k,
    }
    _NAME: ClassVar[str] = "wav2vec2"

    def __init__(
        self,
        input_spec: ModalitySpec,
        size: Literal["custom", "base", "large", "large_lv60k"] = "custom",
        dim: PositiveInt = 64,
        layers: PositiveInt = 2,
        heads: PositiveInt = 2,
        ff_dim: PositiveInt = 128,
        conv_layers: Sequence[Sequence[PositiveInt]] = _TINY_CONV,
        extractor_mode: Literal["layer_norm", "group_norm"] = "layer_norm",
        conv_bias: bool = True,
        pos_conv_kernel: PositiveInt = 16,
        pos_conv_groups: PositiveInt = 4,
        layer_norm_first: bool = True,
        dropout: Probability = 0.1,
        layer_drop: Probability = 0.0,
        normalize_waveform: bool = False,
        checkpoint_path: str | None = None,
        pool: Literal["mean", "max"] = "mean",
    ) -> None:
        super().__init__()
        expect_input_kind(self._NAME, input_spec, "waveform")
        dropouts = {
            "encoder_projection_dropout": dropout,
            "encoder_attention_dropout": dropout,
            "encoder_ff_interm_dropout": dropout,
            "encoder_dropout": dropout,
            "encoder_layer_drop": layer_drop,
        }
        if size == "custom":
            triples = [tuple(int(v) for v in layer) for layer in conv_layers]
            if not triples or any(len(t) != 3 for t in triples):
                raise ValueError("conv_layers must be a non-empty list of [channels, kernel, stride] triples")
            self.model = models.wav2vec2_model(
                extractor_mode=extractor_mode,
                extractor_conv_layer_config=triples,
                extractor_conv_bias=conv_bias,
                encoder_embed_dim=dim,
                encoder_pos_conv_kernel=pos_conv_kernel,
                encoder_pos_conv_groups=pos_conv_groups,
                encoder_num_layers=layers,
                encoder_num_heads=heads,
                encoder_ff_interm_features=ff_dim,
                encoder_layer_norm_first=layer_norm_first,
                aux_num_out=None,
                **dropouts,
            )
        elif size in self._BUILDERS:
            self.model = self._BUILDERS[size](**dropouts)
            if input_spec.sample_rate not in (None, 16000, 16000.0):
                warnings.warn(
                    f"{self._NAME} '{size}' models are trained on 16 kHz audio; the data is at"
                    f" {input_spec.sample_rate} Hz",
                    stacklevel=2,
                )
        else:
            raise ValueError(f"{self._NAME}: size must be 'custom' or one of {sorted(self._BUILDERS)}, got {size!r}")
        if checkpoint_path:
            state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("aux.")}
            self.model.load_state_dict(state)
        self.normalize_waveform = normalize_waveform
        self.pool = pool
        self.dim = int(self.model.encoder.feature_projection.projection.out_features)

    def blocks(self) -> list[nn.Module]:
        """The transformer layers, input to output."""
        return list(self.model.encoder.transformer.layers)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Frames the extractor makes from ``lengths`` samples (torchaudio's arithmetic)."""
        for layer in self.model.feature_extractor.conv_layers:
            lengths = torch.div(lengths - layer.kernel_size, layer.stride, rounding_mode="floor") + 1
            lengths = lengths.clamp_min(0)
        return lengths

    def _extract(self, wave: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """The convolutional extractor, with group-norm statistics over real frames only.

        Inputs:
            wave: ``(B, T)``; lengths: long ``(B,)``.
        Returns:
            ``(B, T', C)`` frames and their lengths ``(B,)``.
        """
        x = wave.unsqueeze(1)
        for layer in self.model.feature_extractor.conv_layers:
            x = layer.conv(x)
            lengths = torch.div(lengths - layer.kernel_size, layer.stride, rounding_mode="floor") + 1
            lengths = lengths.clamp_min(0)
            norm = layer.layer_norm
            if isinstance(norm, nn.GroupNorm):
                x = masked_group_norm(x, lengths_to_mask(lengths, x.shape[-1]), norm)
            elif norm is not None:
                x = norm(x)
            x = F.gelu(x)
        return x.transpose(1, 2), lengths

    def forward(self, values: Tensor, mask: Tensor) -> Encoded:
        order = compact_order(mask)
        wave = compact(values.unsqueeze(-1), order).squeeze(-1)  # real samples first
        lengths = mask.sum(dim=1)
        real = lengths_to_mask(lengths, wave.shape[1]).to(wave.dtype)
        wave = wave * real
        if self.normalize_waveform:
            count = real.sum(dim=1, keepdim=True).clamp_min(1.0)
            mean = wave.sum(dim=1, keepdim=True) / count
            var = ((wave - mean).square() * real).sum(dim=1, keepdim=True) / count
            wave = (wave - mean) * torch.rsqrt(var + 1e-5) * real
        frames, frame_lengths = self._extract(wave, lengths)
        x = self.model.encoder(frames, frame_lengths)
        frame_mask = lengths_to_mask(frame_lengths, x.shape[1])
        seq = x * frame_mask.unsqueeze(-1).to(x.dtype)
        pooled = masked_mean(seq, frame_mask) if self.pool == "mean" else masked_max(seq, frame_mask)
        return Encoded(seq=seq, mask=frame_mask, pooled=pooled)


class HubertEncoder(Wav2Vec2Encoder):
    _BUILDERS: ClassVar[dict[str, Callable[..., Any]]] = {
        "base": models.hubert_base,
        "large": models.hubert_large,
        "xlarge": models.hubert_xlarge,
    }
    _NAME: ClassVar[str] = "hubert"

    # wav2vec 2.0's options, descriptions and defaults; only the named sizes differ.
    @_same_options(Wav2Vec2Encoder.__init__, size=Literal["custom", "base", "large", "xlarge"])
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


Wav2Vec2Encoder.__doc__ = _DOC.format(
    title="wav2vec 2.0 over raw waveforms (torchaudio's model), tiny by default, offline.",
    sizes="base | large | large_lv60k",
    prefix="wav2vec2",
    what="the published wav2vec 2.0 architectures",
)
HubertEncoder.__doc__ = _DOC.format(
    title="HuBERT over raw waveforms (torchaudio's model), tiny by default, offline.",
    sizes="base | large | xlarge",
    prefix="hubert",
    what="HuBERT's published architectures; HuBERT shares wav2vec 2.0's network and differs in pretraining",
)
