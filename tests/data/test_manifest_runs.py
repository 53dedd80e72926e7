"""Recipes on real files, end to end: training beats chance, predictions, and corrupt data."""

from __future__ import annotations

import json
import shutil

import pytest

from mmzoo.cli.main import EXIT_USER, main
from mmzoo.run import run_recipe

from ..conftest import RECIPES, REPO

FAST = ["logger.wandb.mode=disabled", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.mark.slow
def test_audio_image_recipe_beats_chance_and_predicts(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # shipped recipes name their data relative to the repository root
    recipe = RECIPES / "digits" / "audio_image.yaml"
    fit = run_recipe("fit", recipe, [*FAST, "trainer.max_epochs=2", f"run.root={tmp_path}"])
    assert fit.metrics["val/digit/accuracy"] > 0.3  # chance is 0.1
    predicted = run_recipe("predict", fit.run_dir, [f"run.root={tmp_path}"])
    rows = [json.loads(line) for line in predicted.predictions.read_text().splitlines()]
    assert len(rows) == 80
    assert rows[0]["id"].startswith("audio-image-") and len(rows[0]["digit"]["probs"]) == 10


def test_corrupt_file_in_a_manifest_is_a_clear_user_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    digits = tmp_path / "digits"
    shutil.copytree(RECIPES / "data" / "digits", digits)
    (digits / "audio" / "4_03.flac").write_bytes(b"RIFF\x00\x00garbage")
    manifest = digits / "audio_text" / "train.jsonl"
    broken_lines = [i for i, line in enumerate(manifest.read_text().splitlines(), 1) if "4_03.flac" in line]
    code = main(
        [
            "fit",
            str(RECIPES / "digits" / "audio_text.yaml"),
            f"data.train={manifest}",
            f"run.root={tmp_path / 'runs'}",
            *FAST,
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_USER
    assert f"{len(broken_lines)} bad rows in {manifest}" in err
    assert f"{manifest}:{broken_lines[0]}: field 'audio'" in err and "not a readable audio file" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists(), "nothing is written for a run that cannot start"


def test_an_image_too_large_to_decode_is_a_clear_user_error(tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(REPO)
    Image.new("L", (8000, 8000), 255).save(tmp_path / "poster.png")  # one colour: a few tens of KB
    images = REPO / "recipes" / "data" / "digits" / "images"
    rows = [
        {"id": "a", "image": str(images / "1_00.png"), "text": "one", "match": "yes"},
        {"id": "b", "image": "poster.png", "text": "two", "match": "no"},
    ]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    recipe = str(RECIPES / "digits" / "image_text.yaml")
    code = main(
        ["fit", recipe, f"data.train={manifest}", f"data.val={manifest}", f"run.root={tmp_path / 'runs'}", *FAST]
    )
    err = capsys.readouterr().err
    assert code == EXIT_USER
    assert f"1 bad row in {manifest}" in err
    assert f"{manifest}:2: field 'image': {tmp_path / 'poster.png'}: the image is 8000x8000 (64,000,000 pixels)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists(), "nothing is written for a run that cannot start"
