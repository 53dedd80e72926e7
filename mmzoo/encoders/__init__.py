"""Built-in encoders, registered through the ``mmzoo-encoders`` entry point like any plugin.

Text: ``hf_text`` (any transformers encoder), ``rnn``, ``transformer``, ``bag``, ``conv1d``.
Images: ``timm`` (any timm model), ``small_cnn``, ``small_vit``. Audio features (log-mel...):
``cnn2d``, ``conformer``, ``conv1d``, ``rnn`` and ``transformer`` (which is also the audio
transformer: its ``subsample`` option adds a strided convolution front-end). Raw waveforms:
``wav2vec2``, ``hubert``.
"""

from __future__ import annotations

from mmzoo.encoders.bag import BagEncoder
from mmzoo.encoders.cnn2d import CNN2dEncoder
from mmzoo.encoders.conformer import ConformerEncoder
from mmzoo.encoders.conv1d import Conv1dEncoder
from mmzoo.encoders.hf_text import HFTextEncoder
from mmzoo.encoders.rnn import RNNEncoder
from mmzoo.encoders.small_cnn import SmallCNNEncoder
from mmzoo.encoders.small_vit import SmallViTEncoder
from mmzoo.encoders.timm_image import TimmImageEncoder
from mmzoo.encoders.transformer import TransformerEncoder
from mmzoo.encoders.wav2vec2 import HubertEncoder, Wav2Vec2Encoder
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = [
    "BagEncoder",
    "CNN2dEncoder",
    "ConformerEncoder",
    "Conv1dEncoder",
    "HFTextEncoder",
    "HubertEncoder",
    "RNNEncoder",
    "SmallCNNEncoder",
    "SmallViTEncoder",
    "TimmImageEncoder",
    "TransformerEncoder",
    "Wav2Vec2Encoder",
]

_TINY_BERT = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 64,
}
_TINY_VIT = {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2}


@hookimpl
def mmzoo_register_encoders(registrar: Registrar) -> None:
    registrar.add("conv1d", Conv1dEncoder, example={"dim": 16, "layers": 1})
    registrar.add("bag", BagEncoder, example={"dim": 16})
    registrar.add(
        "transformer",
        TransformerEncoder,
        example={"dim": 16, "layers": 2, "heads": 2, "mlp_ratio": 2.0},
        paper="Vaswani et al., Attention Is All You Need, NeurIPS 2017",
    )
    registrar.add("rnn", RNNEncoder, example={"dim": 16, "layers": 2})
    registrar.add("hf_text", HFTextEncoder, example={"model_type": "bert", "config": _TINY_BERT})
    registrar.add("cnn2d", CNN2dEncoder, example={"dim": 16, "channels": [8, 8]})
    registrar.add(
        "conformer",
        ConformerEncoder,
        example={"dim": 16, "layers": 2, "heads": 2, "ffn_dim": 32, "kernel_size": 3},
        paper="Gulati et al., Conformer: Convolution-augmented Transformer for Speech Recognition, Interspeech 2020",
    )
    registrar.add(
        "wav2vec2",
        Wav2Vec2Encoder,
        example={"dim": 32, "layers": 2, "heads": 2, "ff_dim": 64},
        paper="Baevski et al., wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations, NeurIPS 2020",
    )
    registrar.add(
        "hubert",
        HubertEncoder,
        example={"dim": 32, "layers": 1, "heads": 2, "ff_dim": 64, "extractor_mode": "group_norm", "conv_bias": False},
        paper="Hsu et al., HuBERT: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden Units, IEEE/ACM TASLP 2021",
    )
    registrar.add("timm", TimmImageEncoder, example={"model_name": "vit_tiny_patch16_224", "model_kwargs": _TINY_VIT})
    registrar.add("small_cnn", SmallCNNEncoder, example={"channels": [8, 16]})
    registrar.add(
        "small_vit",
        SmallViTEncoder,
        example={"dim": 32, "depth": 1, "heads": 2},
        paper="Dosovitskiy et al., An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale, ICLR 2021",
    )
