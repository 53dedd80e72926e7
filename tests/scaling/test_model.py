"""Scaling applied by ``MultimodalModule.configure_model``: activation checkpointing, compile, FSDP2
sharding (one process over gloo here; tests/scaling/test_distributed_runs.py runs two), and the
trainer precision reaching the attention calls."""

from __future__ import annotations

import pytest
import torch

from mmzoo.build import build_datamodule, build_module
from mmzoo.data.collate import collate_rows
from mmzoo.recipe import load_recipe
from mmzoo.scaling.checkpointing import blocks_of

ATTENTION_MODEL = [  # no dropout: runs with and without a setting must compute the same
    "model.encoders.audio.dropout=0.0",
    "model.encoders.text={name: transformer, dim: 16, heads: 2, layers: 2, dropout: 0.0}",
    "model.fusion={name: joint_transformer, dim: 16, heads: 2, layers: 2, dropout: 0.0}",
]


def build(tiny_recipe, registry, *overrides):
    recipe = load_recipe(tiny_recipe, [*ATTENTION_MODEL, *overrides], registry)
    torch.manual_seed(0)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    datamodule.setup("fit")
    batch = collate_rows(datamodule.rows["train"][:8], specs=datamodule.modality_specs)
    return module, batch


def loss_and_grads(module, batch):
    outputs, _, _ = module(batch)
    total, _ = module.compute_losses(module.objective_outputs(outputs, batch), batch)
    module.zero_grad()
    total.backward()
    return total.detach(), {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def saved_bytes(module, batch) -> int:
    """Bytes autograd keeps for the backward pass of one training step."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outputs, _, _ = module(batch)
        loss, _ = module.compute_losses(module.objective_outputs(outputs, batch), batch)
    loss.backward()
    return total


def test_activation_checkpointing_keeps_gradients_and_saves_less(tiny_recipe, registry):
    plain, batch = build(tiny_recipe, registry)
    checkpointed, _ = build(tiny_recipe, registry, "model.activation_checkpointing=true")
    checkpointed.load_state_dict(plain.state_dict())
    plain.configure_model()
    checkpointed.configure_model()
    plain.train(), checkpointed.train()
    reference_loss, reference_grads = loss_and_grads(plain, batch)
    loss, grads = loss_and_grads(checkpointed, batch)
    torch.testing.assert_close(loss, reference_loss)
    assert grads.keys() == reference_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], reference_grads[name], msg=name)
    assert saved_bytes(checkpointed, batch) < 0.7 * saved_bytes(plain, batch)
    # The names in checkpoints do not change.
    assert checkpointed.state_dict().keys() == plain.state_dict().keys()


def test_configure_model_changes_the_model_once(tiny_recipe, registry):
    module, _ = build(tiny_recipe, registry, "model.activation_checkpointing=true")
    module.configure_model()
    wrapped = [block.forward for block in blocks_of(module.fusion)]
    module.configure_model()  # Lightning calls it again for validate/test after fit
    assert [block.forward for block in blocks_of(module.fusion)] == wrapped
    assert len(wrapped) == 2


def test_compile_compiles_each_block_in_place(tiny_recipe, registry):
    module, batch = build(tiny_recipe, registry, "model.compile={backend: eager}")
    module.eval()
    with torch.no_grad():
        before = module(batch)[0]["label"]
    names = module.state_dict().keys()
    module.configure_model()
    blocks = [*blocks_of(module.fusion), *blocks_of(module.encoders["text"]), *blocks_of(module.encoders["audio"])]
    assert all(block._compiled_call_impl is not None for block in blocks)
    with torch.no_grad():
        torch.testing.assert_close(module(batch)[0]["label"], before)
    assert module.state_dict().keys() == names


@pytest.fixture
def one_process_group(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_sharding_covers_every_parameter_and_computes_in_bf16(tiny_recipe, registry, one_process_group):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor

    from mmzoo.scaling.fsdp import shard_model

    module, batch = build(tiny_recipe, registry, "weighting={name: uncertainty}")
    reference_loss, _ = loss_and_grads(module, batch)
    seen = []
    block = blocks_of(module.fusion)[0]
    block.register_forward_hook(lambda mod, args, out: seen.append(out.dtype))
    units = shard_model(module, init_device_mesh("cpu", (1,)), param_dtype=torch.bfloat16)
    # 2 fusion blocks + 2 text blocks + 1 audio block, 2 encoders, fusion, head, weighting
    assert units == 10
    assert all(isinstance(p, DTensor) for p in module.parameters())
    outputs, _, _ = module(batch)
    assert seen[-1] == torch.bfloat16  # blocks compute in bf16 ...
    assert outputs["label"].dtype == torch.float32  # ... and heads hand float32 to the losses
    loss, grads = loss_and_grads(module, batch)
    assert all(g.dtype == torch.float32 for g in grads.values())  # reduced into float32 shards
    torch.testing.assert_close(loss, reference_loss, rtol=0.05, atol=0.05)


def test_sharding_refuses_parameters_outside_the_known_parts(tiny_recipe, registry, one_process_group):
    from torch.distributed.device_mesh import init_device_mesh

    from mmzoo.scaling.fsdp import shard_model

    module, _ = build(tiny_recipe, registry)
    module.stray = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="not sharded: stray.weight"):
        shard_model(module, init_device_mesh("cpu", (1,)), param_dtype=None)


@pytest.mark.parametrize("precision, dtype", [("bf16-true", torch.bfloat16), ("bf16-mixed", torch.bfloat16)])
def test_trainer_precision_reaches_the_attention_calls(tiny_recipe, registry, monkeypatch, precision, dtype):
    import lightning.pytorch as pl

    import mmzoo.ops.attention as ops

    seen = []
    original = ops._sdpa
    monkeypatch.setattr(ops, "_sdpa", lambda q, *rest: seen.append(q.dtype) or original(q, *rest))
    recipe = load_recipe(tiny_recipe, ATTENTION_MODEL, registry)
    datamodule = build_datamodule(recipe, registry)
    module = build_module(recipe, registry, datamodule)
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=precision, max_steps=1, logger=False, barebones=True)
    trainer.fit(module, datamodule=datamodule)
    assert seen and set(seen) == {dtype}
