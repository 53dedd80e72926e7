"""The build check: one small example batch through a freshly built model, before anything runs.

``mmzoo recipe check --build`` and the start of ``fit``/``validate``/``test``/``predict`` (before a
run directory or a W&B run exists) push a batch of two rows, made from the datamodule's declared
:class:`~mmzoo.contracts.ModalitySpec` s (:mod:`mmzoo.examples`) and the objectives' example targets,
through encoders → fusion → heads → objectives → weighting, forward and backward, on the CPU. A
component that raises or breaks its contract (an encoder whose ``pooled`` is not ``(B, dim)``, a
fusion that returns no ``Fused``, a loss that is not a finite scalar...) is a :class:`BuildError`
naming the component, its recipe key and plugin, and what is wrong, so a plugin mistake never
surfaces as an internal error deep inside training.

The check runs the model in eval mode (like Lightning's sanity check) and leaves it as it found
it: the random number generators are restored, the buffers (batch-norm statistics) put back, the
gradients cleared, and the train/eval mode of every module restored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from mmzoo.contracts import Batch, Encoded, Fused, LossOutput, ModalitySpec
from mmzoo.errors import BuildError
from mmzoo.examples import example_modality_input
from mmzoo.ops.attention import attention_backend
from mmzoo.recipe import Recipe
from mmzoo.registry import Registry

__all__ = ["BuildCheck", "check_build"]

#: Rows of the example batch.
ROWS = 2


@dataclass(frozen=True)
class BuildCheck:
    """What the check ran: its duration and the objectives it could not check (no example targets)."""

    seconds: float
    unchecked: tuple[str, ...] = ()


def _lengths(spec: ModalitySpec) -> list[int]:
    """Real lengths of the two rows: a full row and a shorter one (for images: both have one)."""
    if spec.kind == "image":
        return [1, 1]
    if spec.kind == "waveform":
        rate = int(spec.sample_rate or 16000)
        return [rate // 2, rate // 4]  # 0.5 s and 0.25 s, long enough for convolutional front ends
    return [8, 5]


class _Failure:
    """Builds the error for one component of the recipe."""

    def __init__(self, recipe: Recipe, registry: Registry) -> None:
        self.recipe = recipe
        self.registry = registry

    def __call__(self, key: str, kind: str, name: str, problem: str) -> BuildError:
        plugin = self.registry.get(kind, name).plugin if (kind, name) in self.registry else "?"
        return BuildError(
            f"{key}: {kind} '{name}' (plugin '{plugin}') {problem}",
            hint="a bug in that component, or options that do not fit the data; `mmzoo recipe check --build"
            f" {self.recipe.source}` repeats this check, `--debug` shows the traceback",
        )


def _described(exc: BaseException) -> str:
    return f"raised {type(exc).__name__}: {exc}"


def _shape(tensor: Any) -> str:
    return str(tuple(tensor.shape)) if isinstance(tensor, Tensor) else type(tensor).__name__


def _check_encoded(out: Any, dim: int) -> str | None:
    """The contract of an encoder output on the example batch, or ``None`` when it holds."""
    if not isinstance(out, Encoded):
        return f"returned {type(out).__name__}, not mmzoo.contracts.Encoded"
    if not isinstance(out.pooled, Tensor) or tuple(out.pooled.shape) != (ROWS, dim):
        return f"returned pooled of shape {_shape(out.pooled)}; its declared dim is {dim}, so it must be ({ROWS}, {dim})"
    if not isinstance(out.seq, Tensor) or out.seq.dim() != 3 or out.seq.shape[0] != ROWS or out.seq.shape[-1] != dim:
        return f"returned seq of shape {_shape(out.seq)}; it must be ({ROWS}, T', {dim})"
    if not isinstance(out.mask, Tensor) or out.mask.dtype != torch.bool or out.mask.shape != out.seq.shape[:2]:
        return f"returned a mask of shape {_shape(out.mask)}; it must be bool ({ROWS}, {out.seq.shape[1]}) like seq"
    if not bool(torch.isfinite(out.pooled).all()):
        return "returned non-finite values in pooled"
    return None


def _example_targets(module: Any, failure: _Failure, recipe: Recipe) -> tuple[dict[str, Tensor], list[str]]:
    """Targets for the example batch from each objective's ``example_inputs``; and the objectives
    that have none (they are left out of the check)."""
    targets: dict[str, Tensor] = {}
    unchecked: list[str] = []
    for name, objective in module.objectives.items():
        try:
            _, example = objective.example_inputs(ROWS)
        except NotImplementedError:
            unchecked.append(name)
            continue
        except Exception as exc:
            spec = recipe.objectives[name]
            raise failure(f"objectives.{name}", "objective", spec.name, f"example_inputs({ROWS}) {_described(exc)}") from exc
        targets.update(example.targets)
    return targets, unchecked


@contextlib.contextmanager
def _left_as_found(module: torch.nn.Module) -> Iterator[None]:
    """Run in eval mode (as Lightning's sanity check does: components that count training steps
    do not count this one), then restore the modes, the RNGs, the buffers and the gradients."""
    modes = [(part, part.training) for part in module.modules()]
    buffers = {name: buffer.detach().clone() for name, buffer in module.named_buffers()}
    grads = {name: p.grad for name, p in module.named_parameters()}
    module.eval()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            with torch.no_grad():
                for name, buffer in module.named_buffers():
                    if name in buffers:
                        buffer.copy_(buffers[name])
            for name, parameter in module.named_parameters():
                parameter.grad = grads.get(name)
            for part, training in modes:
                part.training = training


def check_build(recipe: Recipe, registry: Registry, module: Any, specs: Mapping[str, ModalitySpec]) -> BuildCheck:
    """Run the example batch through ``module`` (a built :class:`~mmzoo.module.MultimodalModule`).

    Args:
        recipe: the recipe the module was built from (for the recipe keys in messages).
        registry: the components (for their plugins).
        module: the model, on the CPU.
        specs: the datamodule's modality specs.

    Raises:
        BuildError: a component raised or broke its contract; the message names it.
    """
    started = time.perf_counter()
    failure = _Failure(recipe, registry)
    generator = torch.Generator().manual_seed(0)
    inputs = {}
    for modality in module.encoders:
        try:
            inputs[modality] = example_modality_input(specs[modality], _lengths(specs[modality]), generator)
        except ValueError as exc:
            spec = recipe.encoders[modality]
            raise failure(f"model.encoders.{modality}", "encoder", spec.name, f"cannot be given an example input: {exc}") from exc
    # On the CPU, attention goes through SDPA whatever the recipe chooses for training.
    with _left_as_found(module), attention_backend("sdpa"):
        targets, unchecked = _example_targets(module, failure, recipe)
        batch = Batch(inputs=inputs, targets=targets, ids=[f"example-{row}" for row in range(ROWS)])
        encoded: dict[str, Encoded] = {}
        for modality, encoder in module.encoders.items():
            spec = recipe.encoders[modality]
            key = f"model.encoders.{modality}"
            try:
                out = encoder(*inputs[modality])
            except Exception as exc:
                raise failure(key, "encoder", spec.name, f"failed on an example {specs[modality].kind} batch: {_described(exc)}") from exc
            problem = _check_encoded(out, encoder.dim)
            if problem:
                raise failure(key, "encoder", spec.name, problem)
            encoded[modality] = out
        fusion = recipe.fusion.name
        try:
            fused = module.fusion(encoded)
        except Exception as exc:
            raise failure("model.fusion", "fusion", fusion, f"failed on the encoded example batch: {_described(exc)}") from exc
        if not isinstance(fused, Fused):
            raise failure("model.fusion", "fusion", fusion, f"returned {type(fused).__name__}, not mmzoo.contracts.Fused")
        if not isinstance(fused.pooled, Tensor) or tuple(fused.pooled.shape) != (ROWS, module.fusion.dim):
            raise failure(
                "model.fusion", "fusion", fusion,
                f"returned pooled of shape {_shape(fused.pooled)}; its declared dim is {module.fusion.dim}",
            )  # fmt: skip
        outputs: dict[str, Any] = {}
        for name in module.heads:
            try:
                outputs.update(module.run_heads(fused, encoded, batch, heads={name}))
            except Exception as exc:
                raise failure(f"model.heads.{name}", "head", recipe.heads[name].name, f"failed on the fused example: {_described(exc)}") from exc
        for name, decoder in module.decoders.items():
            try:
                outputs[name] = module.run_decoder(name, decoder, fused, encoded, batch, outputs, search=False)
            except Exception as exc:
                spec = recipe.decoders[name]
                raise failure(f"model.decoders.{name}", "decoder", spec.name, f"failed on the example: {_described(exc)}") from exc
        losses: dict[str, Tensor] = {}
        for name, objective in module.objectives.items():
            if name in unchecked:
                continue
            spec = recipe.objectives[name]
            key = f"objectives.{name}"
            try:
                extra = objective.extra_forward(batch, module)
                result = objective(outputs if extra is None else {**outputs, "_extra": extra}, batch)
            except Exception as exc:
                raise failure(key, "objective", spec.name, f"failed on the example outputs: {_described(exc)}") from exc
            loss = result.loss if isinstance(result, LossOutput) else result
            if not isinstance(loss, Tensor) or loss.dim() != 0:
                raise failure(key, "objective", spec.name, f"returned a loss of shape {_shape(loss)}, not a scalar tensor")
            if not bool(torch.isfinite(loss)):
                raise failure(key, "objective", spec.name, f"returned a non-finite loss ({loss.item()}) on the example batch")
            losses[name] = module.weights.get(name, 1.0) * loss
        if losses:
            try:
                total, _ = module.weighting(losses)
            except Exception as exc:
                weighting = recipe.weighting.name
                raise failure("weighting", "weighting", weighting, f"failed on the example losses: {_described(exc)}") from exc
            try:
                total.backward()
            except Exception as exc:
                raise BuildError(
                    f"the backward pass of the example batch failed: {_described(exc)}",
                    hint="an in-place change of a tensor autograd needs, or a non-differentiable step, in one of"
                    " the components; `--debug` shows the traceback",
                ) from exc
    return BuildCheck(seconds=time.perf_counter() - started, unchecked=tuple(unchecked))
