"""Built-in sequence decoders, registered through the ``mmzoo-decoders`` entry point like any plugin."""

from __future__ import annotations

from mmzoo.decoders.lstm import LSTMDecoder
from mmzoo.decoders.transformer import TransformerDecoder
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = ["LSTMDecoder", "TransformerDecoder"]


@hookimpl
def mmzoo_register_decoders(registrar: Registrar) -> None:
    registrar.add(
        "transformer",
        TransformerDecoder,
        example={"vocab_size": 5, "dim": 16, "heads": 2, "layers": 1},
        paper="Vaswani et al., 2017, 'Attention Is All You Need'",
    )
    registrar.add(
        "lstm",
        LSTMDecoder,
        example={"vocab_size": 5, "dim": 16, "location_kernel": 3},
        paper="Chorowski et al., 2015, 'Attention-Based Models for Speech Recognition'",
    )
