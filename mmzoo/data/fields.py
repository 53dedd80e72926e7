"""How a manifest's fields map to modalities and targets (the ``modalities:``/``targets:`` options)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from mmzoo.constraints import PositiveInt
from mmzoo.ops.text import DEFAULT_ALPHABET, texts_of

__all__ = [
    "ModalityField",
    "TargetField",
    "TranscriptText",
    "encode_target",
    "encode_transcript",
    "missing_target",
]



@dataclass
class ModalityField:
    """One modality read from a manifest field.

    Args:
        type: ``audio`` (a file decoded with soundfile), ``image`` (a file decoded with Pillow) or
            ``text`` (the field's text itself, or a text file with ``text_from_file: true``).
        field: the manifest field; defaults to the modality's name.
        sample_rate: audio is resampled to this rate (Hz).
        channels: image channels, 3 (RGB) or 1 (grey).
        text_from_file: the text field holds a path to a UTF-8 text file.
        optional: rows may lack this modality (empty or absent field): the row then gets an
            all-false mask for it. Otherwise such a row is a bad row.
    """

    type: Literal["audio", "image", "text"]
    field: str | None = None
    sample_rate: PositiveInt = 16000
    channels: Literal[1, 3] = 3
    text_from_file: bool = False
    optional: bool = False


@dataclass
class TargetField:
    """One target read from a manifest field.

    Args:
        type: ``class`` (one label), ``multilabel`` (a list of labels), ``regression`` (a number)
            or ``transcript`` (a text, encoded as character ids for CTC: ``1..V`` for the
            characters of ``alphabet`` after lowercasing, ``0`` being the blank). Transcripts of
            a batch are padded with ``-1`` into ``(B, L)``: lengths are ``(target >= 0).sum(-1)``.
        field: the manifest field; defaults to the target's name.
        classes: the label names (or values) in index order, for ``class`` and ``multilabel``.
        num_classes: instead of ``classes``: labels are integers in ``[0, num_classes)``.
        alphabet: the characters of a ``transcript``, in id order (ids start at 1); ``null`` for
            lowercase a-z, space and apostrophe.
        drop_unknown: a ``transcript``'s characters outside ``alphabet`` are dropped; otherwise
            they make the row a bad row.
        tokenizer: encode a ``transcript`` as tokens instead of characters, with a tokenizer as the
            ``tokenize`` transform names it (``byt5``, a ``tokenizers`` JSON file or a local
            directory): ids ``1..V`` are the tokenizer's ids plus one, ``V`` its vocabulary size.
    """

    type: Literal["class", "multilabel", "regression", "transcript"] = "class"
    field: str | None = None
    classes: list[Any] | None = None
    num_classes: PositiveInt | None = None
    alphabet: str | None = None
    drop_unknown: bool = False
    tokenizer: str | None = None

    def validate(self, name: str) -> None:
        if self.type == "transcript":
            if self.classes is not None or self.num_classes is not None:
                raise ValueError(f"target '{name}': a transcript takes `alphabet`, not `classes` or `num_classes`")
            if self.tokenizer is not None:
                if self.alphabet is not None:
                    raise ValueError(f"target '{name}': give `alphabet` or `tokenizer`, not both")
                transcript_tokenizer(self.tokenizer)  # loads it now: a bad name fails at start-up
                return
            alphabet = self.characters
            if not alphabet:
                raise ValueError(f"target '{name}': `alphabet` is empty")
            if len(set(alphabet)) != len(alphabet):
                raise ValueError(f"target '{name}': `alphabet` has duplicate characters")
            if alphabet != alphabet.lower():
                raise ValueError(f"target '{name}': `alphabet` must be lowercase (transcripts are lowercased)")
            return
        if self.type != "regression" and (self.classes is None) == (self.num_classes is None):
            raise ValueError(f"target '{name}': give exactly one of `classes` or `num_classes`")
        if self.classes is not None and len(set(map(str, self.classes))) != len(self.classes):
            raise ValueError(f"target '{name}': `classes` has duplicates")

    @property
    def characters(self) -> str:
        """The transcript alphabet (``alphabet`` or :data:`DEFAULT_ALPHABET`)."""
        return DEFAULT_ALPHABET if self.alphabet is None else self.alphabet

    @property
    def size(self) -> int:
        if self.type == "transcript":
            if self.tokenizer is not None:
                return transcript_tokenizer(self.tokenizer)[1]
            return len(self.characters)
        return len(self.classes) if self.classes is not None else int(self.num_classes or 0)


@functools.lru_cache(maxsize=8)
def transcript_tokenizer(name: str) -> tuple[Any, int]:
    """A set-up ``tokenize`` transform for transcripts and its vocabulary size (cached per name;
    only pre-built tokenizers)."""
    from mmzoo.contracts import ModalitySpec
    from mmzoo.data.transforms.text import Tokenize

    tokenizer = Tokenize(tokenizer=name, max_length=None)
    if tokenizer.needs_fit:
        raise ValueError(f"transcript tokenizer '{name}' must be pre-built (byt5, a JSON file or a directory)")
    spec = tokenizer.setup(ModalitySpec(kind="text"))
    return tokenizer, int(spec.vocab_size or 0)


class TranscriptText:
    """Turns id rows of a transcript target's vocabulary into text.

    Args:
        alphabet: characters of ids ``1..V`` (``None``: the transcript default).
        tokenizer: instead of ``alphabet``, the transcript's tokenizer (ids ``1..V`` are its ids plus one).

    Raises:
        ValueError: both are given.
    """

    def __init__(self, alphabet: str | None, tokenizer: str | None) -> None:
        if alphabet is not None and tokenizer is not None:
            raise ValueError("give `alphabet` or `tokenizer`, not both")
        self.alphabet = DEFAULT_ALPHABET if alphabet is None else alphabet
        self.tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        """``V``: the tokenizer's size, or the alphabet's length."""
        return transcript_tokenizer(self.tokenizer)[1] if self.tokenizer else len(self.alphabet)

    def __call__(self, ids: Tensor | Sequence[Sequence[int]]) -> list[str]:
        """Texts of id rows ``(B, L)`` (ids ``<= 0``, padding and blanks or ``EOS``, are skipped)."""
        rows = ids.tolist() if isinstance(ids, Tensor) else ids
        tokenizer = transcript_tokenizer(self.tokenizer)[0] if self.tokenizer else None
        return texts_of(rows, alphabet=self.alphabet, tokenizer=tokenizer)


def encode_transcript_tokens(text: Any, name: str) -> torch.Tensor:
    """Token ids plus one (``0`` stays the CTC blank) of a transcript, without end-of-sequence ids.

    Raises:
        ValueError: the text is not a string or gives no tokens.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"transcript {text!r} is empty or not a string")
    tokenizer, _ = transcript_tokenizer(name)
    ids = tokenizer(text.strip(), torch.Generator()).tolist()
    eos = tokenizer._eos_id()
    while ids and eos is not None and ids[-1] == eos:
        ids.pop()
    if not ids:
        raise ValueError(f"transcript {text!r} gives no tokens")
    return torch.tensor(ids, dtype=torch.long) + 1


def encode_transcript(text: Any, alphabet: str = DEFAULT_ALPHABET, *, drop_unknown: bool = False) -> torch.Tensor:
    """Character ids ``1..V`` (``V = len(alphabet)``) of a text after lowercasing; ``0`` is the blank.

    Raises:
        ValueError: the text is not a string, is empty, has characters outside ``alphabet`` (unless
            ``drop_unknown``), or has none left after dropping them.
    """
    if not isinstance(text, str):
        raise ValueError(f"transcript {text!r} is not a string")
    lookup = {char: index + 1 for index, char in enumerate(alphabet)}
    lowered = text.lower()
    unknown = sorted({char for char in lowered if char not in lookup})
    if unknown and not drop_unknown:
        raise ValueError(f"transcript {text!r} has characters outside the alphabet: {''.join(unknown)!r}")
    ids = [lookup[char] for char in lowered if char in lookup]
    if not ids:
        raise ValueError(f"transcript {text!r} is empty")
    return torch.tensor(ids, dtype=torch.long)


def _class_index(target: TargetField, raw: Any) -> int:
    if target.classes is not None:
        lookup = {str(c): i for i, c in enumerate(target.classes)}
        if str(raw) not in lookup:
            raise ValueError(f"label {raw!r} is not one of the declared classes {target.classes}")
        return lookup[str(raw)]
    if isinstance(raw, bool) or not isinstance(raw, int) and not (isinstance(raw, str) and raw.strip().isdigit()):
        raise ValueError(f"label {raw!r} is not an integer class index")
    index = int(raw)
    if not 0 <= index < int(target.num_classes or 0):
        raise ValueError(f"label {index} is outside [0, {target.num_classes})")
    return index


def encode_target(target: TargetField, raw: Any) -> Any:
    """The tensor-ready value of a target: class index, multi-hot vector, float or character ids.

    Raises:
        ValueError: a label outside the declared classes, or a value of the wrong type.
    """
    if target.type == "class":
        return _class_index(target, raw)
    if target.type == "transcript":
        if target.tokenizer is not None:
            return encode_transcript_tokens(raw, target.tokenizer)
        return encode_transcript(raw, target.characters, drop_unknown=target.drop_unknown)
    if target.type == "multilabel":
        labels = raw if isinstance(raw, list) else [part for part in str(raw).split("|") if part]
        vector = torch.zeros(target.size)
        for label in labels:
            vector[_class_index(target, label)] = 1.0
        return vector
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"regression target {raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"regression target {raw!r} is not finite")
    return value


def missing_target(target: TargetField) -> Any:
    """The value for an unlabelled row (prediction manifests): ignored by the objectives."""
    if target.type == "class":
        return -100
    if target.type == "transcript":
        return torch.zeros(0, dtype=torch.long)  # an empty transcript: length 0 after padding
    if target.type == "multilabel":
        return torch.full((target.size,), float("nan"))
    return float("nan")
