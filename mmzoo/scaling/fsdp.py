"""FSDP2 from a recipe: ``trainer.strategy: fsdp``.

:class:`FSDPStrategy` is Lightning's ``ModelParallelStrategy`` used for pure data parallelism (a
one-dimensional device mesh over all processes): Lightning launches the processes (locally, under
``torchrun`` or SLURM), sets up the process group, and saves and loads sharded or full checkpoints.
mmzoo only decides *what* to shard: :func:`shard_model`, called from
``MultimodalModule.configure_model``, applies ``torch.distributed.fsdp.fully_shard`` to every
repeated block of the encoders and the fusion (what their ``blocks()`` list), then to each encoder,
the fusion, each head and any objective or weighting with parameters. One block's parameters are
gathered at a time, so peak memory holds one full block plus each process's shard of the rest.

Lightning's own ``strategy="fsdp"`` (FSDP1) refuses the CPU; this one runs on CUDA (NCCL) and, for
tests and small jobs, on CPU processes over gloo, through the same code.

Mixed precision follows ``trainer.precision`` unless ``param_dtype`` is given: under ``bf16-mixed``
and ``bf16-true`` the gathered parameters and the computation are bfloat16 while gradients are
reduced in float32 (``reduce_dtype``) into float32 shards; under ``32-true`` everything is float32.
Heads hand float32 outputs to the objectives, and objectives and loss weightings keep float32
parameters, so losses are computed in float32.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from lightning.pytorch.strategies import ModelParallelStrategy
from torch import nn

from mmzoo.lifecycle.checkpoint_io import atomic_replace_dir, write_failed
from mmzoo.scaling.checkpointing import blocks_of

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh

__all__ = ["FSDPStrategy", "shard_model", "DTYPES"]

#: Names accepted for ``param_dtype`` and ``reduce_dtype``.
DTYPES: dict[str, torch.dtype] = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}

DtypeName = Literal["auto", "bfloat16", "float16", "float32"]


def _has_parameters(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


class FSDPStrategy(ModelParallelStrategy):
    """Fully sharded data parallelism (FSDP2) over all processes, per block.

    Args:
        param_dtype: dtype of the gathered parameters and of the computation: ``auto`` (from
            ``trainer.precision``: bfloat16 for ``bf16-*``, float16 for ``16-*``, else float32),
            ``bfloat16``, ``float16`` or ``float32``.
        reduce_dtype: dtype in which gradients are reduced across processes.
        reshard_after_forward: free each block's gathered parameters after its forward pass (and
            gather them again for the backward pass); ``false`` keeps them, trading memory for one
            all-gather per block and step.
        checkpoint: ``sharded`` (each process writes its shard: a checkpoint is a folder, fast and
            without a full copy in any process's memory) or ``full`` (rank 0 writes one ordinary
            ``.ckpt`` file, loadable without torch.distributed).
        process_group_backend: ``nccl``, ``gloo``...; by default NCCL on CUDA and gloo on CPU.
        timeout_minutes: how long collectives wait before failing.
    """

    strategy_name = "mmzoo_fsdp"

    def __init__(
        self,
        param_dtype: DtypeName = "auto",
        reduce_dtype: Literal["bfloat16", "float16", "float32"] = "float32",
        reshard_after_forward: bool = True,
        checkpoint: Literal["sharded", "full"] = "sharded",
        process_group_backend: str | None = None,
        timeout_minutes: float = 30.0,
    ) -> None:
        if param_dtype != "auto" and param_dtype not in DTYPES:
            raise ValueError(f"param_dtype must be auto or one of {', '.join(DTYPES)}, got {param_dtype!r}")
        if reduce_dtype not in DTYPES:
            raise ValueError(f"reduce_dtype must be one of {', '.join(DTYPES)}, got {reduce_dtype!r}")
        if checkpoint not in ("sharded", "full"):
            raise ValueError(f"checkpoint must be 'sharded' or 'full', got {checkpoint!r}")
        super().__init__(
            data_parallel_size="auto",
            tensor_parallel_size=1,
            save_distributed_checkpoint=checkpoint == "sharded",
            process_group_backend=process_group_backend,
            timeout=timedelta(minutes=timeout_minutes),
        )
        self.param_dtype_name = param_dtype
        self.reduce_dtype = DTYPES[reduce_dtype]
        self.reshard_after_forward = reshard_after_forward

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None) -> None:
        """A full checkpoint goes through the ``CheckpointIO`` (atomic); a sharded one is written into a
        staging folder by every process, then moved into place by rank 0 once all are done, so a
        sharded checkpoint folder appears complete or not at all."""
        if not self._save_distributed_checkpoint:
            return super().save_checkpoint(checkpoint, filepath, storage_options)
        target = Path(self.broadcast(str(filepath)))
        staging = target.with_name(f".{target.name}.partial")
        if self.global_rank == 0 and staging.exists():
            shutil.rmtree(staging)  # left by a save that was killed
        self.barrier("mmzoo_checkpoint_staging")
        try:
            super().save_checkpoint(checkpoint, staging, storage_options)
        except OSError as exc:
            raise write_failed(target, exc) from exc
        self.barrier("mmzoo_checkpoint_written")
        if self.global_rank == 0:
            atomic_replace_dir(staging, target)
        self.barrier("mmzoo_checkpoint_in_place")

    def _setup_distributed(self) -> None:
        super()._setup_distributed()
        # Every process is one data-parallel replica; ModelParallelStrategy's "auto" would instead
        # give the processes of a node to tensor parallelism.
        self._data_parallel_size = self.world_size

    @property
    def param_dtype(self) -> torch.dtype | None:
        """The compute dtype of sharded blocks, ``None`` for the parameters' own (float32)."""
        if self.param_dtype_name != "auto":
            dtype = DTYPES[self.param_dtype_name]
            return None if dtype == torch.float32 else dtype
        precision = str(getattr(self.precision_plugin, "precision", "32-true"))
        if precision.startswith("bf16"):
            return torch.bfloat16
        if precision.startswith("16"):
            return torch.float16
        return None

    @property
    def data_parallel_mesh(self) -> DeviceMesh:
        """The one-dimensional mesh over all processes."""
        return self.device_mesh["data_parallel"]

    @contextlib.contextmanager
    def block_backward_sync(self) -> Generator[None, None, None]:
        """During gradient accumulation, reduce gradients only on the last micro-batch.

        Lightning enters this for every micro-batch but the last; the sharded modules then keep
        unsharded gradients and reduce-scatter the sum once.
        """
        from torch.distributed.fsdp import FSDPModule

        sharded = [m for m in self.model.modules() if isinstance(m, FSDPModule)] if self.model is not None else []
        for module in sharded:
            module.set_requires_gradient_sync(False, recurse=False)
        try:
            yield None
        finally:
            for module in sharded:
                module.set_requires_gradient_sync(True, recurse=False)


def shard_model(
    model: Any,
    mesh: DeviceMesh,
    *,
    param_dtype: torch.dtype | None,
    reduce_dtype: torch.dtype = torch.float32,
    reshard_after_forward: bool = True,
) -> int:
    """Apply ``fully_shard`` to a ``MultimodalModule``'s blocks and parts (see the module docstring).

    Args:
        model: a :class:`~mmzoo.module.MultimodalModule` (anything with ``encoders``, ``fusion``,
            ``heads``, ``objectives`` and ``weighting``).
        mesh: the data-parallel device mesh.
        param_dtype: compute dtype of encoders, fusion and heads (``None``: float32).
        reduce_dtype: gradient reduction dtype.
        reshard_after_forward: see :class:`FSDPStrategy`.
    Returns:
        the number of sharded units.
    Raises:
        RuntimeError: some parameter is left outside every sharded unit (it would not be averaged
            across processes).
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.distributed.tensor import DTensor

    compute = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    # Heads end the low-precision part: their outputs reach the losses in float32.
    to_float32 = MixedPrecisionPolicy(
        param_dtype=param_dtype, reduce_dtype=reduce_dtype, output_dtype=torch.float32 if param_dtype else None
    )
    exact = MixedPrecisionPolicy(reduce_dtype=reduce_dtype)
    units = 0

    def shard(module: nn.Module, policy: MixedPrecisionPolicy) -> None:
        nonlocal units
        if _has_parameters(module):
            fully_shard(module, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)
            units += 1

    for part in [*model.encoders.values(), model.fusion]:
        for block in blocks_of(part):
            shard(block, compute)
        shard(part, compute)
    for head in model.heads.values():
        shard(head, to_float32)
    for module in [*model.objectives.values(), model.weighting]:
        shard(module, exact)
    loose = [name for name, parameter in model.named_parameters() if not isinstance(parameter, DTensor)]
    if loose:
        raise RuntimeError(
            f"fsdp: parameters outside the encoders, fusion, heads, objectives and weighting are not sharded:"
            f" {', '.join(loose[:5])}"
        )
    return units
