"""Speech quality inspection, the application mmzoo was built for: the ``speech_qc`` datamodule
(synthetic corruptions of clean speech and their labels), the hand-made heuristics and their
baseline, and the QC report ``mmzoo predict`` writes.

It sits above the generic layers (it uses data, runs and recipes; nothing there imports it) and
registers its datamodule through its own ``mmzoo-qc`` entry point, as a third-party plugin would.
"""

from __future__ import annotations

from pathlib import Path

from mmzoo.hookspecs import hookimpl
from mmzoo.qc.datamodule import Corruptions, SpeechQCDataModule
from mmzoo.registry import Registrar

__all__ = ["Corruptions", "SpeechQCDataModule"]


def _speech_qc_example() -> dict[str, object]:
    """Options for the contract test: the shipped spoken digits as clean speech, tokenized bytes."""
    from mmzoo.data.transforms.text import Tokenize

    root = Path(__file__).resolve().parents[2] / "recipes" / "data" / "digits" / "asr"
    return {
        "train": str(root / "val.jsonl"),
        "val": str(root / "val.jsonl"),
        "batch_size": 6,
        "transforms": {"text": [Tokenize(tokenizer="byt5")]},
    }


@hookimpl
def mmzoo_register_datamodules(registrar: Registrar) -> None:
    registrar.add("speech_qc", SpeechQCDataModule, example=_speech_qc_example)
