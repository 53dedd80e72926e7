"""Tests of the template plugin, as a plugin author would write them.

They need the distribution installed (``pip install -e .``), because the first test checks what
users get: the component registered through the ``mmzoo`` entry point.
"""

from __future__ import annotations

import pytest
import torch
from mmzoo.contracts import Encoded, ModalitySpec
from mmzoo.plugins import load_registry
from mmzoo.registry import Entry
from mmzoo.testing import check_entry

FEATURES = ModalitySpec(kind="features", feature_dim=6)
TOKENS = ModalitySpec(kind="tokens", vocab_size=30, pad_id=0)


@pytest.fixture(scope="module")
def entry() -> Entry:
    """The ``template_gru`` entry, loaded through the installed entry points like mmzoo does."""
    return load_registry(disabled=[]).get("encoder", "template_gru")


def _padded(spec: ModalitySpec, lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, mask)``: random values for ``spec`` padded to the longest row, garbage in the padding.

    Returns:
        values ``(B, T, feature_dim)`` or ``(B, T)``, mask bool ``(B, T)``.
    """
    generator = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    mask = torch.arange(longest).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    if spec.kind == "tokens":
        assert spec.vocab_size
        values = torch.randint(1, spec.vocab_size, (len(lengths), longest), generator=generator)
    else:
        values = torch.randn(len(lengths), longest, spec.feature_dim or 1, generator=generator)
    return values, mask


def test_registered_through_the_entry_point(entry: Entry) -> None:
    assert entry.kind == "encoder"
    assert entry.plugin == "template"
    assert entry.distribution == "mmzoo-plugin-template 0.1.0"
    assert [o.name for o in entry.options][:3] == ["dim", "layers", "bidirectional"]
    assert entry.context_args == ("input_spec",)
    dim = entry.option("dim")
    assert dim is not None and dim.annotation is int and dim.default == 64
    assert dim.doc.startswith("width of"), "options are documented in the factory's `Args:` section"
    layers = entry.option("layers")
    assert layers is not None and layers.type_name == "int >= 1", "the declared range is part of the schema"
    assert entry.check_options({"layers": 0}) == [
        ("layers", "must be >= 1, got the integer 0 (option of encoder 'template_gru')")
    ]


@pytest.mark.parametrize("spec", [FEATURES, TOKENS], ids=["features", "tokens"])
def test_forward_on_a_padded_batch(entry: Entry, spec: ModalitySpec) -> None:
    encoder = entry.build({"dim": 8, "layers": 2}, {"input_spec": spec}).eval()
    values, mask = _padded(spec, [5, 2, 0, 3])  # row 2 has no real position (missing modality)
    out = encoder(values, mask)
    assert isinstance(out, Encoded)
    assert out.seq.shape == (4, 5, 8) and out.pooled.shape == (4, 8)
    assert torch.equal(out.mask, mask)
    assert torch.isfinite(out.seq).all() and torch.isfinite(out.pooled).all()
    assert torch.count_nonzero(out.seq[~mask]) == 0, "padded positions of seq must be zero"
    assert torch.count_nonzero(out.pooled[2]) == 0, "a row without real positions pools to zeros"
    assert out.pooled[[0, 1, 3]].abs().sum(dim=1).gt(0).all()


@pytest.mark.parametrize("spec", [FEATURES, TOKENS], ids=["features", "tokens"])
@pytest.mark.parametrize("pool", ["last", "mean"])
def test_pooled_ignores_padding(entry: Entry, spec: ModalitySpec, pool: str) -> None:
    torch.manual_seed(0)
    encoder = entry.build({"dim": 8, "pool": pool}, {"input_spec": spec}).eval()
    lengths = [6, 3, 1]
    values, mask = _padded(spec, lengths)
    batched = encoder(values, mask).pooled
    with torch.no_grad():
        for row, n in enumerate(lengths):
            # The same row alone and without any padding must give the same vector.
            alone = encoder(values[row : row + 1, :n], mask[row : row + 1, :n]).pooled[0]
            torch.testing.assert_close(batched[row], alone, atol=1e-5, rtol=1e-5)
        garbage = values.clone()
        if spec.kind == "tokens":
            garbage[~mask] = 7
        else:
            garbage[~mask] = 1e4
        torch.testing.assert_close(encoder(garbage, mask).pooled, batched, atol=1e-5, rtol=1e-5)


def test_mask_with_holes_matches_the_compacted_row(entry: Entry) -> None:
    torch.manual_seed(0)
    encoder = entry.build({"dim": 8}, {"input_spec": FEATURES}).eval()
    values, _ = _padded(FEATURES, [6])
    holes = torch.tensor([[True, False, True, True, False, True]])
    out = encoder(values, holes)
    compact = encoder(values[:, holes[0]], torch.ones(1, 4, dtype=torch.bool))
    torch.testing.assert_close(out.pooled, compact.pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.seq[holes], compact.seq[0], atol=1e-5, rtol=1e-5)


def test_mmzoo_contract(entry: Entry) -> None:
    """mmzoo's own contract checks: shapes, gradients, padding, bf16 autocast, state_dict."""
    check_entry(entry)


def test_rejects_other_input_kinds(entry: Entry) -> None:
    with pytest.raises(ValueError, match="'tokens' or 'features'"):
        entry.build({}, {"input_spec": ModalitySpec(kind="image")})
