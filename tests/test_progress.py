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
