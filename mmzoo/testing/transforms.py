"""The contract check for transforms: :func:`check_transform`.

::

    from mmzoo.plugins import load_registry
    from mmzoo.testing.transforms import check_transform

    def test_my_transform():
        check_transform(load_registry().get("transform", "my_transform"))

The transform is built from the entry's ``example`` options, set up with an input spec of the first
kind in its ``input_kinds`` class attribute, fitted when it ``needs_fit`` and applied to two example
values. A broken contract raises ``AssertionError`` with a readable message.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import torch
from torch import Tensor

from mmzoo.contracts import ModalitySpec
from mmzoo.registry import Entry

__all__ = ["check_transform", "example_spec", "example_values", "FIT_TEXTS"]

#: Texts a transform that ``needs_fit`` is fitted on when its input is text.
FIT_TEXTS = (
    "hello world",
    "the quick brown fox jumps over the lazy dog",
    "A small model zoo for audio, images and text.",
    "Tokenizers learn their vocabulary from the training split.",
    "hello again, world!",
)

_SEEDS = (0, 1, 2, 3, 4, 5, 6, 7)


def example_spec(kind: str) -> ModalitySpec:
    """The input spec the check uses for one kind."""
    specs = {
        "waveform": ModalitySpec(kind="waveform", sample_rate=16000.0),
        "features": ModalitySpec(kind="features", feature_dim=40, sample_rate=100.0),
        "image": ModalitySpec(kind="image", channels=3, image_size=(64, 48)),
        "text": ModalitySpec(kind="text"),
        "tokens": ModalitySpec(kind="tokens", vocab_size=100, pad_id=0),
    }
    if kind not in specs:
        raise AssertionError(f"unknown input kind '{kind}'; kinds: {', '.join(specs)}")
    return specs[kind]


def example_values(kind: str) -> list[Any]:
    """Two example values of a kind (fixed, so that failures reproduce)."""
    generator = torch.Generator().manual_seed(1234)
    if kind == "waveform":  # 0.5 s at 16 kHz: a tone in noise
        t = torch.arange(8000) / 16000.0
        return [
            0.5 * torch.sin(2 * math.pi * freq * t) + 0.05 * torch.randn(8000, generator=generator)
            for freq in (440.0, 1000.0)
        ]
    if kind == "features":
        return [torch.randn(50, 40, generator=generator) for _ in range(2)]
    if kind == "image":
        return [torch.rand(3, 64, 48, generator=generator) for _ in range(2)]
    if kind == "text":
        return ["hello world", "The quick brown fox!"]
    if kind == "tokens":
        return [torch.randint(1, 100, (length,), generator=generator) for length in (7, 12)]
    raise AssertionError(f"unknown input kind '{kind}'")


def _copy(value: Any) -> Any:
    return value.clone() if isinstance(value, Tensor) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    return type(a) is type(b) and a == b


def _check_output(name: str, value: Any, spec: ModalitySpec) -> None:
    """``value`` is what ``spec`` promises."""
    where = f"transform '{name}' output"
    if spec.kind == "text":
        assert isinstance(value, str), f"{where}: kind 'text' means a str, got {type(value).__name__}"
        return
    assert isinstance(value, Tensor), f"{where}: expected a tensor for kind '{spec.kind}', got {type(value).__name__}"
    if spec.kind == "tokens":
        assert value.dtype == torch.int64 and value.dim() == 1, (
            f"{where}: tokens are int64 (T,), got {value.dtype} {tuple(value.shape)}"
        )
        assert value.numel() >= 1, f"{where}: at least one token per example"
        assert spec.vocab_size is not None, f"transform '{name}': a 'tokens' spec must give vocab_size"
        assert 0 <= int(value.min()) and int(value.max()) < spec.vocab_size, (
            f"{where}: token ids must lie in [0, vocab_size={spec.vocab_size}), got {int(value.min())}..{int(value.max())}"
        )
        return
    assert value.is_floating_point(), f"{where}: kind '{spec.kind}' is float, got {value.dtype}"
    assert torch.isfinite(value).all(), f"{where}: has NaN or infinite values"
    if spec.kind == "waveform":
        assert value.dim() == 1, f"{where}: waveforms are (T,), got {tuple(value.shape)}"
    elif spec.kind == "features":
        assert value.dim() == 2 and value.shape[0] >= 1, (
            f"{where}: features are (T, F) with T >= 1, got {tuple(value.shape)}"
        )
        assert spec.feature_dim is not None, f"transform '{name}': a 'features' spec must give feature_dim"
        assert value.shape[1] == spec.feature_dim, (
            f"{where}: {value.shape[1]} features, the spec says {spec.feature_dim}"
        )
    elif spec.kind == "image":
        assert value.dim() == 3, f"{where}: images are (C, H, W), got {tuple(value.shape)}"
        if spec.channels is not None:
            assert value.shape[0] == spec.channels, f"{where}: {value.shape[0]} channels, the spec says {spec.channels}"
        if spec.image_size is not None:
            assert tuple(value.shape[1:]) == tuple(spec.image_size), (
                f"{where}: size {tuple(value.shape[1:])}, the spec says {tuple(spec.image_size)}"
            )
    else:
        raise AssertionError(f"transform '{name}': unknown output kind '{spec.kind}'")


def _apply(transform: Any, value: Any, seed: int) -> Any:
    return transform(_copy(value), torch.Generator().manual_seed(seed))


def check_transform(entry: Entry) -> None:
    """Build, set up, fit and apply a transform; check its output, determinism and randomness.

    Checks: ``setup`` returns a :class:`ModalitySpec`; outputs match it (kind, dtype, shape,
    ``feature_dim``, token ids below ``vocab_size``, ``image_size``, ``channels``) and are finite;
    inputs are not modified in place; the same generator seed gives the same output (also after a
    pickle round trip, as in DataLoader workers); ``random`` transforms give a different output for
    some other seed, and the others ignore the seed; ``cache_key`` is a string.
    """
    name = entry.name
    transform = entry.build(entry.example, {})
    kinds = getattr(transform, "input_kinds", None)
    assert kinds and isinstance(kinds, tuple), (
        f"transform '{name}': declare the input kinds it accepts, e.g. `input_kinds = ('waveform',)`"
    )
    kind = kinds[0]
    output_spec = transform.setup(example_spec(kind))
    assert isinstance(output_spec, ModalitySpec), f"transform '{name}': setup() must return a ModalitySpec"
    if transform.needs_fit:
        transform.fit(list(FIT_TEXTS) if kind == "text" else example_values(kind))
        output_spec = transform.setup(example_spec(kind))  # fitted transforms may now know more
    assert isinstance(transform.cache_key(), str), f"transform '{name}': cache_key() must return a str"

    clone = pickle.loads(pickle.dumps(transform))
    changed = False
    for value in example_values(kind):
        original = _copy(value)
        out = transform(value, torch.Generator().manual_seed(0))
        assert _same(value, original), f"transform '{name}' modified its input in place"
        out = _copy(out)
        _check_output(name, out, output_spec)
        assert _same(_apply(transform, value, seed=0), out), f"transform '{name}': the same seed gave another output"
        assert _same(_apply(clone, value, seed=0), out), f"transform '{name}': a pickled copy gave another output"
        others = [_apply(transform, value, seed=seed) for seed in _SEEDS[1:]]
        changed = changed or any(not _same(other, out) for other in others)
        if not transform.random:
            assert not changed, (
                f"transform '{name}' is not `random` but its output depends on the seed (set `random = True`)"
            )
    if transform.random:
        assert changed, f"transform '{name}' is `random` but {len(_SEEDS) - 1} other seeds gave the same outputs"
