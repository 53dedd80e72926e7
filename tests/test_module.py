"""MultimodalModule.forward: which heads run, and heads that read the raw inputs."""

from __future__ import annotations

import math

import pytest
import torch

from mmzoo.build import build_datamodule, build_module
from mmzoo.contracts import Head
from mmzoo.recipe import load_recipe

from .test_run import NanAfterFirstEpoch


class InputProbe(Head):
    """Records the inputs it is given; outputs one zero per row."""

    reads_inputs = True

    def __init__(self) -> None:
        super().__init__()
        self.seen = None

    def forward(self, fused, encoded, inputs):
        self.seen = inputs
        return torch.zeros(fused.pooled.shape[0])


def test_forward_runs_the_chosen_heads_and_gives_inputs_to_heads_that_read_them(tiny_recipe, registry):
    recipe = load_recipe(tiny_recipe, [], registry)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    module.heads["probe"] = InputProbe()
    module.eval()  # no dropout: two passes must agree
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))

    outputs, _, _ = module(batch)
    assert set(outputs) == {"label", "probe"}
    assert module.heads["probe"].seen is batch.inputs

    module.heads["probe"].seen = None
    only, _, _ = module(batch, heads=["label"])
    assert set(only) == {"label"} and module.heads["probe"].seen is None
    assert torch.equal(only["label"], outputs["label"])


def test_epoch_sums_give_batch_weighted_means_summed_over_processes():
    from mmzoo.module import _EpochSums

    sums = _EpochSums()
    sums.add({"loss": torch.tensor(1.0), "ce": torch.tensor(2.0)}, 10)
    sums.add({"loss": torch.tensor(4.0)}, 30)
    means = sums.means()
    assert means["loss"].item() == pytest.approx((10 * 1 + 30 * 4) / 40) and means["ce"].item() == 2.0
    assert sums.means() == {}  # started again
    sums.add({"loss": torch.tensor(3.0)}, 2)
    doubled = sums.means(lambda t, reduce_op: t * 2)  # as if a second process had the same values
    assert doubled["loss"].item() == 3.0


def test_batches_move_only_their_tensors():
    from mmzoo.contracts import Batch, ModalityInput

    meta = ({"text": "a"},)
    batch = Batch(
        inputs={"audio": ModalityInput(torch.ones(1, 3), torch.ones(1, 3, dtype=torch.bool))},
        targets={"label": torch.tensor([1])},
        ids=["r0"],
        meta=meta,
    )
    moved = batch.to(torch.device("meta"))
    assert moved.inputs["audio"].values.device.type == "meta" and moved.targets["label"].device.type == "meta"
    assert moved.ids is batch.ids and moved.meta is meta


# -- host-device synchronisation in the training step ----------------------------------------

#: Tensor methods that read a value back to the host: on a GPU each waits for the queued work.
SYNCING_METHODS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__")


class SyncRecorder:
    """Records calls of :data:`SYNCING_METHODS` (with the caller's ``file:line``) while active."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.active = False
        self._saved: dict[str, object] = {}

    def install(self) -> None:
        import traceback

        for name in SYNCING_METHODS:
            self._saved[name] = torch.Tensor.__dict__.get(name)
            original = getattr(torch.Tensor, name)

            def recorded(tensor, *args, _name=name, _original=original, **kwargs):
                if self.active:
                    frame = traceback.extract_stack(limit=2)[0]
                    self.calls.append(f"Tensor.{_name} at {frame.filename}:{frame.lineno}")
                return _original(tensor, *args, **kwargs)

            setattr(torch.Tensor, name, recorded)

    def uninstall(self) -> None:
        for name, saved in self._saved.items():
            if saved is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, saved)


@pytest.mark.parametrize(
    "accelerator",
    ["cpu", pytest.param("gpu", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))],
)
def test_training_steps_do_not_synchronise_with_the_device(tiny_recipe, monkeypatch, accelerator):
    """Steps the loggers do not write read nothing back from the device: no ``.item()``,
    ``bool(tensor)``... in ``training_step`` (and, on a GPU, no synchronising CUDA call at all)."""
    from mmzoo.module import MultimodalModule, _loggers_write_this_step
    from mmzoo.run import run_recipe

    recorder = SyncRecorder()
    seen = {"quiet": 0, "logged": 0}
    original = MultimodalModule.training_step

    def training_step(self, batch, batch_idx):
        if _loggers_write_this_step(self.trainer):  # logged steps read the values they log
            seen["logged"] += 1
            return original(self, batch, batch_idx)
        seen["quiet"] += 1
        recorder.active = True
        if accelerator == "gpu":
            torch.cuda.set_sync_debug_mode("error")
        try:
            return original(self, batch, batch_idx)
        finally:
            recorder.active = False
            if accelerator == "gpu":
                torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(MultimodalModule, "training_step", training_step)
    recorder.install()
    try:
        run_recipe("fit", tiny_recipe, [f"trainer.accelerator={accelerator}", "trainer.log_every_n_steps=3"])
    finally:
        recorder.uninstall()
    assert seen["quiet"] >= 4 and seen["logged"] >= 2
    assert recorder.calls == []


# -- non-finite losses: found without a per-step synchronisation -----------------------------


def test_unchecked_losses_name_the_first_non_finite_batch():
    from mmzoo.module import _UncheckedLosses

    unchecked = _UncheckedLosses()
    finite = {"a/loss": torch.tensor(1.0), "a/extra": torch.tensor(float("nan")), "b/loss": torch.tensor(2.0)}
    unchecked.add(torch.tensor(3.0), finite, 0, 7, ["r0", "r1"])
    unchecked.add(torch.tensor(float("inf")), {**finite, "b/loss": torch.tensor(float("inf"))}, 1, 8, list("wxyz"))
    unchecked.add(torch.tensor(float("nan")), {**finite, "a/loss": torch.tensor(float("nan"))}, 1, 9, ["s"])
    error = unchecked.first_bad(unchecked.flat().tolist())
    assert error is not None and not unchecked  # read once, then forgotten
    assert error.message == (
        "the training loss became inf at epoch 1, global step 8 (objectives with a non-finite loss: b;"
        " first rows of the batch: w, x, y)"
    )
    assert "checkpoints written before this step are kept" in error.hint
    unchecked.add(torch.tensor(float("nan")), finite, 2, 10, ["t"])
    assert (
        "(objectives with a non-finite loss: none; the weights overflowed;"
        in unchecked.first_bad([math.nan, 1.0, 2.0]).message
    )
    unchecked.add(torch.tensor(1.0), finite, 2, 11, ["u"])
    assert unchecked.first_bad(unchecked.flat().tolist()) is None


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.log_every_n_steps=1"],  # found on the step itself, which is logged
        ["trainer.log_every_n_steps=50", "checkpoint.every_n_steps=1"],  # found before the next checkpoint
    ],
    ids=["logged-step", "next-checkpoint"],
)
def test_a_non_finite_loss_names_its_step_and_no_later_checkpoint_is_kept(tiny_recipe, overrides):
    """The error names the first step whose loss is not finite, however long after it the check
    runs, and no checkpoint is written after that step."""
    import types

    import mmzoo
    from mmzoo.errors import NonFiniteLossError
    from mmzoo.plugins import load_registry
    from mmzoo.run import run_recipe

    plugin = types.SimpleNamespace(
        mmzoo_register_objectives=mmzoo.hookimpl(lambda registrar: registrar.add("nan_from", NanAfterFirstEpoch))
    )
    registry = load_registry(extra_plugins=[("nan-plugin", plugin)])
    swap = "objectives.label={name: nan_from, head: label, target: label}"
    with pytest.raises(NonFiniteLossError) as info:
        run_recipe("fit", tiny_recipe, [swap, *overrides], registry=registry)
    # 4 batches per epoch: the fifth, the first of epoch 1, is at global step 4
    assert "became nan at epoch 1, global step 4 (objectives with a non-finite loss: label;" in info.value.message
    (run_dir,) = (tiny_recipe.parent / "runs" / "tiny").glob("*-fit")
    checkpoints = list((run_dir / "checkpoints").glob("*.ckpt"))
    assert checkpoints
    for path in checkpoints:
        state = torch.load(path, weights_only=False)
        assert state["global_step"] <= 4, f"{path.name} was written after the non-finite step"
        assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_every_process_stops_when_any_one_saw_a_non_finite_loss(tiny_recipe, registry):
    """With several processes the check is collective: a process whose own losses were finite
    stops too (before a checkpoint every process takes part in), and says where to look."""
    import types

    from mmzoo.errors import NonFiniteLossError

    recipe = load_recipe(tiny_recipe, [], registry)
    module = build_module(recipe, registry, build_datamodule(recipe, registry))
    reduced = []

    def reduce(tensor, reduce_op):  # as if the other process had seen `other_bad` non-finite values
        reduced.append(reduce_op)
        return tensor + other_bad if reduce_op == "sum" else tensor

    module._trainer = types.SimpleNamespace(
        world_size=2, current_epoch=1, global_step=6, strategy=types.SimpleNamespace(reduce=reduce)
    )
    finite = {"label/loss": torch.tensor(0.5)}
    other_bad = 0.0
    module._unchecked.add(torch.tensor(0.5), finite, 1, 5, ["a"])
    assert module._check_finite(torch.tensor([2.0, 3.0])) == [2.0, 3.0] and reduced == ["sum"]
    assert module._check_finite(torch.tensor([4.0])) == [4.0] and reduced == ["sum"]  # nothing new: no collective
    other_bad = 1.0
    module._unchecked.add(torch.tensor(0.5), finite, 1, 6, ["b"])
    with pytest.raises(NonFiniteLossError, match="non-finite on another process by epoch 1, global step 6"):
        module._check_finite()
