"""The token ids of inline slots, ``please email [person anna] on [day monday]``, and what is heard.

A transcript that writes its slots inline mixes two kinds of tokens: the words that were said
(``please email anna on monday``) and the markup around the slot values, which nobody says: each
``[``, the slot type and the one space after it, and each ``]``. A CTC head only hears the words,
so its loss and its prefix scores must skip the markup (``ctc`` objective and joint decoding with
``inline_slots``; docs/generation.md).

Markup is read left to right with a state per sequence (a :data:`Reading`): :data:`OUTSIDE` a
slot, in its :data:`TYPE` (``[`` opens it, the next space ends it) or in its :data:`VALUE` (until
``]``). Some tokens are malformed where they stand: ``]`` outside a slot or in a type, ``[``
inside one, and, when the slot types are known, a type that is not one of them. A search must
not write those: markup costs the CTC head nothing, and a search free to write any markup fills
its beams with endless slot types, putting off what the audio says.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["OUTSIDE", "TYPE", "VALUE", "Reading", "SlotMarkup"]

#: The reading states: outside a slot, in a slot's type, in a slot's value.
OUTSIDE, TYPE, VALUE = 0, 1, 2

#: Where ``N`` sequences stand: ``markup`` long ``(N,)`` the state, ``typed`` long ``(N,)`` the
#: tokens of the current type so far, ``types`` bool ``(N, K)`` the known types it may still be.
Reading = dict[str, Tensor]


@dataclass(frozen=True)
class SlotMarkup:
    """The ids of ``[``, ``]`` and the space in a transcript's vocabulary (ids ``1..V``), and the
    slot types a search may write.

    Args:
        open: id of ``[``.
        close: id of ``]``.
        space: id of the space that ends a slot's type.
        types: the ids of each known slot type; empty: any type.
    """

    open: int
    close: int
    space: int
    types: tuple[tuple[int, ...], ...] = ()

    @classmethod
    def of_alphabet(cls, alphabet: str, types: Sequence[str] = ()) -> SlotMarkup:
        """The markup ids of a character alphabet (id ``i`` is ``alphabet[i - 1]``).

        Raises:
            ValueError: the alphabet lacks ``[``, ``]`` or the space; a type is empty, holds one
                of them or a character outside the alphabet.
        """
        missing = [char for char in "[] " if char not in alphabet]
        if missing:
            raise ValueError(
                f"inline slots need '[', ']' and the space in the alphabet; {alphabet!r} lacks"
                f" {', '.join(repr(char) for char in missing)}"
            )
        for name in types:
            if not name or set(name) & set("[] ") or not set(name) <= set(alphabet):
                raise ValueError(f"slot type {name!r} must be a word of the alphabet's characters, without '[', ']'")
        ids = tuple(tuple(alphabet.index(char) + 1 for char in name) for name in types)
        return cls(alphabet.index("[") + 1, alphabet.index("]") + 1, alphabet.index(" ") + 1, ids)

    def start(self, size: int, device: torch.device | str | None = None) -> Reading:
        """The reading of ``size`` empty sequences."""
        return {
            "markup": torch.full((size,), OUTSIDE, dtype=torch.long, device=device),
            "typed": torch.zeros(size, dtype=torch.long, device=device),
            "types": torch.ones(size, len(self.types), dtype=torch.bool, device=device),
        }

    def is_markup(self, tokens: Tensor, state: Tensor) -> Tensor:
        """Which tokens are markup (not heard): ``[`` and ``]``, and every token of a slot's type.

        Args:
            tokens: long ids, any shape.
            state: the reading's ``markup``, broadcastable to ``tokens``.

        Returns:
            bool, the broadcast shape.
        """
        return (tokens == self.open) | (tokens == self.close) | (state == TYPE)

    def is_malformed(self, tokens: Tensor, reading: Reading) -> Tensor:
        """Which tokens would break the markup where each sequence stands.

        Args:
            tokens: long ``(N, C)`` candidate ids per sequence, or ``(1, C)`` for all.
            reading: the ``N`` sequences' reading.

        Returns:
            bool ``(N, C)``.
        """
        state = reading["markup"].unsqueeze(-1)  # (N, 1)
        malformed = ((tokens == self.open) & (state != OUTSIDE)) | ((tokens == self.close) & (state != VALUE))
        if not self.types:
            return malformed
        # in a type, a token must go on (or, as a space, end) one of the types it may still be
        expected = self._expected(reading)  # (N, K)
        fits = (expected.unsqueeze(1) == tokens.unsqueeze(-1)) & reading["types"].unsqueeze(1)  # (N, C, K)
        return malformed | ((state == TYPE) & ~fits.any(dim=-1))

    def advance(self, tokens: Tensor, reading: Reading) -> Reading:
        """The reading after appending ``tokens`` (long ``(N,)``)."""
        state = reading["markup"]
        opened = tokens == self.open
        in_type = state == TYPE
        after = torch.where(opened, TYPE, state)
        after = torch.where(in_type & (tokens == self.space), VALUE, after)
        after = torch.where((state == VALUE) & (tokens == self.close), OUTSIDE, after)
        types = reading["types"]
        if self.types:
            expected = self._expected(reading)  # (N, K)
            types = torch.where(in_type.unsqueeze(-1), types & (expected == tokens.unsqueeze(-1)), types)
        return {
            "markup": after,
            "typed": torch.where(opened, 0, reading["typed"] + in_type.long()),
            "types": types | opened.unsqueeze(-1),
        }

    @functools.cached_property
    def _table(self) -> Tensor:
        """long ``(W + 2, K)``: row ``i`` holds each known type's token ``i`` (the space after its
        last letter, ``-1`` past that; ``W`` the longest type). Built once per markup, on the CPU."""
        width = max(len(name) for name in self.types) + 2
        rows = [[*name, self.space] + [-1] * (width - len(name) - 1) for name in self.types]
        return torch.tensor(rows, dtype=torch.long).T

    def _expected(self, reading: Reading) -> Tensor:
        """long ``(N, K)``: the token each known type has next, after the ``typed`` tokens of each
        sequence's current type."""
        table = self._table.to(reading["typed"].device)
        return table[reading["typed"].clamp(max=table.shape[0] - 1)]

    def strip(self, ids: Tensor) -> Tensor:
        """The heard words of transcripts with inline slots.

        Args:
            ids: long ``(B, L)`` ids ``1..V``, padded with negatives after each row's tokens.

        Returns:
            long ``(B, L')``: each row's tokens that are not markup, in order, padded with ``-1``
            (``L'`` the longest row that is left, at least 1).
        """
        reading = self.start(ids.shape[0], ids.device)
        heard = torch.zeros_like(ids, dtype=torch.bool)
        for position in range(ids.shape[1]):  # L steps; every row at once
            tokens = ids[:, position]
            heard[:, position] = (tokens > 0) & ~self.is_markup(tokens, reading["markup"])
            reading = self.advance(tokens, reading)
        # a stable sort by "not heard" brings each row's heard tokens to the front, in order
        order = torch.sort((~heard).to(torch.uint8), dim=1, stable=True).indices
        kept = torch.where(heard, ids, torch.full_like(ids, -1)).gather(1, order)
        width = max(int(heard.sum(dim=1).max()) if ids.numel() else 0, 1)
        return kept[:, :width]
