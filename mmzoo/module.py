"""``MultimodalModule``: encoders per modality -> fusion -> heads (and decoders) -> weighted objectives.

The module receives built components (only :mod:`mmzoo.build` reads recipes). Logged keys:

- ``train/loss_step`` (on the steps the loggers write, every ``log_every_n_steps``) and
  ``train/loss_epoch`` (the epoch mean over all processes), ``val/loss``, ``test/loss``: the
  weighted total;
- ``{stage}/{objective}/loss`` (``_step``/``_epoch`` in training): each objective's own loss
  (before weighting);
- ``{stage}/{objective}/{metric}``: metrics of each objective, for ``val`` and ``test``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from mmzoo.contracts import Batch, DecoderSettings, Encoded, Fused, LossOutput
from mmzoo.errors import NonFiniteLossError
from mmzoo.generation import decoder_output, hypotheses_of
from mmzoo.ops.attention import BACKENDS, attention_backend

__all__ = ["MultimodalModule", "validation_metrics_of"]

OptimizerFactory = Callable[[Any], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer, int], dict[str, Any]]

_METRIC_STAGES = ("val", "test")
#: Where checkpoints keep the training epoch's running sums.
_EPOCH_SUMS_KEY = "mmzoo_epoch_sums"
#: Where checkpoints keep the validation metrics of the weights they hold.
_VALIDATION_KEY = "mmzoo_validation_metrics"
#: Training batches whose losses may wait on the device, unread, before a check reads them.
_MAX_UNCHECKED = 1000
_NONFINITE_HINT = (
    "lower optimizer.lr, set trainer.gradient_clip_val (e.g. 1.0), or check the inputs of those"
    " rows; checkpoints written before this step are kept"
)


def _row_value(value: Tensor | Sequence[Any], index: int) -> Any:
    """Row ``index`` of a prediction value: a tensor's as plain Python values, or a list's item."""
    return value[index].tolist() if isinstance(value, Tensor) else value[index]


def validation_metrics_of(checkpoint: Mapping[str, Any]) -> dict[str, float]:
    """The ``val/...`` metrics a checkpoint saved with its weights (``{}`` for older checkpoints)."""
    return dict(checkpoint.get(_VALIDATION_KEY, {}))


def _loggers_write_this_step(trainer: Any) -> bool:
    """Whether Lightning's loggers write after this training batch: the checks its logger connector
    makes (the last micro-batch of an accumulation, every ``log_every_n_steps`` optimizer steps)."""
    if trainer.fit_loop._should_accumulate():
        return False
    return bool(trainer._logger_connector.should_update_logs or trainer.fast_dev_run)


class _EpochSums:
    """Running, batch-size weighted sums of logged training values, kept on their device."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, values: Mapping[str, Tensor], size: int) -> None:
        for key, value in values.items():
            weighted = value.detach().float() * size
            self.sums[key] = self.sums[key] + weighted if key in self.sums else weighted
            self.counts[key] = self.counts.get(key, 0) + size

    def means(self, reduce: Callable[..., Tensor] | None = None) -> dict[str, Tensor]:
        """The means since the last call (summed over processes by ``reduce``), then start again."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        sums = torch.stack([self.sums[k] for k in keys])
        counts = torch.tensor([float(self.counts[k]) for k in keys], device=sums.device)
        totals = torch.cat([sums, counts])
        if reduce is not None:
            totals = reduce(totals, reduce_op="sum")
        self.sums, self.counts = {}, {}
        return {key: totals[i] / totals[len(keys) + i] for i, key in enumerate(keys)}

    def state_dict(self) -> dict[str, Any]:
        """The sums so far in the epoch, for a checkpoint saved inside an epoch."""
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sums, self.counts = dict(state.get("sums", {})), dict(state.get("counts", {}))


class _UncheckedLosses:
    """The training losses not yet checked for NaN or infinity, kept on their device.

    Each training batch adds one small tensor (its total loss and every ``<objective>/loss``: one
    ``torch.stack``, no synchronisation) and, on the host, where it was (epoch, global step, first
    row ids). A check reads all of them back at once: :meth:`flat` then :meth:`first_bad`.
    """

    def __init__(self) -> None:
        self.rows: list[Tensor] = []
        self.where: list[tuple[int, int, tuple[str, ...], Sequence[str]]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, total: Tensor, logs: Mapping[str, Tensor], epoch: int, step: int, ids: Sequence[str]) -> None:
        names = tuple(key for key in logs if key.endswith("/loss"))
        self.rows.append(torch.stack([total.detach(), *(logs[key] for key in names)]).float())
        self.where.append((epoch, step, names, ids[:3]))

    def flat(self) -> Tensor:
        """Every value added since the last check, in one tensor on their device (no synchronisation)."""
        return torch.cat(self.rows)

    def first_bad(self, values: Sequence[float]) -> NonFiniteLossError | None:
        """The error naming the first batch whose total loss is not finite, given :meth:`flat` read
        back as floats (``None`` if every total is finite); forgets the values."""
        offset = 0
        error = None
        for (epoch, step, names, ids), row in zip(self.where, self.rows, strict=True):
            total, losses = values[offset], values[offset + 1 : offset + len(row)]
            offset += len(row)
            if not math.isfinite(total):
                bad = [
                    name.removesuffix("/loss")
                    for name, loss in zip(names, losses, strict=True)
                    if not math.isfinite(loss)
                ]
                error = NonFiniteLossError(
                    f"the training loss became {total} at epoch {epoch}, global step {step} (objectives with a"
                    f" non-finite loss: {', '.join(bad) or 'none; the weights overflowed'}; first rows of the"
                    f" batch: {', '.join(ids)})",
                    hint=_NONFINITE_HINT,
                )
                break
        self.rows, self.where = [], []
        return error


class MultimodalModule(pl.LightningModule):
    """A multimodal model assembled from registered components.

    Args:
        encoders: modality -> encoder.
        fusion: combines the encoded modalities.
        heads: head name -> head.
        objectives: objective name -> objective.
        weights: objective name -> loss weight.
        weighting: combines the weighted losses into the training loss (default: their sum).
        optimizer: builds the optimizer from the parameters.
        scheduler: builds ``{"scheduler": ..., "interval": ...}`` from the optimizer and the total
            number of optimizer steps; ``None`` for a constant learning rate.
        recipe: the resolved recipe, saved in checkpoints as a hyperparameter.
        attention: backend of every attention call in the forward pass: ``auto``, ``sdpa`` or
            ``fused`` (see :mod:`mmzoo.ops.attention`).
        activation_checkpointing: recompute each block of the encoders and the fusion in the
            backward pass instead of keeping its activations.
        compile: options of ``torch.compile`` (block by block, :mod:`mmzoo.scaling.compiling`), or
            ``None`` not to compile.

    Scaling (activation checkpointing, compilation and FSDP2 sharding, in that order) is applied in
    :meth:`configure_model`, once Lightning has set up the processes and devices.
    """

    def __init__(
        self,
        encoders: Mapping[str, nn.Module],
        fusion: nn.Module,
        heads: Mapping[str, nn.Module],
        objectives: Mapping[str, nn.Module],
        weights: Mapping[str, float],
        optimizer: OptimizerFactory,
        weighting: nn.Module | None = None,
        scheduler: SchedulerFactory | None = None,
        recipe: Mapping[str, Any] | None = None,
        attention: str = "auto",
        activation_checkpointing: bool = False,
        compile: Mapping[str, Any] | None = None,
        decoders: Mapping[str, nn.Module] | None = None,
        decoder_settings: Mapping[str, DecoderSettings] | None = None,
    ) -> None:
        super().__init__()
        if attention not in BACKENDS:
            raise ValueError(f"attention must be one of {', '.join(BACKENDS)}, got {attention!r}")
        self.attention = attention
        self.activation_checkpointing = activation_checkpointing
        self.compile_options = None if compile is None else dict(compile)
        self._scaled = False
        self._epoch_sums = _EpochSums()
        self._unchecked = _UncheckedLosses()
        self._total_steps: int | None = None
        #: The last ``train/<key>_step`` values sent to the loggers.
        self.latest_step_logs: dict[str, float] = {}
        #: The ``val/...`` metrics of the weights a loaded checkpoint holds (its latest validation);
        #: every checkpoint saves them, so a later ``predict`` can read, say, the validation CER.
        self.validation_metrics: dict[str, float] = {}
        self.encoders = nn.ModuleDict(dict(encoders))
        self.fusion = fusion
        self.heads = nn.ModuleDict(dict(heads))
        self.decoders = nn.ModuleDict(dict(decoders or {}))
        #: What each decoder reads, learns and how it searches (``model.decoders.NAME``).
        self.decoder_settings = dict(decoder_settings or {})
        self.objectives = nn.ModuleDict(dict(objectives))
        self.weights = dict(weights)
        if weighting is None:
            from mmzoo.weightings.fixed import FixedWeighting

            weighting = FixedWeighting()
        self.weighting = weighting
        self._optimizer_factory = optimizer
        self._scheduler_factory = scheduler
        self.metrics = nn.ModuleDict(
            {
                stage: nn.ModuleDict(
                    {
                        name: MetricCollection(made, prefix=f"{stage}/{name}/")
                        for name, objective in self.objectives.items()
                        if (made := objective.make_metrics())
                    }
                )
                for stage in _METRIC_STAGES
            }
        )
        if recipe is not None:
            self.save_hyperparameters({"recipe": dict(recipe)})

    # -- model ------------------------------------------------------------------------------

    def encode(self, batch: Batch) -> dict[str, Encoded]:
        """Run each encoder on its modality. Returns modality -> :class:`Encoded`."""
        missing = [m for m in self.encoders if m not in batch.inputs]
        if missing:
            raise KeyError(f"the batch lacks modalities {missing} that the model encodes")
        return {m: encoder(*batch.inputs[m]) for m, encoder in self.encoders.items()}

    def forward(
        self, batch: Batch, heads: Collection[str] | None = None
    ) -> tuple[dict[str, Any], Fused, dict[str, Encoded]]:
        """Returns ``(outputs, fused, encoded)`` where ``outputs`` maps head name -> output.

        Args:
            heads: run only these heads (extra passes that need one head's output); default all.
        """
        with attention_backend(self.attention):
            return self._forward(batch, heads)

    def _forward(self, batch: Batch, heads: Collection[str] | None) -> tuple[dict[str, Any], Fused, dict[str, Encoded]]:
        encoded = self.encode(batch)
        fused = self.fusion(encoded)
        outputs = self.run_heads(fused, encoded, batch, heads)
        for name, decoder in self.decoders.items():
            if heads is None or name in heads:
                outputs[name] = self.run_decoder(name, decoder, fused, encoded, batch, outputs)
        return outputs, fused, encoded

    def run_decoder(
        self,
        name: str,
        decoder: nn.Module,
        fused: Fused,
        encoded: Mapping[str, Encoded],
        batch: Batch,
        outputs: Mapping[str, Any],
        search: bool | None = None,
    ) -> dict[str, Tensor]:
        """One decoder's output (see :func:`mmzoo.generation.decoder_output`): teacher-forced logits
        when the batch has its target, and the hypotheses its search finds (by default outside
        training; ``search`` decides otherwise)."""
        settings = self.decoder_settings[name]
        if settings.memory == "fusion":
            if fused.seq is None or fused.mask is None:
                raise ValueError(
                    f"decoder '{name}' attends to the fusion, but it returns no seq; set memory to a modality"
                )
            memory, mask = fused.seq, fused.mask
        else:
            memory, mask = encoded[settings.memory].seq, encoded[settings.memory].mask
        ctc = outputs.get(settings.search.ctc_head) if settings.search.ctc_head else None
        return decoder_output(
            decoder,
            memory,
            mask,
            batch.targets.get(settings.target),
            settings,
            ctc,
            search_hypotheses=not self.training if search is None else search,
        )

    def run_heads(
        self, fused: Fused, encoded: Mapping[str, Encoded], batch: Batch, heads: Collection[str] | None = None
    ) -> dict[str, Any]:
        """Head name -> output, for these heads (default all).

        A head that sets ``reads_inputs`` also gets the batch's inputs. When the fusion returns
        ``parts`` (decision-level fusion, one vector per modality), each head also scores every
        modality alone, as ``"<head>@<modality>"``, for unimodal metrics.
        """
        chosen = {name: head for name, head in self.heads.items() if heads is None or name in heads}

        def run(head: nn.Module, fused: Fused) -> Any:
            return head(fused, encoded, batch.inputs) if getattr(head, "reads_inputs", False) else head(fused, encoded)

        outputs = {name: run(head, fused) for name, head in chosen.items()}
        for modality, part in (fused.parts or {}).items():
            alone = Fused(pooled=part)
            outputs.update({f"{name}@{modality}": run(head, alone) for name, head in chosen.items()})
        return outputs

    # -- scaling ----------------------------------------------------------------------------

    def configure_model(self) -> None:
        """Activation checkpointing, ``torch.compile`` and FSDP2 sharding, as the recipe asks.

        Lightning calls this hook at the start of every ``fit``/``validate``/``test``/``predict``
        call; it changes the model only the first time.
        """
        if self._scaled:
            return
        self._scaled = True
        if self.activation_checkpointing:
            from mmzoo.scaling.checkpointing import enable_activation_checkpointing

            for part in [*self.encoders.values(), self.fusion]:
                enable_activation_checkpointing(part)  # parts without blocks are left as they are
        if self.compile_options is not None:
            from mmzoo.scaling.compiling import compile_model

            compile_model(self, self.compile_options)
        from mmzoo.scaling.fsdp import FSDPStrategy, shard_model

        strategy = self._trainer.strategy if self._trainer is not None else None
        if isinstance(strategy, FSDPStrategy):
            shard_model(
                self,
                strategy.data_parallel_mesh,
                param_dtype=strategy.param_dtype,
                reduce_dtype=strategy.reduce_dtype,
                reshard_after_forward=strategy.reshard_after_forward,
            )

    # -- losses -----------------------------------------------------------------------------

    def objective_outputs(self, outputs: Mapping[str, Any], batch: Batch) -> dict[str, Mapping[str, Any]]:
        """What each objective sees: the head outputs, plus ``"_extra"`` from its extra passes."""
        seen: dict[str, Mapping[str, Any]] = {}
        for name, objective in self.objectives.items():
            extra = objective.extra_forward(batch, self)
            seen[name] = outputs if extra is None else {**outputs, "_extra": extra}
        return seen

    def compute_losses(self, seen: Mapping[str, Mapping[str, Any]], batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """The weighted total loss and every value to log (per-objective losses and extras).

        Args:
            seen: objective name -> its outputs (see :meth:`objective_outputs`).
        """
        weighted: dict[str, Tensor] = {}
        logs: dict[str, Tensor] = {}
        for name, objective in self.objectives.items():
            result = objective(seen[name], batch)
            loss, extra = (result.loss, result.logs) if isinstance(result, LossOutput) else (result, {})
            logs[f"{name}/loss"] = loss.detach()
            logs.update({f"{name}/{key}": value.detach() for key, value in extra.items()})
            weighted[name] = self.weights.get(name, 1.0) * loss
        if not weighted:
            raise ValueError("a MultimodalModule needs at least one objective")
        total, weighting_logs = self.weighting(weighted)
        logs.update({key: value.detach() for key, value in weighting_logs.items()})
        return total, logs

    def _check_finite(self, logged: Tensor | None = None) -> list[float]:
        """Raise :class:`NonFiniteLossError` if a training loss since the last check was NaN or
        infinite, naming the first such batch; a checkpoint is never written after one.

        Called on the steps the loggers write, before every checkpoint is saved, when validation
        starts, at the end of each training epoch and of training, and after :data:`_MAX_UNCHECKED`
        batches without a check: never on the other steps, so they do not wait for the device. This
        is the one read from the device: ``logged`` (the values a logged step sends to the loggers,
        already averaged over processes) comes back with it, as floats. With several processes, all
        of them stop when any one saw a non-finite loss.
        """
        if not self._unchecked:
            return [] if logged is None else logged.tolist()
        pending = self._unchecked.flat()
        anywhere: Tensor | None = None
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:  # all stop together, before any writes a checkpoint
            anywhere = trainer.strategy.reduce((~torch.isfinite(pending)).any().float(), reduce_op="sum")
        head = [] if logged is None else [logged]
        values = torch.cat([*head, pending, *([] if anywhere is None else [anywhere[None]])]).tolist()
        count = 0 if logged is None else len(logged)
        error = self._unchecked.first_bad(values[count : count + len(pending)])
        if error is None and anywhere is not None and values[-1] > 0:
            error = NonFiniteLossError(
                f"the training loss became non-finite on another process by epoch {self.current_epoch}, global step"
                f" {self.global_step}; that process's error names the objectives and rows",
                hint=_NONFINITE_HINT,
            )
        if error is not None:
            raise error
        return values[:count]

    def _shared_step(self, batch: Batch, stage: str) -> Tensor:
        outputs, _, _ = self(batch)
        seen = self.objective_outputs(outputs, batch)
        total, logs = self.compute_losses(seen, batch)
        size = len(batch.ids)
        if stage == "train":
            # Checked for NaN and infinity later (_check_finite), without waiting for the device now.
            self._unchecked.add(total, logs, self.current_epoch, self.global_step, batch.ids)
            self._log_training_step(total, logs, size)
            if len(self._unchecked) >= _MAX_UNCHECKED:
                self._check_finite()
        else:
            # sync_dist averages epoch values over processes (a no-op on one device).
            self.log(f"{stage}/loss", total.detach(), prog_bar=True, on_epoch=True, batch_size=size, sync_dist=True)
            self.log_dict({f"{stage}/{k}": v for k, v in logs.items()}, on_epoch=True, batch_size=size, sync_dist=True)
        if stage in _METRIC_STAGES:
            collections = self.metrics[stage]
            for name, collection in collections.items():
                self.objectives[name].update_metrics(collection, seen[name], batch)
                self.log_dict(collection, on_step=False, on_epoch=True, batch_size=size)
        if stage == "val":
            for name, objective in self.objectives.items():
                objective.validation_batch(seen[name], batch)
        return total

    def _log_training_step(self, total: Tensor, logs: Mapping[str, Tensor], size: int) -> None:
        """Send ``train/<key>_step`` to the loggers on the steps they write, and keep sums for the
        epoch means.

        The step values go to the loggers directly rather than through ``self.log``: once a value
        is logged per step, Lightning processes its result collection on every step, which costs
        about 1 ms per step on a CPU (``docs/benchmarks/lightning_overhead.md``). The latest values
        are kept in :attr:`latest_step_logs` (the progress bar shows the loss from there). Reading
        them back is also when the losses are checked for NaN and infinity (:meth:`_check_finite`).
        """
        values = {"loss": total.detach(), **logs}
        self._epoch_sums.add(values, size)
        trainer = self._trainer
        if trainer is None or not _loggers_write_this_step(trainer):
            return
        stacked = torch.stack([value.float() for value in values.values()])
        if trainer.world_size > 1:  # the mean over processes: one all-reduce per logged step
            stacked = trainer.strategy.reduce(stacked, reduce_op="mean")
        self.latest_step_logs = {
            f"train/{key}_step": value for key, value in zip(values, self._check_finite(stacked), strict=True)
        }
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics({**self.latest_step_logs, "epoch": self.current_epoch}, step=self.global_step)

    def on_train_start(self) -> None:
        self._unchecked = _UncheckedLosses()

    def on_validation_start(self) -> None:
        """No validation of weights a non-finite loss has already spoiled."""
        self._check_finite()

    def on_validation_epoch_end(self) -> None:
        for objective in self.objectives.values():
            objective.validation_end()

    def on_train_end(self) -> None:
        self._check_finite()

    def on_train_epoch_end(self) -> None:
        """Log ``train/<key>_epoch``: the batch-size weighted means over the epoch and processes."""
        self._check_finite()
        reduce = self._trainer.strategy.reduce if self._trainer is not None else None
        means = self._epoch_sums.means(reduce)
        if means:  # already reduced: sync_dist only keeps Lightning from warning about it
            self.log("train/loss_epoch", means.pop("loss"), prog_bar=True, sync_dist=True)
            self.log_dict({f"train/{k}_epoch": v for k, v in means.items()}, sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the epoch's running sums: a run resumed inside an epoch logs the same epoch means.

        First, the losses since the last check must be finite: Lightning calls this hook before it
        writes the file, so no checkpoint is written after a non-finite loss.
        """
        self._check_finite()
        checkpoint[_EPOCH_SUMS_KEY] = self._epoch_sums.state_dict()
        trainer = self._trainer
        if trainer is not None:
            latest = {
                k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1
            }
            checkpoint[_VALIDATION_KEY] = latest or self.validation_metrics

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._epoch_sums.load_state_dict(checkpoint.get(_EPOCH_SUMS_KEY, {}))
        self.validation_metrics = validation_metrics_of(checkpoint)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Move only the tensors of a :class:`Batch`; Lightning's generic walk would also visit every
        id and meta value (about 1 ms per step for a 32-row batch with metadata)."""
        if isinstance(batch, Batch):
            return batch.to(device, non_blocking=device.type == "cuda")
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> list[dict[str, Any]]:
        """One dict per row: ``{"id": ..., "<head>": {<value>: ...}}`` with plain Python values.

        Rows also carry ``"targets"`` (when the batch has any) and ``"meta"`` (when it has them).
        """
        outputs, _, _ = self(batch)
        per_head = {
            name: hypotheses_of(output, self.decoder_settings[name])
            if name in self.decoders
            else self.heads[name.split("@")[0]].predict(output)
            for name, output in outputs.items()
        }
        rows: list[dict[str, Any]] = []
        for index, row_id in enumerate(batch.ids):
            row: dict[str, Any] = {"id": row_id}
            for head, values in per_head.items():
                row[head] = {key: _row_value(value, index) for key, value in values.items()}
            for target, value in batch.targets.items():
                row.setdefault("targets", {})[target] = value[index].tolist()
            if batch.meta:
                row["meta"] = dict(batch.meta[index])
            rows.append(row)
        return rows

    # -- optimization -----------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        optimizer = self._optimizer_factory(self.parameters())
        if self._scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self._scheduler_factory(optimizer, self.total_training_steps)}

    def total_training_steps(self) -> int:
        """Optimizer steps in the whole run, from the trainer; computed when a scheduler first needs it.

        Not while optimizers are configured: Lightning's ``estimated_stepping_batches`` sets the
        training data up, and doing that before a resumed run's state is restored loses the data
        loader's position in the epoch.
        """
        if self._total_steps is None:
            self._total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        return self._total_steps
