"""What commands print: no third-party noise, no escape codes off a terminal, progress for long
steps, and everything back with MMZOO_VERBOSE=1."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import warnings

import pytest

from mmzoo.cli.main import main
from mmzoo.console import QUIET_ENVIRONMENT, VERBOSE_ENV, is_verbose, quiet_third_party, track

ESCAPE = "\x1b["

# -- quiet_third_party ------------------------------------------------------------------------------


def test_third_party_warnings_are_hidden_inside_only(monkeypatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_third_party():
            warnings.warn("'set_vital' is deprecated, please do not call", UserWarning, stacklevel=1)
            warnings.warn("something a user should see", UserWarning, stacklevel=1)
        warnings.warn("'set_vital' is deprecated, please do not call", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == [
        "something a user should see",
        "'set_vital' is deprecated, please do not call",
    ]


def test_lightning_tips_are_hidden_and_its_other_lines_kept(monkeypatch, caplog):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    info = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    connector = logging.getLogger("lightning.pytorch.trainer.connectors.checkpoint_connector")
    with caplog.at_level(logging.INFO), quiet_third_party():
        info.info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger](...)")
        info.info("TPU available: False, using: 0 TPU cores")
        info.info("GPU available: False, used: False")
        connector.info("`weights_only` was not set, defaulting to `False`.")
    assert [record.getMessage() for record in caplog.records] == ["GPU available: False, used: False"]
    assert not info.filters and connector.level == logging.NOTSET  # put back afterwards


def test_the_environment_is_set_for_the_command_and_restored(monkeypatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    with quiet_third_party():
        assert {name: os.environ[name] for name in QUIET_ENVIRONMENT} == QUIET_ENVIRONMENT
    assert "WANDB_SILENT" not in os.environ
    monkeypatch.setenv("WANDB_SILENT", "false")  # the user's own setting wins
    with quiet_third_party():
        assert os.environ["WANDB_SILENT"] == "false"


@pytest.mark.parametrize("value, verbose", [("1", True), ("true", True), ("0", False), ("", False)])
def test_mmzoo_verbose_hides_nothing(monkeypatch, value, verbose):
    monkeypatch.setenv(VERBOSE_ENV, value)
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    assert is_verbose() is verbose
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_third_party():
            warnings.warn("'set_vital' is deprecated, please do not call", UserWarning, stacklevel=1)
            assert ("WANDB_SILENT" in os.environ) is not verbose
    assert len(caught) == (1 if verbose else 0)


# -- track ------------------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_track_writes_plain_lines_off_a_terminal(monkeypatch):
    clock = iter([0.0, 10.0, 31.0, 40.0, 70.0, 75.0])
    monkeypatch.setattr("mmzoo.console.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    assert list(track(range(4), "measuring rows", stream=out, interval=30)) == [0, 1, 2, 3]
    assert out.getvalue().splitlines() == [
        "mmzoo: measuring rows (4 in all)",
        "mmzoo: measuring rows: 2/4 (50%), 0:00:31",
        "mmzoo: measuring rows: done, 4 in 0:01:15",
    ]


def test_track_draws_a_rich_bar_on_a_terminal(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    out = FakeTerminal()
    assert list(track(iter(range(3)), "labelling rows", total=3, stream=out)) == [0, 1, 2]
    assert "labelling rows" in out.getvalue() and "3/3" in out.getvalue()
    assert ESCAPE in out.getvalue()
    monkeypatch.setenv("TERM", "dumb")
    plain = FakeTerminal()
    list(track(range(3), "labelling rows", stream=plain))
    assert ESCAPE not in plain.getvalue() and "mmzoo: labelling rows: done" in plain.getvalue()


# -- commands ---------------------------------------------------------------------------------------


def test_qc_baseline_shows_its_progress(tmp_path, capsys):
    from ..qc.test_end_to_end import ASR, QC_RECIPE

    recipe = tmp_path / "qc.yaml"
    recipe.write_text(QC_RECIPE.format(root=tmp_path / "runs", asr=ASR, predict=ASR / "test.jsonl"))
    assert main(["qc", "baseline", str(recipe), "--split", "val"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0].startswith("mmzoo: measuring the training rows to fit the baseline (")
    assert any(line.startswith("mmzoo: measuring the training rows to fit the baseline: done, ") for line in lines)
    assert any(line.startswith("mmzoo: labelling the val rows: done, 20 in ") for line in lines)
    assert ESCAPE not in captured.err + captured.out
    assert "mmzoo: heuristic baseline -> " in captured.out


def fit(tiny_recipe, **env: str) -> str:
    """`mmzoo fit` of the tiny recipe with its bar, summary and offline W&B, output captured."""
    environment = {k: v for k, v in os.environ.items() if k not in ("WANDB_SILENT", VERBOSE_ENV)}
    environment.update(WANDB_MODE="offline", **env)
    overrides = [
        "trainer.enable_progress_bar=true",
        "trainer.enable_model_summary=true",
        "trainer.max_epochs=1",
        "logger.wandb.mode=offline",
        "checkpoint.monitor=val/label/accuracy",
        "checkpoint.mode=max",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "mmzoo", "fit", str(tiny_recipe), *overrides],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


QUIETED = ("litlogger", "anonymous setting", "wandb leet", "set_vital", "TPU available")


def test_fit_prints_no_third_party_noise_and_no_escape_codes(tiny_recipe):
    output = fit(tiny_recipe)
    assert [noise for noise in QUIETED if noise in output] == []
    assert "wandb:" not in output
    assert ESCAPE not in output
    assert "mmzoo: fit " in output and "GPU available" in output
    (epoch,) = [line for line in output.splitlines() if line.startswith("Epoch 0/0: ")]
    assert "val/label/accuracy" in epoch


def test_mmzoo_verbose_shows_the_third_party_output_again(tiny_recipe):
    output = fit(tiny_recipe, MMZOO_VERBOSE="1")
    assert "litlogger" in output and "TPU available" in output and "set_vital" in output
    assert "wandb leet" in output
