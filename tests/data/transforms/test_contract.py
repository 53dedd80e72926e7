"""Every registered transform follows the contract, and the contract check catches breakage."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import ModalitySpec
from mmzoo.data.transforms import Transform
from mmzoo.plugins import load_registry
from mmzoo.registry import Registrar, Registry
from mmzoo.testing.transforms import check_transform

REGISTRY = load_registry(warn=False)
ENTRIES = list(REGISTRY.entries("transform"))
BUILT_IN = {
    "resample", "pre_emphasis", "frame", "log_mel", "mfcc", "normalize", "spec_augment", "add_noise", "gain",
    "resize", "center_crop", "random_resized_crop", "horizontal_flip", "rand_augment", "image_normalize",
    "tokenize",
}  # fmt: skip


def test_the_built_in_transforms_are_registered():
    assert BUILT_IN <= {entry.name for entry in ENTRIES}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_registered_transform_follows_the_contract(entry):
    check_transform(entry)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.name in BUILT_IN], ids=lambda e: e.name)
def test_built_in_transforms_document_their_options(entry):
    assert entry.doc and not entry.doc.endswith(":")
    assert entry.factory.input_kinds, "input_kinds declares what the transform reads"
    for option in entry.options:
        assert option.doc, f"option '{option.name}' of '{entry.name}' has no description in Args:"
    assert not entry.check_options(entry.example)


# -- the check itself ----------------------------------------------------------------------------


class _Features(Transform):
    """Test double: scales features."""

    input_kinds = ("features",)

    def __init__(self, width: int = 40) -> None:
        self.width = width

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        return ModalitySpec(kind="features", feature_dim=self.width)

    def __call__(self, value: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return value * 2


class _WrongWidth(_Features):
    """Test double: declares one feature width and produces another."""

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        return ModalitySpec(kind="features", feature_dim=self.width + 1)


class _GlobalRandom(_Features):
    """Test double: draws from the global RNG."""

    random = True

    def __call__(self, value: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return value + torch.rand(())


class _Undeclared(_Features):
    """Test double: uses the generator without saying it is random."""

    def __call__(self, value: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return value + torch.rand((), generator=generator)


class _NotRandom(_Features):
    """Test double: claims to be random and is not."""

    random = True


class _InPlace(_Features):
    """Test double: modifies its input."""

    def __call__(self, value: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return value.mul_(2)


class _NoKinds(Transform):
    """Test double: no input_kinds."""

    def __call__(self, value: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return value


def _entry(factory: type) -> object:
    registry = Registry()
    Registrar(registry, "transform", "test", None).add("double", factory)
    return registry.get("transform", "double")


def test_check_transform_passes_a_correct_transform():
    check_transform(_entry(_Features))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (_WrongWidth, "40 features, the spec says 41"),
        (_GlobalRandom, "the same seed gave another output"),
        (_Undeclared, "is not `random` but its output depends on the seed"),
        (_NotRandom, "is `random` but 7 other seeds gave the same outputs"),
        (_InPlace, "modified its input in place"),
        (_NoKinds, "declare the input kinds"),
    ],
)
def test_check_transform_catches_broken_transforms(factory, message):
    with pytest.raises(AssertionError, match=message):
        check_transform(_entry(factory))
