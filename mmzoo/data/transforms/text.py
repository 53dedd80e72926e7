"""Text transforms: ``tokenize`` turns a string into token ids.

Tokenizers: ``byt5`` (UTF-8 bytes through transformers' ``ByT5Tokenizer``, no files needed),
``wordpiece`` and ``bpe`` (trained with the ``tokenizers`` library on the training split's texts),
or a tokenizer loaded from a local ``tokenizers`` JSON file or a directory that
``transformers.AutoTokenizer`` reads (hub names work too when online).

Every sequence ends with an end-of-sequence token (``</s>`` for byt5, ``[EOS]`` for the trained
tokenizers), so an empty text still gives one token. A loaded tokenizer keeps its own special
tokens; when it produces no token at all, its EOS (or SEP) id is used, and a tokenizer without
either raises ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmzoo.constraints import PositiveInt
from mmzoo.contracts import ModalitySpec
from mmzoo.contracts.transform import Transform

__all__ = ["Tokenize", "SPECIAL_TOKENS"]

#: Special tokens of the trained tokenizers, with ids 0, 1, 2: padding, unknown, end of sequence.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[EOS]")
_TRAINED = ("wordpiece", "bpe")
_EOS_NAMES = ("[EOS]", "</s>", "<eos>", "<|endoftext|>", "[SEP]")
_PAD_NAMES = ("[PAD]", "<pad>", "<|pad|>")
# Plane 15 private-use code points stand for the corpus' characters while training WordPiece (see
# _train_wordpiece): two per character, one for word-initial and one for continuing positions.
_PRIVATE_BASE = 0xF0000
_PRIVATE_SLOTS = 0xFFFE


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name.endswith(".json") or Path(name).exists()


def _normalizer(lowercase: bool) -> Any:
    from tokenizers import normalizers

    steps = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


class Tokenize(Transform):
    """Turn text into token ids: ``str`` -> long ``(T,)``, ``1 <= T <= max_length``.

    ``byt5`` needs nothing; ``wordpiece`` (BERT-style, ``##`` continuations) and ``bpe``
    (SentencePiece-style ``▁`` word starts, exact round trip) learn a vocabulary of at most
    ``vocab_size`` tokens from the training texts (:meth:`fit`, deterministic for the same texts:
    characters beyond the vocabulary budget are dropped by frequency, ties by code point, and map
    to ``[UNK]``). Any other value is a local ``tokenizers`` JSON file or a directory (or hub name)
    for ``transformers.AutoTokenizer``. Sequences are truncated to ``max_length`` keeping the
    end-of-sequence token. The output spec has the tokenizer's ``vocab_size`` and ``pad_id``; for
    ``wordpiece``/``bpe`` set up before :meth:`fit` it declares the ``vocab_size`` option (an
    upper bound on every id).

    Args:
        tokenizer: ``byt5``, ``wordpiece``, ``bpe``, or a path to a tokenizer.
        vocab_size: largest vocabulary ``wordpiece``/``bpe`` may learn, special tokens included.
        lowercase: lowercase the text first; default ``true`` for ``wordpiece``/``bpe`` (part of the
            learned tokenizer) and ``false`` for the others.
        max_length: longest output in tokens (``null``: no truncation).
    """

    name = "tokenize"
    input_kinds: tuple[str, ...] = ("text",)

    def __init__(
        self,
        tokenizer: str = "byt5",
        vocab_size: PositiveInt = 1000,
        lowercase: bool | None = None,
        max_length: PositiveInt | None = 512,
    ) -> None:
        if max_length is not None and max_length < 1:
            raise ValueError(f"tokenize: max_length must be at least 1 (or null), got {max_length}")
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.lowercase = (tokenizer in _TRAINED) if lowercase is None else lowercase
        self.max_length = max_length
        self.needs_fit = tokenizer in _TRAINED
        self._hf: Any = None  # a transformers tokenizer (byt5, AutoTokenizer)
        self._tok: Any = None  # a tokenizers.Tokenizer (trained or loaded from JSON)
        if tokenizer in _TRAINED:
            if vocab_size <= len(SPECIAL_TOKENS):
                raise ValueError(f"tokenize: vocab_size must exceed {len(SPECIAL_TOKENS)}, got {vocab_size}")
        elif tokenizer == "byt5":
            from transformers import ByT5Tokenizer

            self._hf = ByT5Tokenizer()
        else:
            self._load(tokenizer)

    # -- loading ---------------------------------------------------------------------------------

    def _load(self, source: str) -> None:
        path = Path(source).expanduser()
        if path.is_file():
            from tokenizers import Tokenizer

            try:
                self._tok = Tokenizer.from_file(str(path))
            except Exception as exc:
                raise ValueError(f"tokenize: '{source}' is not a tokenizers JSON file ({exc})") from exc
            self._configure()
            return
        if _looks_like_path(source) and not path.exists():
            raise ValueError(
                f"tokenize: no tokenizer file or directory at '{source}'"
                f" (built-in tokenizers: byt5, {', '.join(_TRAINED)})"
            )
        from transformers import AutoTokenizer

        try:
            self._hf = AutoTokenizer.from_pretrained(str(path) if path.is_dir() else source)
        except Exception as exc:
            raise ValueError(
                f"tokenize: cannot load the tokenizer '{source}': it is not byt5, wordpiece or bpe, not a"
                f" tokenizers JSON file, and transformers could not load it ({type(exc).__name__}: {exc})"
            ) from exc

    # -- training --------------------------------------------------------------------------------

    def fit(self, values: Sequence[Any]) -> None:
        """Train the ``wordpiece`` or ``bpe`` vocabulary on the training texts (in their order)."""
        if self.tokenizer not in _TRAINED:
            return
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

        texts = [str(v) for v in values]
        if self.tokenizer == "wordpiece":
            tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
            tokenizer.normalizer = _normalizer(self.lowercase)
            tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            words = self._words(tokenizer, texts)
            tokenizer.model = models.WordPiece(
                self._train_wordpiece(words), unk_token="[UNK]", continuing_subword_prefix="##"
            )
            tokenizer.decoder = decoders.WordPiece(prefix="##")
        else:
            tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
            tokenizer.normalizer = _normalizer(self.lowercase)
            tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
            words = self._words(tokenizer, texts)
            vocab, merges = self._train_bpe(words)
            tokenizer.model = models.BPE(vocab, merges, unk_token="[UNK]")
            tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
        eos = tokenizer.token_to_id("[EOS]")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="$A [EOS]", pair="$A [EOS] $B:1 [EOS]:1", special_tokens=[("[EOS]", eos)]
        )
        self._tok = tokenizer
        self._configure()

    def _configure(self) -> None:
        """Truncate to ``max_length`` and never pad (padding is the collate function's job)."""
        self._tok.no_padding()
        if self.max_length is not None:
            self._tok.enable_truncation(self.max_length)
        else:
            self._tok.no_truncation()

    @staticmethod
    def _words(tokenizer: Any, texts: list[str]) -> list[str]:
        """The pre-tokenized words of ``texts``, in order, as the tokenizer will see them."""
        words: list[str] = []
        for text in texts:
            normalized = tokenizer.normalizer.normalize_str(text)
            words.extend(word for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized))
        return words

    def _alphabet(self, symbol_counts: Counter[str]) -> set[str]:
        """The symbols kept: the most frequent that fit in the vocabulary (ties by code point)."""
        budget = self.vocab_size - len(SPECIAL_TOKENS)
        ranked = sorted(symbol_counts, key=lambda s: (-symbol_counts[s], s))
        return set(ranked[:budget])

    def _run_bpe_trainer(self, words: Iterator[list[str]]) -> tuple[dict[str, int], list[tuple[str, str]]]:
        """Train a BPE model (tokenizers) on words given as symbol lists; ``(vocab, merges)``."""
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        # The words go through a whitespace split only, so the trainer sees exactly these symbols;
        # its alphabet is sorted by code point, which keeps training deterministic.
        trainer_tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
        trainer_tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.BpeTrainer(
            vocab_size=self.vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False, min_frequency=0
        )
        trainer_tokenizer.train_from_iterator(("".join(symbols) for symbols in words), trainer)
        model = json.loads(trainer_tokenizer.to_str())["model"]
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        return dict(model["vocab"]), merges  # type: ignore[return-value]

    def _train_bpe(self, words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
        counts = Counter(symbol for word in words for symbol in word)
        kept = self._alphabet(counts)
        usable = [list(word) for word in words if all(s in kept for s in word)]
        return self._run_bpe_trainer(iter(usable))

    def _train_wordpiece(self, words: list[str]) -> dict[str, int]:
        """A WordPiece vocabulary learned with deterministic BPE merges.

        tokenizers' own WordPiece trainer numbers ``##`` symbols in hash order, so its vocabulary
        changes between processes. Here every character gets two private-use symbols (word-initial
        and continuing), the BPE trainer (deterministic on plain characters) learns merges over
        them, and each learned token is mapped back: ``ab`` or ``##ab``.
        """
        characters = sorted({c for word in words for c in word})
        if 2 * len(characters) > _PRIVATE_SLOTS:
            raise ValueError(f"tokenize: the training texts have too many distinct characters ({len(characters)})")
        index = {c: i for i, c in enumerate(characters)}

        def encode(word: str) -> list[str]:
            return [chr(_PRIVATE_BASE + 2 * index[c] + (k > 0)) for k, c in enumerate(word)]

        encoded = [encode(word) for word in words]
        counts = Counter(symbol for symbols in encoded for symbol in symbols)
        kept = self._alphabet(counts)
        vocab, _ = self._run_bpe_trainer(s for s in encoded if all(x in kept for x in s))

        def decode(token: str) -> str:
            if token in SPECIAL_TOKENS:
                return token
            codes = [ord(x) - _PRIVATE_BASE for x in token]
            text = "".join(characters[code // 2] for code in codes)
            return "##" + text if codes[0] % 2 else text

        return {decode(token): token_id for token, token_id in sorted(vocab.items(), key=lambda kv: kv[1])}

    # -- contract --------------------------------------------------------------------------------

    def _vocabulary(self) -> tuple[int, int]:
        """``(vocab_size, pad_id)`` of the tokenizer."""
        if self._hf is not None:
            pad = self._hf.pad_token_id
            if pad is None:
                pad = self._hf.eos_token_id
            return len(self._hf), int(pad or 0)
        if self._tok is None:  # wordpiece/bpe before fit: the declared budget
            return self.vocab_size, SPECIAL_TOKENS.index("[PAD]")
        pad = (self._tok.padding or {}).get("pad_id")
        if pad is None:
            pad = next((i for n in _PAD_NAMES if (i := self._tok.token_to_id(n)) is not None), 0)
        return self._tok.get_vocab_size(with_added_tokens=True), int(pad)

    def _eos_id(self) -> int | None:
        if self._hf is not None:
            for name in ("eos_token_id", "sep_token_id"):
                if getattr(self._hf, name, None) is not None:
                    return int(getattr(self._hf, name))
            return None
        return next((i for n in _EOS_NAMES if (i := self._tok.token_to_id(n)) is not None), None)

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        if input_spec.kind != "text":
            raise ValueError(f"tokenize expects a 'text' input (raw strings, tokenized once), got '{input_spec.kind}'")
        vocab_size, pad_id = self._vocabulary()
        return dataclasses.replace(input_spec, kind="tokens", vocab_size=vocab_size, pad_id=pad_id)

    def encode(self, text: str) -> list[int]:
        """Token ids of one text (see the class docstring for EOS, truncation and empty texts)."""
        if self._hf is None and self._tok is None:
            raise RuntimeError(f"tokenize: the {self.tokenizer} tokenizer must be fitted before use")
        if self.lowercase and self.tokenizer not in _TRAINED:  # trained ones lowercase in their normalizer
            text = text.lower()
        if self._hf is not None:
            truncate = self.max_length is not None
            ids = list(self._hf(text, truncation=truncate, max_length=self.max_length).input_ids)
        else:
            ids = list(self._tok.encode(text).ids)
        if not ids:
            eos = self._eos_id()
            if eos is None:
                raise ValueError(
                    f"tokenize: the text {text!r} gives no tokens and the tokenizer has no EOS/SEP token to stand"
                    " in for it"
                )
            ids = [eos]
        return ids

    def __call__(self, value: str, generator: torch.Generator) -> Tensor:
        return torch.tensor(self.encode(value), dtype=torch.int64)

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """Text of token ids, without special tokens."""
        ids = [int(i) for i in ids]
        if self._hf is not None:
            return self._hf.decode(ids, skip_special_tokens=True)
        return self._tok.decode(ids, skip_special_tokens=True)

    def tokenizer_json(self) -> str | None:
        """The ``tokenizers`` JSON of a trained or JSON-loaded tokenizer (``None`` otherwise)."""
        if self._tok is None:
            return None
        content = json.loads(self._tok.to_str())
        content["truncation"] = None  # a setting of this transform, not of the tokenizer
        return json.dumps(content, ensure_ascii=False, indent=2)

    def save(self, directory: Path) -> None:
        """Write a trained tokenizer to ``directory/tokenizer-<modality or tokenizer>.json``.

        The file is in ``tokenizers``' JSON format: ``tokenizer: <that path>`` loads it again.
        Nothing is written for byt5 or loaded tokenizers.
        """
        if self.tokenizer not in _TRAINED or self._tok is None:
            return
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"tokenizer-{self.modality or self.tokenizer}.json").write_text(
            self.tokenizer_json() or "", encoding="utf-8"
        )

    def cache_key(self) -> str:
        """Settings plus a hash of the tokenizer itself (the learned vocabulary for wordpiece/bpe)."""
        if self.tokenizer in _TRAINED and self._tok is None:
            raise RuntimeError(f"tokenize: the {self.tokenizer} tokenizer must be fitted before its cache_key")
        content = self.tokenizer_json()
        if content is None and self.tokenizer != "byt5":
            content = json.dumps(self._hf.get_vocab(), sort_keys=True) + repr(self._hf.all_special_tokens)
        digest = hashlib.sha256((content or "byt5").encode("utf-8")).hexdigest()[:16]
        return (
            f"{type(self).__module__}.{type(self).__qualname__}(tokenizer={self.tokenizer!r},"
            f" lowercase={self.lowercase}, max_length={self.max_length}, vocabulary={digest})"
        )
