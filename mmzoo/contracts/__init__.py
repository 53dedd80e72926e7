"""Every contract a plugin implements or relies on, one module per kind.

- :mod:`~mmzoo.contracts.batch`: what flows between the parts (``ModalitySpec``, ``ModalityInput``,
  ``Batch``, ``Encoded``, ``Fused``, ``LossOutput``), with every shape and mask convention;
- :mod:`~mmzoo.contracts.encoder`, :mod:`~mmzoo.contracts.fusion`, :mod:`~mmzoo.contracts.head`,
  :mod:`~mmzoo.contracts.decoder`, :mod:`~mmzoo.contracts.objective`,
  :mod:`~mmzoo.contracts.weighting`: the model's parts;
- :mod:`~mmzoo.contracts.transform`: per-example data transforms;
- :mod:`~mmzoo.contracts.datamodule`: ``MultimodalDataModule`` with its optional hooks, and the
  ``PredictionWriter`` protocol. It imports Lightning, so it is not re-exported here: import it
  from its module (or as ``mmzoo.data.MultimodalDataModule``).

The component packages (``mmzoo.encoders`` ...) implement these; nothing here imports them. What
a component declares on its class (a fusion's ``handles_missing``, an encoder's ``input_kinds``) is
read once when it is registered and kept on its registry entry (:class:`mmzoo.registry.Entry`).
"""

from mmzoo.contracts.batch import Batch, Encoded, Fused, LossOutput, ModalityInput, ModalitySpec
from mmzoo.contracts.decoder import (
    EOS,
    IGNORE,
    Decoder,
    DecoderSettings,
    DecoderState,
    SearchSettings,
    bos_id,
    teacher_forcing,
)
from mmzoo.contracts.encoder import Encoder
from mmzoo.contracts.fusion import Fusion
from mmzoo.contracts.head import CalibratedHead, Head, logits_of
from mmzoo.contracts.objective import Objective
from mmzoo.contracts.transform import Transform
from mmzoo.contracts.weighting import Weighting

__all__ = [
    "ModalitySpec",
    "ModalityInput",
    "Batch",
    "Encoded",
    "Fused",
    "LossOutput",
    "Encoder",
    "Fusion",
    "CalibratedHead",
    "Decoder",
    "DecoderSettings",
    "DecoderState",
    "EOS",
    "IGNORE",
    "SearchSettings",
    "bos_id",
    "teacher_forcing",
    "Head",
    "logits_of",
    "Objective",
    "Transform",
    "Weighting",
]
