"""Checkpoints that mean what they say: last.ckpt is the newest state, writes are atomic, a failed write
stops the run, and loading never runs code from an untrusted file."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import torch

from mmzoo.cli.main import main
from mmzoo.errors import RunError
from mmzoo.lifecycle.checkpoint_io import AtomicCheckpointIO, atomic_replace_dir
from mmzoo.lifecycle.loading import read_checkpoint
from mmzoo.run import run_recipe

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_last_checkpoint_is_the_final_step_even_when_the_best_epoch_is_earlier(tiny_recipe):
    # val/loss is monitored with mode=max: the first epoch stays "best" while training goes on.
    result = run_recipe("fit", tiny_recipe, [*QUIET, "trainer.max_epochs=3", "checkpoint.mode=max"])
    last = load(result.run_dir / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 12  # 64 rows / 16 per batch x 3 epochs
    assert last["epoch"] == 2
    assert "epoch=" not in str(result.checkpoint) and result.checkpoint.name.startswith("best-")
    assert load(result.checkpoint)["global_step"] < last["global_step"]
    summary = json.loads((result.run_dir / "results.json").read_text())
    assert summary["status"] == "completed"


def test_every_n_steps_saves_inside_epochs_with_the_loader_position(tiny_recipe):
    saved: list[tuple[int, int]] = []
    original = AtomicCheckpointIO.save_checkpoint

    def record(self, checkpoint, path, storage_options=None):
        if Path(path).name == "last.ckpt":
            progress = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"]
            saved.append((checkpoint["global_step"], progress))
        return original(self, checkpoint, path, storage_options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AtomicCheckpointIO, "save_checkpoint", record)
        result = run_recipe("fit", tiny_recipe, [*QUIET, "checkpoint.every_n_steps=3"])
    # 4 steps per epoch: mid-epoch saves at steps 3 and 6, epoch ends at 4 and 8.
    assert [step for step, _ in saved] == [3, 4, 6, 8]
    loader = load(result.run_dir / "checkpoints" / "last.ckpt")["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader, "the data loader's position travels in every checkpoint"


def test_a_failed_checkpoint_write_stops_the_run_and_keeps_what_was_written(tiny_recipe, monkeypatch):
    calls = {"n": 0}
    real_save = torch.save

    def disk_full_on_the_third_write(obj, handle, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr("mmzoo.lifecycle.checkpoint_io.torch.save", disk_full_on_the_third_write)
    with pytest.raises(RunError, match=r"cannot write checkpoint .*last\.ckpt: No space left on device") as caught:
        run_recipe("fit", tiny_recipe, [*QUIET, "trainer.max_epochs=4", "checkpoint.save_top_k=0"])
    assert "--resume" in caught.value.hint
    run_dir = next((tiny_recipe.parent / "runs" / "tiny").glob("*-fit"))
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert checkpoints == ["last.ckpt"], "no temporary file is left behind"
    assert load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 8  # the second save, intact
    assert not (run_dir / "results.json").exists()


def test_atomic_replace_of_a_checkpoint_folder(tmp_path):
    target, written = tmp_path / "last.ckpt", tmp_path / ".last.ckpt.partial"
    target.mkdir()
    (target / "old").write_text("old")
    written.mkdir()
    (written / "new").write_text("new")
    atomic_replace_dir(written, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert (target / "new").read_text() == "new"


class _Payload:
    """Unpickling this creates a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused_before_anything_runs(tiny_recipe, tmp_path, capsys):
    fitted = run_recipe("fit", tiny_recipe, [*QUIET, "trainer.max_epochs=1"])
    state = torch.load(fitted.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    marker = tmp_path / "payload-ran"
    state["hyper_parameters"]["extra"] = _Payload(str(marker))
    crafted = tmp_path / "shared.ckpt"
    torch.save(state, crafted)

    code = main(["validate", str(tiny_recipe), "--ckpt", str(crafted)])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists()
    assert f"checkpoint {crafted} needs more than plain tensors" in err and "--trust-checkpoint" in err
    assert "Traceback" not in err


def test_trust_checkpoint_loads_a_file_with_other_types(tiny_recipe, tmp_path):
    fitted = run_recipe("fit", tiny_recipe, [*QUIET, "trainer.max_epochs=1"])
    state = torch.load(fitted.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    state["hyper_parameters"]["notes"] = argparse.Namespace(author="a colleague")
    shared = tmp_path / "shared.ckpt"
    torch.save(state, shared)
    with pytest.raises(RunError, match="argparse.Namespace"):
        read_checkpoint(shared)
    assert main(["validate", str(tiny_recipe), "--ckpt", str(shared), "--trust-checkpoint", *QUIET]) == 0


def test_a_damaged_file_is_reported_as_unreadable_not_as_untrusted(tmp_path):
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(b"not a checkpoint at all")
    with pytest.raises(RunError, match="cannot be read"):
        read_checkpoint(damaged)


def test_ckpt_pointing_at_a_folder_explains_what_it_expected(tiny_recipe, capsys):
    fitted = run_recipe("fit", tiny_recipe, [*QUIET, "trainer.max_epochs=1"])
    for folder, expected in (
        (fitted.run_dir, f"mmzoo test {fitted.run_dir} --ckpt last"),
        (fitted.run_dir / "checkpoints", "pass one file from"),
        (tiny_recipe.parent, "sharded checkpoint folder"),
    ):
        assert main(["test", str(tiny_recipe), "--ckpt", str(folder)]) == 2
        err = capsys.readouterr().err
        assert f"--ckpt {folder} is a folder, not a checkpoint" in err and expected in err
        assert "Traceback" not in err


def test_resume_continues_the_global_step(tiny_recipe):
    first = run_recipe("fit", tiny_recipe, [*QUIET, "trainer.max_epochs=1"])
    second = run_recipe("fit", first.run_dir, [*QUIET, "trainer.max_epochs=3"], ckpt="last")
    assert second.run_dir != first.run_dir
    assert load(second.run_dir / "checkpoints" / "last.ckpt")["global_step"] == 12
    assert os.listdir(first.run_dir / "checkpoints")  # the earlier run is untouched
