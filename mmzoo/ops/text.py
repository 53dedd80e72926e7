"""Label ids back to text: the one decoding that CTC metrics, predictions and the QC report share.

Transcript targets are ids ``1..V`` with ``0`` the CTC blank: characters of an alphabet
(``alphabet[id - 1]``), or the tokens of a tokenizer shifted up by one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

__all__ = ["DEFAULT_ALPHABET", "TokenDecoder", "ids_to_text", "split_slots", "texts_of"]

#: The default ``transcript`` alphabet: lowercase a-z, space and apostrophe (ids 1..28; 0 is the
#: CTC blank).
DEFAULT_ALPHABET = "abcdefghijklmnopqrstuvwxyz '"


def ids_to_text(ids: Sequence[int], alphabet: str) -> str:
    """The text of label ids ``1..V`` (``alphabet[id - 1]``); blanks and padding (``<= 0``) are skipped."""
    return "".join(alphabet[i - 1] for i in ids if 0 < i <= len(alphabet))


class TokenDecoder(Protocol):
    """What turns token ids (``0..V-1``, no blank) back into text, such as a ``tokenize`` transform."""

    def decode(self, ids: list[int]) -> str: ...


def texts_of(
    rows: Sequence[Sequence[int]], *, alphabet: str = DEFAULT_ALPHABET, tokenizer: TokenDecoder | None = None
) -> list[str]:
    """The text of each row of label ids (blanks and ``-1`` padding skipped).

    Args:
        rows: ``B`` lists of ids ``1..V`` (``0`` blank, negative padding).
        alphabet: the characters of ids ``1..V``, when there is no tokenizer.
        tokenizer: decodes token ids ``id - 1`` instead of the alphabet.
    """
    if tokenizer is not None:
        return [tokenizer.decode([i - 1 for i in row if i > 0]) for row in rows]
    return [ids_to_text(row, alphabet) for row in rows]


#: An inline slot: ``[type value words]``.
_SLOT = re.compile(r"\[\s*([a-z_']+)\s+([^\[\]]*?)\s*\]")


def split_slots(text: str) -> tuple[str, list[tuple[str, str]]]:
    """A transcript with inline slots, split into its plain words and its slots.

    ``"please email [person anna] on [day monday]"`` gives ``("please email anna on monday",
    [("person", "anna"), ("day", "monday")])``. A bracket that is not part of a well-formed slot
    (``[person`` without its ``]``, say, from a decoder that stopped early) is dropped from the
    plain text with its type word, and gives no slot.
    """
    slots = [(kind, " ".join(value.split())) for kind, value in _SLOT.findall(text)]
    plain = _SLOT.sub(lambda match: f" {match.group(2)} ", text)
    plain = re.sub(r"\[\s*[a-z_']*", " ", plain).replace("]", " ")  # an unclosed slot's bracket and type
    return " ".join(plain.split()), [(kind, value) for kind, value in slots if value]
