"""A catalogue of bad inputs: each is a user error, never a traceback, and leaves earlier runs alone.

For every case the command line must exit with code 2, print no traceback (no ``--debug``), name
where the problem is (the file and its line, the recipe key, the manifest row, the argument), and
leave every file of an earlier run byte for byte as it was, with no new run directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile
import torch

from mmzoo.cli.main import EXIT_USER, main

from .conftest import RECIPES, REPO, TINY_RECIPE

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
DIGITS = RECIPES / "data" / "digits"


@dataclass
class World:
    """The files a case can use: a tiny recipe with one earlier fitted run, and scratch space."""

    root: Path  # run.root of every command
    tiny: Path  # the tiny recipe
    earlier: Path  # the earlier run's directory
    scratch: Path

    def recipe(self, text: str, name: str = "bad.yaml") -> Path:
        path = self.scratch / name
        path.write_text(text)
        return path

    def tiny_with(self, old: str, new: str) -> Path:
        text = self.tiny.read_text()
        assert old in text, old
        return self.recipe(text.replace(old, new, 1))

    def manifest(self, lines: list[str] | bytes, name: str = "train.jsonl") -> Path:
        path = self.scratch / name
        path.write_bytes(lines if isinstance(lines, bytes) else "".join(line + "\n" for line in lines).encode())
        return path

    def image_text(self, manifest: Path) -> list[str]:
        recipe = str(RECIPES / "digits" / "image_text.yaml")
        return ["fit", recipe, f"data.train={manifest}", f"data.val={manifest}", f"run.root={self.root}", *QUIET]


def row(id_: str, image: str = "1_00.png", text: str = "one", match: str = "yes") -> str:
    return json.dumps({"id": id_, "image": str(DIGITS / "images" / image), "text": text, "match": match})


@dataclass
class Case:
    name: str
    argv: Callable[[World], list[str]]
    expected: Callable[[World], list[str]]


def _truncated_wav(world: World) -> list[str]:
    speech, rate = soundfile.read(DIGITS / "audio" / "3_00.flac", dtype="float32")
    whole = world.scratch / "whole.wav"
    soundfile.write(whole, speech, rate, subtype="PCM_16")
    (world.scratch / "cut.wav").write_bytes(whole.read_bytes()[: 44 + 2000])
    lines = [json.dumps({"id": "a", "audio": "cut.wav", "text": "three", "match": "yes"})]
    manifest = world.manifest(lines)
    recipe = str(RECIPES / "digits" / "audio_text.yaml")
    return ["fit", recipe, f"data.train={manifest}", f"data.val={manifest}", f"run.root={world.root}", *QUIET]


def _big_image(world: World) -> list[str]:
    from PIL import Image

    Image.new("L", (8000, 8000), 255).save(world.scratch / "poster.png")
    return world.image_text(world.manifest([row("a"), json.dumps({"id": "b", "image": "poster.png", "text": "x", "match": "no"})]))


def _crafted_checkpoint(world: World) -> list[str]:
    state = torch.load(world.earlier / "checkpoints" / "last.ckpt", weights_only=True)
    state["hyper_parameters"]["payload"] = _Payload(str(world.scratch / "payload-ran"))
    torch.save(state, world.scratch / "crafted.ckpt")
    return ["validate", str(world.tiny), "--ckpt", str(world.scratch / "crafted.ckpt")]


def _other_model(world: World) -> list[str]:
    shutil.copy(world.earlier / "checkpoints" / "last.ckpt", world.scratch / "other.ckpt")
    return ["validate", str(world.tiny), "model.fusion.dim=24", "--ckpt", str(world.scratch / "other.ckpt")]


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _check(world: World, *overrides: str) -> list[str]:
    return ["recipe", "check", str(world.tiny), *overrides]


def _fit(world: World, *overrides: str) -> list[str]:
    return ["fit", str(world.tiny), *overrides, *QUIET]


CASES = [
    # -- recipe files -------------------------------------------------------------------------
    Case("yaml syntax", lambda w: _check_file(w.tiny_with("batch_size: 16", "batch_size: [16")), lambda w: ["bad.yaml:"]),
    Case("unknown section", lambda w: _check_file(w.tiny_with("seed: 3", "seed: 3\nmodels: {}")), lambda w: ["bad.yaml:", "models", "unknown top-level section"]),
    Case("unknown component", lambda w: _check_file(w.tiny_with("name: conv1d", "name: conv2x")), lambda w: ["bad.yaml:", "model.encoders.audio.name", "conv2x"]),
    Case("option of the wrong type", lambda w: _check_file(w.tiny_with("name: bag, dim: 16", "name: bag, dim: wide")), lambda w: ["bad.yaml:", "model.encoders.text.dim"]),
    Case("missing required option", lambda w: _check_file(w.tiny_with("classification, num_classes: 2", "classification")), lambda w: ["bad.yaml:", "model.heads.label.num_classes", "missing"]),
    Case("key written twice", lambda w: _check_file(w.tiny_with("seed: 3", "seed: 3\nseed: 4")), lambda w: ["bad.yaml:", "written twice"]),
    Case("extends a missing file", lambda w: _check_file(w.recipe("extends: nowhere.yaml\n")), lambda w: ["bad.yaml", "nowhere.yaml"]),
    Case("extends itself", lambda w: _check_file(w.recipe("extends: bad.yaml\n")), lambda w: ["bad.yaml"]),
    Case("unknown reference", lambda w: _check_file(w.tiny_with("dim: 16, hidden_dim: 32", "dim: '${model.nope}', hidden_dim: 32")), lambda w: ["bad.yaml:", "model.fusion.dim", "model.nope"]),
    Case("unset environment variable", lambda w: _check_file(w.tiny_with("name: tiny", "name: '${env:MMZOO_NO_SUCH_VARIABLE}'")), lambda w: ["bad.yaml:", "run.name", "MMZOO_NO_SUCH_VARIABLE"]),
    Case("recipe is a list", lambda w: _check_file(w.recipe("- a\n- b\n")), lambda w: ["bad.yaml"]),
    Case("recipe file missing", lambda w: ["recipe", "check", str(w.scratch / "missing.yaml")], lambda w: ["missing.yaml"]),
    Case("folder without recipe.yaml", lambda w: ["fit", str(w.scratch)], lambda w: [str(w.scratch), "recipe.yaml"]),
    # -- overrides ----------------------------------------------------------------------------
    Case("batch size 0", lambda w: _check(w, "data.batch_size=0"), lambda w: ["data.batch_size", "must be >= 1"]),
    Case("batch size -1", lambda w: _check(w, "data.batch_size=-1"), lambda w: ["data.batch_size", "must be >= 1"]),
    Case("negative learning rate", lambda w: _check(w, "optimizer.lr=-1"), lambda w: ["optimizer.lr"]),
    Case("nan learning rate", lambda w: _check(w, "optimizer.lr=.nan"), lambda w: ["optimizer.lr", "finite"]),
    Case("zero epochs", lambda w: _check(w, "trainer.max_epochs=0"), lambda w: ["trainer.max_epochs"]),
    Case("zero width", lambda w: _check(w, "model.fusion.dim=0"), lambda w: ["model.fusion.dim", "must be >= 1"]),
    Case("dropout above 1", lambda w: _check(w, "model.encoders.audio.dropout=1.5"), lambda w: ["model.encoders.audio.dropout", "in [0, 1]"]),
    Case("run name escapes run.root", lambda w: _check(w, "run.name=../../elsewhere"), lambda w: ["run.name", "single folder name"]),
    Case("optimizer from an arbitrary module", lambda w: _check(w, "optimizer.name=this.nothing"), lambda w: ["optimizer.name", "not from 'this'"]),
    Case("scheduler from an arbitrary module", lambda w: _check(w, "scheduler={name: os.system}"), lambda w: ["scheduler.name", "not from 'os'"]),
    Case("unknown trainer option", lambda w: _check(w, "trainer.max_epoch=3"), lambda w: ["trainer.max_epoch", "max_epochs"]),
    Case("zero steps between saves", lambda w: _check(w, "checkpoint.every_n_steps=0"), lambda w: ["checkpoint.every_n_steps"]),
    Case("negative seed", lambda w: _check(w, "seed=-1"), lambda w: ["seed", "must be >= 0"]),
    Case("unknown component option", lambda w: _check(w, "model.fusion.nope=1"), lambda w: ["model.fusion.nope", "unknown option"]),
    Case("negative clipping", lambda w: _check(w, "trainer.gradient_clip_val=-1"), lambda w: ["trainer.gradient_clip_val"]),
    Case("override without a key", lambda w: _check(w, "=3"), lambda w: ["=3"]),
    # -- command-line arguments ---------------------------------------------------------------
    Case("argument without =", lambda w: ["fit", str(w.tiny), "trainer.max_epochs"], lambda w: ["trainer.max_epochs"]),
    Case("unknown command", lambda w: ["train", str(w.tiny)], lambda w: ["train"]),
    Case("checkpoint file missing", lambda w: ["test", str(w.tiny), "--ckpt", str(w.scratch / "gone.ckpt")], lambda w: ["gone.ckpt", "not found"]),
    Case("checkpoint is a folder", lambda w: ["test", str(w.tiny), "--ckpt", str(w.earlier)], lambda w: [str(w.earlier), "is a folder"]),
    Case("predict --resume of a fit run", lambda w: ["predict", str(w.tiny), "--resume", str(w.earlier)], lambda w: [str(w.earlier), "not a predict run directory"]),
    Case("unknown component to show", lambda w: ["plugins", "show", "conv1e"], lambda w: ["conv1e", "conv1d"]),
    Case("unknown kind", lambda w: ["plugins", "--kind", "fusions"], lambda w: ["fusions", "fusion"]),
    Case("resume without a run", lambda w: _fit(w, "run.name=never-trained") + ["--resume", "last"], lambda w: ["no 'last' checkpoint", "never-trained"]),
    # -- manifests and the files they name -----------------------------------------------------
    Case("manifest missing", lambda w: w.image_text(w.scratch / "absent.jsonl"), lambda w: ["absent.jsonl"]),
    Case("line not UTF-8", lambda w: w.image_text(w.manifest(row("a").encode() + b"\n\xff\xfe\n")), lambda w: ["train.jsonl:2", "UTF-8"]),
    Case("line not JSON", lambda w: w.image_text(w.manifest([row("a"), "{id: b"])), lambda w: ["train.jsonl:2", "JSON"]),
    Case("line not an object", lambda w: w.image_text(w.manifest([row("a"), "[1, 2]"])), lambda w: ["train.jsonl:2", "not a JSON object"]),
    Case("duplicate ids", lambda w: w.image_text(w.manifest([row("a"), row("b"), row("a")])), lambda w: ["train.jsonl:3", "train.jsonl:1", "'a'"]),
    Case("missing field", lambda w: w.image_text(w.manifest([row("a"), json.dumps({"id": "b", "image": str(DIGITS / "images" / "1_00.png"), "match": "yes"})])), lambda w: ["train.jsonl:2", "text"]),
    Case("CSV header of the wrong width", lambda w: w.image_text(w.manifest(["id,image,text", f"a,{DIGITS / 'images' / '1_00.png'},one,yes", f"b,{DIGITS / 'images' / '2_00.png'},two,no"], name="train.csv")), lambda w: ["train.csv:1", "header"]),
    Case("image too large", _big_image, lambda w: ["train.jsonl:2", "8000x8000", "max_image_pixels"]),
    Case("image file missing", lambda w: w.image_text(w.manifest([row("a"), row("b", image="nope.png")])), lambda w: ["train.jsonl:2", "nope.png"]),
    Case("WAV cut inside its samples", _truncated_wav, lambda w: ["train.jsonl:1", "cut.wav", "cut short"]),
    # -- checkpoints ----------------------------------------------------------------------------
    Case("damaged checkpoint", lambda w: ["validate", str(w.tiny), "--ckpt", str(w.manifest([b"junk"][0], name="junk.ckpt"))], lambda w: ["junk.ckpt", "cannot be read"]),
    Case("checkpoint that would run code", _crafted_checkpoint, lambda w: ["crafted.ckpt", "--trust-checkpoint"]),
    Case("checkpoint of another model", _other_model, lambda w: ["other.ckpt", "does not fit the model"]),
    # -- plugins --------------------------------------------------------------------------------
    Case("component of a disabled plugin", lambda w: _disabled(w), lambda w: ["model.encoders.audio.name", "conv1d"]),
]


def _check_file(path: Path) -> list[str]:
    return ["recipe", "check", str(path)]


def _disabled(world: World) -> list[str]:
    os.environ["MMZOO_DISABLE_PLUGINS"] = "mmzoo-encoders"  # removed again by the test
    return ["recipe", "check", str(world.tiny)]


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    base = tmp_path_factory.mktemp("catalogue")
    tiny = base / "tiny.yaml"
    tiny.write_text(TINY_RECIPE.format(root=base / "runs"))
    assert main(["fit", str(tiny), "trainer.max_epochs=1", *QUIET]) == 0
    (earlier,) = (base / "runs" / "tiny").glob("*-fit")
    return World(root=base / "runs", tiny=tiny, earlier=earlier, scratch=base)


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 40 and len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_a_clear_user_error(case: Case, world: World, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # shipped recipes name their data relative to the repository root
    scratch = World(world.root, world.tiny, world.earlier, tmp_path)
    before = _fingerprint(world.root)
    try:
        argv = case.argv(scratch)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own errors exit from inside main
            code = exc.code
    finally:
        os.environ.pop("MMZOO_DISABLE_PLUGINS", None)  # set by the disabled-plugin case
    err = capsys.readouterr().err
    assert code == EXIT_USER, err
    assert "Traceback" not in err and "internal error" not in err, err
    for expected in case.expected(scratch):
        assert expected in err, f"{expected!r} not in:\n{err}"
    assert _fingerprint(world.root) == before, "an earlier run changed, or a run directory was created"
    assert not (tmp_path / "payload-ran").exists()
    assert "this" not in sys.modules or case.name != "optimizer from an arbitrary module"
