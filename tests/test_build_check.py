"""The build check: an example batch through the built model, with errors that name the component."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

import mmzoo
from mmzoo.build import build_datamodule, build_module
from mmzoo.build_check import check_build
from mmzoo.contracts import Encoded, Encoder, Fusion
from mmzoo.errors import BuildError
from mmzoo.plugins import load_registry
from mmzoo.recipe import load_recipe
from mmzoo.run import run_recipe

from .conftest import RECIPES

SHIPPED = sorted(RECIPES.rglob("*.yaml"))


class NarrowEncoder(Encoder):
    """Declares dim 64 and returns pooled vectors of width 16."""

    input_kinds = ("features",)

    def __init__(self, input_spec, dim: int = 64) -> None:
        super().__init__()
        self.dim = dim
        self.proj = nn.Linear(input_spec.feature_dim, 16)

    def forward(self, values, mask):
        seq = self.proj(values)
        return Encoded(seq=seq, mask=mask, pooled=seq.mean(dim=1))


class ExplodingFusion(Fusion):
    """Raises on every call."""

    def __init__(self, input_dims: dict, dim: int = 8) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, encoded):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")


def _probe_registry():
    plugin = types.SimpleNamespace(
        mmzoo_register_encoders=mmzoo.hookimpl(lambda registrar: registrar.add("probe_narrow", NarrowEncoder)),
        mmzoo_register_fusions=mmzoo.hookimpl(lambda registrar: registrar.add("probe_boom", ExplodingFusion)),
    )
    return load_registry(extra_plugins=[("probe", plugin)], warn=False)


def _checked(path, overrides, registry):
    recipe = load_recipe(path, overrides, registry)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    return recipe, module, check_build(recipe, registry, module, datamodule.modality_specs)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(RECIPES)))
def test_every_shipped_recipe_passes(path, registry):
    _, _, checked = _checked(path, [], registry)
    assert checked.unchecked == ()


def test_an_encoder_of_the_wrong_width_is_named_with_its_plugin(tiny_recipe):
    registry = _probe_registry()
    with pytest.raises(BuildError) as caught:
        _checked(tiny_recipe, ["model.encoders.audio={name: probe_narrow}"], registry)
    message = caught.value.render()
    assert "model.encoders.audio: encoder 'probe_narrow' (plugin 'probe') returned pooled of shape (2, 16)" in message
    assert "its declared dim is 64" in message


def test_a_fusion_that_raises_is_named(tiny_recipe):
    with pytest.raises(BuildError, match=r"model.fusion: fusion 'probe_boom' \(plugin 'probe'\) failed .*RuntimeError: mat1"):
        _checked(tiny_recipe, ["model.fusion={name: probe_boom}"], _probe_registry())


def test_fit_stops_before_a_run_directory_exists(tiny_recipe, tmp_path):
    with pytest.raises(BuildError, match="probe_narrow"):
        run_recipe("fit", tiny_recipe, ["model.encoders.audio={name: probe_narrow}"], registry=_probe_registry())
    assert not list((tmp_path / "runs").glob("tiny/*"))


def test_the_model_is_left_as_it_was(registry):
    recipe = load_recipe(RECIPES / "speech_qc" / "audio_text.yaml", [], registry)  # has batch norm buffers or not: all buffers kept
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    before = {key: value.clone() for key, value in module.state_dict().items()}
    modes = [m.training for m in module.modules()]
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check_build(recipe, registry, module, datamodule.modality_specs)
    assert torch.equal(torch.rand(3), expected), "the random stream of the run is not disturbed"
    after = module.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert all(p.grad is None for p in module.parameters())
    assert [m.training for m in module.modules()] == modes


def test_recipe_check_build_from_the_command_line(capsys, tiny_recipe, monkeypatch):
    from mmzoo.cli.main import EXIT_OK, EXIT_USER, main

    assert main(["recipe", "check", str(tiny_recipe), "--build"]) == EXIT_OK
    assert "example batch forward and backward in" in capsys.readouterr().out
    import mmzoo.plugins

    monkeypatch.setattr(mmzoo.plugins, "load_registry", lambda: _probe_registry())
    assert main(["recipe", "check", str(tiny_recipe), "model.fusion={name: probe_boom}", "--build"]) == EXIT_USER
    err = capsys.readouterr().err
    assert "fusion 'probe_boom' (plugin 'probe')" in err and "Traceback" not in err
