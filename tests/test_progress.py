"""The throttled progress bar of mmzoo runs."""

from __future__ import annotations

import pytest

from mmzoo.build import build_trainer
from mmzoo.progress import ThrottledRichProgressBar
from mmzoo.recipe import load_recipe


def test_training_redraws_are_throttled_but_the_last_batch_is_drawn(monkeypatch):
    from lightning.pytorch.callbacks import RichProgressBar

    drawn = []
    monkeypatch.setattr(RichProgressBar, "on_train_batch_end", lambda self, *args: drawn.append(args[-1]))
    monkeypatch.setattr(ThrottledRichProgressBar, "total_train_batches", property(lambda self: 100))
    clock = iter([0.0, 0.01, 0.02, 0.30, 0.31, 0.32])
    monkeypatch.setattr("mmzoo.progress.time.monotonic", lambda: next(clock))
    bar = ThrottledRichProgressBar(interval=0.25)
    for batch_idx in (0, 1, 2, 3, 4, 99):
        bar.on_train_batch_end(None, None, None, None, batch_idx)
    assert drawn == [0, 3, 99]  # the first, the first after 0.25 s, and the epoch's last


@pytest.mark.parametrize("enabled", [True, False])
def test_runs_get_the_throttled_bar_unless_the_bar_is_off(tiny_recipe, registry, tmp_path, enabled):
    recipe = load_recipe(tiny_recipe, [f"trainer.enable_progress_bar={str(enabled).lower()}"], registry)
    trainer = build_trainer(recipe, tmp_path)
    bars = [c for c in trainer.callbacks if isinstance(c, ThrottledRichProgressBar)]
    assert len(bars) == (1 if enabled else 0)


def test_the_bar_shows_the_loss_and_the_monitored_metric_and_a_log_gets_epoch_lines(tiny_recipe, registry, capsys):
    from mmzoo.run import run_recipe

    overrides = [
        "trainer.enable_progress_bar=true",
        "checkpoint.monitor=val/label/accuracy",
        "checkpoint.mode=max",
        "trainer.log_every_n_steps=1",  # the loss shown is the latest logged one
    ]
    seen = []
    original = ThrottledRichProgressBar.get_metrics

    def spy(self, trainer, pl_module):
        metrics = original(self, trainer, pl_module)
        seen.append(metrics)
        return metrics

    ThrottledRichProgressBar.get_metrics = spy
    try:
        run_recipe("fit", tiny_recipe, overrides, registry=registry)
    finally:
        ThrottledRichProgressBar.get_metrics = original
    assert "v_num" not in seen[-1] and "train/loss_epoch" not in seen[-1]
    assert {"loss", "val/loss", "val/label/accuracy"} <= set(seen[-1])
    out = capsys.readouterr().out
    epochs = [line for line in out.splitlines() if line.startswith("Epoch ")]
    assert len(epochs) == 2  # captured output is not a terminal: one plain line per epoch
    assert epochs[-1].startswith("Epoch 1/1: 4 batches in ")
    assert "loss " in epochs[-1] and "val/label/accuracy " in epochs[-1]
    assert "\x1b[" not in out  # no escape codes
    assert not [line for line in out.splitlines() if line.startswith(("Epoch", "Validation")) and "━" in line]  # no bar


def test_an_explicit_monitor_wins_over_the_checkpoint_callbacks():
    from types import SimpleNamespace

    trainer = SimpleNamespace(checkpoint_callback=SimpleNamespace(monitor="val/loss"))
    assert ThrottledRichProgressBar().monitored(trainer) == "val/loss"
    assert ThrottledRichProgressBar(monitor="val/x/f1").monitored(trainer) == "val/x/f1"
    assert ThrottledRichProgressBar().monitored(SimpleNamespace(checkpoint_callback=None)) is None


SUMMARY = [
    (" ", ["0", "1"]),
    ("Name", ["encoders", "fusion"]),
    ("Type", ["ModuleDict", "ConcatFusion"]),
    ("Params", ["109 K", "24.8 K"]),
    ("Mode", ["train", "train"]),
    ("FLOPs", ["0", "0"]),
]


@pytest.mark.parametrize("flops", [0, 1200])
def test_the_model_summary_leaves_out_flops_nobody_counted(capsys, flops):
    from mmzoo.progress import QuietModelSummary

    QuietModelSummary.summarize(SUMMARY, 134_000, 134_000, 0.537, {"train": 50, "eval": 0}, flops)
    out = capsys.readouterr().out
    assert "ConcatFusion" in out and "Total params" in out and "Modules in eval mode" in out
    assert ("FLOPs" in out) == bool(flops)
