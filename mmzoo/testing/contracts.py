"""Contract checks that any registered component can be put through.

mmzoo's own test-suite runs them on every registered component (``tests/test_components.py``),
and plugin authors can run them on theirs::

    from mmzoo.plugins import load_registry
    from mmzoo.testing import check_entry

    def test_my_encoder():
        check_entry(load_registry().get("encoder", "my_encoder"))

Each check builds the component from the entry's ``example`` options and raises
``AssertionError`` with a readable message when the contract is broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mmzoo.contracts import Batch, Encoded, Fused, ModalityInput, ModalitySpec
from mmzoo.examples import example_modality_input, lengths_mask
from mmzoo.ops.masking import masked_mean
from mmzoo.registry import Entry
from mmzoo.testing.transforms import check_transform

__all__ = [
    "check_entry",
    "check_encoder",
    "check_fusion",
    "check_head",
    "check_decoder",
    "check_objective",
    "check_datamodule",
    "check_weighting",
    "check_transform",
    "example_modality_input",
    "example_encoded",
]

_SPECS: dict[str, ModalitySpec] = {
    "features": ModalitySpec(kind="features", feature_dim=12),
    "tokens": ModalitySpec(kind="tokens", vocab_size=50, pad_id=0),
    "waveform": ModalitySpec(kind="waveform", sample_rate=16000),
    "image": ModalitySpec(kind="image", channels=3, image_size=(32, 32)),
}

# Real lengths per example row: positions for features and tokens, samples for waveforms (0.5 s,
# 0.25 s and 0.1 s at 16 kHz), and for images 1 (an image) or 0 (the row has none).
_LENGTHS: dict[str, list[int]] = {
    "features": [7, 4, 1],
    "tokens": [7, 4, 1],
    "waveform": [8000, 4000, 1600],
    "image": [1, 1, 0],
}


def _finite(tensor: Tensor, what: str) -> None:
    assert torch.isfinite(tensor).all(), f"{what} has NaN or infinite values"


def _scramble_padding(inputs: ModalityInput, spec: ModalitySpec, generator: torch.Generator) -> ModalityInput:
    """The same input with different values at padded positions (for images: in rows without one)."""
    values, mask = inputs
    if spec.kind == "tokens":
        noise = torch.randint(1, spec.vocab_size or 2, values.shape, generator=generator)
        return ModalityInput(torch.where(mask, values, noise), mask)
    noise = 100 * torch.randn(values.shape, generator=generator)
    gate = mask.reshape(*mask.shape, *([1] * (values.dim() - mask.dim())))
    return ModalityInput(torch.where(gate, values, noise), mask)


def _example_options(entry: Entry) -> dict[str, Any]:
    example = entry.example
    return dict(example() if callable(example) else example)


def check_encoder(entry: Entry, kinds: tuple[str, ...] | None = None) -> None:
    """Forward and backward, shapes, padding invariance of ``pooled``, rows without any real
    position, bf16 autocast, state_dict.

    Inputs come from :func:`example_modality_input` for each of the encoder's ``input_kinds``
    (features, tokens, waveform, image). For images, padding invariance means that the pixels of
    a row whose mask is ``False`` change nothing at all (``seq``, ``mask`` and ``pooled``).
    """
    kinds = kinds or entry.input_kinds or ("features",)
    options = _example_options(entry)
    for kind in kinds:
        spec = _SPECS[kind]
        lengths = _LENGTHS[kind]
        generator = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        encoder = entry.build(options, {"input_spec": spec}).eval()
        assert isinstance(encoder.dim, int), "encoders expose an integer `dim`"
        inputs = example_modality_input(spec, lengths, generator)
        out = encoder(*inputs)
        batch = len(lengths)
        assert isinstance(out, Encoded), f"forward must return Encoded, got {type(out).__name__}"
        assert out.pooled.shape == (batch, encoder.dim), f"pooled shape {tuple(out.pooled.shape)}"
        assert out.seq.shape[0] == batch and out.seq.shape[-1] == encoder.dim, f"seq shape {tuple(out.seq.shape)}"
        assert out.mask.dtype == torch.bool and out.mask.shape == out.seq.shape[:2], "mask is bool (B, T')"
        _finite(out.pooled, f"{entry.name}.pooled ({kind})")

        scrambled = encoder(*_scramble_padding(inputs, spec, generator))
        torch.testing.assert_close(scrambled.pooled, out.pooled, msg=f"{entry.name}: padding changed `pooled`")
        if kind == "image":
            assert torch.equal(scrambled.mask, out.mask), f"{entry.name}: a missing image's pixels changed `mask`"
            torch.testing.assert_close(
                scrambled.seq, out.seq, msg=f"{entry.name}: a missing image's pixels changed `seq`"
            )

        if kind != "image":  # the image batch already has a row without an image
            empty = encoder(*example_modality_input(spec, [lengths[0], 0], generator))
            _finite(empty.pooled, f"{entry.name}.pooled with a row without real positions ({kind})")
            _finite(empty.seq.float(), f"{entry.name}.seq with a row without real positions ({kind})")

        encoder.train()
        out = encoder(*inputs)
        (out.pooled.square().mean() + out.seq.float().square().mean()).backward()
        grads = [p.grad for p in encoder.parameters() if p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), "no gradient reached the encoder"

        with torch.autocast("cpu", dtype=torch.bfloat16):
            _finite(encoder.eval()(*inputs).pooled.float(), f"{entry.name}.pooled under bf16 autocast")

        _check_blocks(encoder, entry.name)
        clone = entry.build(options, {"input_spec": spec}).eval()
        clone.load_state_dict(encoder.state_dict())
        torch.testing.assert_close(clone(*inputs).pooled, encoder(*inputs).pooled)


def _check_blocks(component: Any, name: str) -> None:
    """The blocks a component lists (``blocks()``) are distinct submodules of it: the units that
    activation checkpointing, ``model.compile`` and FSDP sharding work on (``mmzoo.scaling``)."""
    from mmzoo.scaling.checkpointing import blocks_of

    blocks = blocks_of(component)
    inside = {id(module) for module in component.modules() if module is not component}
    for index, block in enumerate(blocks):
        assert isinstance(block, nn.Module), f"{name}: block {index} is a {type(block).__name__}, not an nn.Module"
        assert id(block) in inside, f"{name}: block {index} ({type(block).__name__}) is not a submodule"
    assert len({id(b) for b in blocks}) == len(blocks), f"{name}: blocks() lists a block twice"


def example_encoded(dims: Mapping[str, int], lengths: list[int], generator: torch.Generator) -> dict[str, Encoded]:
    """Random :class:`Encoded` per modality; ``pooled`` is the masked mean of ``seq`` (with grads)."""
    encoded: dict[str, Encoded] = {}
    for offset, (modality, dim) in enumerate(sorted(dims.items())):
        mask = lengths_mask([max(1, n - offset) for n in lengths])
        seq = torch.randn(*mask.shape, dim, generator=generator).requires_grad_(True)
        encoded[modality] = Encoded(seq=seq, mask=mask, pooled=masked_mean(seq, mask))
    return encoded


def _run_fusion(fusion: Any, encoded: Mapping[str, Encoded]) -> Fused:
    out = fusion(encoded)
    assert isinstance(out, Fused), f"forward must return Fused, got {type(out).__name__}"
    return out


def check_fusion(entry: Entry, num_modalities: int = 2) -> None:
    """Shapes, gradients to every modality, padding invariance, determinism, bf16 autocast."""
    dims = dict(zip(("audio", "image", "text"), (8, 12, 6)[:num_modalities]))
    if num_modalities > 3:
        dims.update({f"extra{i}": 4 for i in range(num_modalities - 3)})
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    fusion = entry.build(entry.example, {"input_dims": dims}).eval()
    assert isinstance(fusion.dim, int), "fusions expose an integer `dim`"
    encoded = example_encoded(dims, [6, 3, 1, 5], generator)
    out = _run_fusion(fusion, encoded)
    assert out.pooled.shape == (4, fusion.dim), f"pooled shape {tuple(out.pooled.shape)}"
    _finite(out.pooled, f"{entry.name}.pooled")

    out.pooled.square().sum().backward()
    for modality, item in encoded.items():
        assert item.seq.grad is not None and item.seq.grad.abs().sum() > 0, f"no gradient reached '{modality}'"

    scrambled = {
        m: Encoded(
            seq=torch.where(e.mask.unsqueeze(-1), e.seq.detach(), 100 * torch.randn(e.seq.shape, generator=generator)),
            mask=e.mask,
            pooled=e.pooled.detach(),
        )
        for m, e in encoded.items()
    }
    torch.testing.assert_close(
        _run_fusion(fusion, scrambled).pooled, out.pooled.detach(), msg="padding changed the output"
    )

    torch.manual_seed(0)
    again = entry.build(entry.example, {"input_dims": dims}).eval()
    torch.testing.assert_close(_run_fusion(again, encoded).pooled, out.pooled, msg="not deterministic under a seed")

    with torch.autocast("cpu", dtype=torch.bfloat16):
        _finite(_run_fusion(fusion, encoded).pooled.float(), f"{entry.name}.pooled under bf16 autocast")

    _check_blocks(fusion, entry.name)
    if getattr(fusion, "handles_missing", False):
        _check_missing_modality(fusion, encoded, generator)


def _without_row(item: Encoded, row: int, generator: torch.Generator) -> Encoded:
    """``item`` with ``row`` turned into a missing modality: all-false mask, zero pooled, and
    random values in ``seq`` (and ``layers``) that the fusion must not look at."""
    mask = item.mask.clone()
    mask[row] = False
    noise = 100 * torch.randn(item.seq.shape[1:], generator=generator)
    seq = item.seq.detach().clone()
    seq[row] = noise
    pooled = item.pooled.detach().clone()
    pooled[row] = 0.0
    layers = None
    if item.layers is not None:
        layers = tuple(
            layer.detach().clone().index_put_((torch.tensor([row]),), noise.unsqueeze(0)) for layer in item.layers
        )
    return Encoded(seq=seq, mask=mask, pooled=pooled, layers=layers)


def _check_missing_modality(fusion: Any, encoded: Mapping[str, Encoded], generator: torch.Generator) -> None:
    """A row that lacks a modality gives finite output that ignores that modality's values."""
    absent = sorted(encoded)[0]
    first = {m: (_without_row(e, 0, generator) if m == absent else e) for m, e in encoded.items()}
    second = {m: (_without_row(e, 0, generator) if m == absent else e) for m, e in encoded.items()}
    out_first = _run_fusion(fusion, first).pooled.detach()
    _finite(out_first, f"pooled with '{absent}' missing from a row")
    torch.testing.assert_close(
        _run_fusion(fusion, second).pooled.detach(),
        out_first,
        msg=f"the output of a row without '{absent}' depends on that modality's values",
    )


def check_head(entry: Entry) -> None:
    """Forward on a fused vector (and encoded modalities, and raw inputs for heads that read them),
    gradients, and per-row prediction values."""
    torch.manual_seed(0)
    specs = {"audio": _SPECS["features"], "text": _SPECS["tokens"]}
    head = entry.build(
        entry.example_options(), {"in_dim": 8, "encoder_dims": {"audio": 8, "text": 6}, "input_specs": specs}
    )
    generator = torch.Generator().manual_seed(0)
    encoded = example_encoded({"audio": 8, "text": 6}, [5, 2, 3], generator)
    pooled = torch.randn(3, 8, requires_grad=True)
    if getattr(head, "reads_inputs", False):
        inputs = {name: example_modality_input(spec, [6, 2, 4], generator) for name, spec in specs.items()}
        output = head(Fused(pooled=pooled), encoded, inputs)
    else:
        output = head(Fused(pooled=pooled), encoded)
    tensors = output.values() if isinstance(output, Mapping) else [output]
    loss = sum(t.float().square().mean() for t in tensors if isinstance(t, Tensor))
    loss.backward()  # type: ignore[union-attr]
    reached = [t for t in (pooled, *(e.seq for e in encoded.values())) if t.grad is not None and t.grad.abs().sum() > 0]
    assert reached, "no gradient reached the fused vector or the encoded modalities"
    for name, value in head.predict(output).items():
        assert isinstance(value, Tensor) and value.shape[0] == 3, f"predict()['{name}'] must have one row per example"


def _tensors(value: Any) -> list[Tensor]:
    """Every tensor in a head output (a tensor, or mappings and sequences of them)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [t for item in value.values() for t in _tensors(item)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def check_objective(entry: Entry) -> None:
    """Finite loss, gradients to the outputs, and metrics that compute."""
    from torchmetrics import MetricCollection

    torch.manual_seed(0)
    objective = entry.build(entry.example, {"heads": {}})
    outputs, batch = objective.example_inputs(6)
    result = objective(outputs, batch)
    loss = result if isinstance(result, Tensor) else result.loss
    assert loss.dim() == 0, "the loss is a scalar"
    _finite(loss, f"{entry.name} loss")
    loss.backward()
    leaves = [t for t in _tensors(outputs) if t.requires_grad]
    assert leaves and all(t.grad is not None for t in leaves), "gradients must reach the head outputs"
    made = objective.make_metrics()
    if made:
        metrics = MetricCollection(made)
        objective.update_metrics(metrics, outputs, batch)
        for name, value in metrics.compute().items():
            _finite(torch.as_tensor(value, dtype=torch.float32), f"metric {name}")


def check_weighting(entry: Entry) -> None:
    """A finite scalar total, gradients to every loss, and finite logged values."""
    weighting = entry.build(entry.example_options(), {"objectives": ("first", "second")})
    losses = {"first": torch.tensor(2.0, requires_grad=True), "second": torch.tensor(0.5, requires_grad=True)}
    total, logs = weighting(losses)
    assert total.dim() == 0, "the total loss is a scalar"
    _finite(total, f"{entry.name} total")
    total.backward()
    for name, loss in losses.items():
        assert loss.grad is not None and loss.grad != 0, f"no gradient reached the loss of '{name}'"
    for key, value in logs.items():
        _finite(value, f"logged {key}")


def check_datamodule(entry: Entry) -> None:
    """Described modalities and targets match the batches it serves."""
    datamodule = entry.build(entry.example_options(), {"seed": 0})
    specs: dict[str, ModalitySpec] = datamodule.modality_specs
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert isinstance(batch, Batch), f"dataloaders yield mmzoo.contracts.Batch, got {type(batch).__name__}"
    assert set(batch.inputs) <= set(specs), f"unexpected modalities {set(batch.inputs) - set(specs)}"
    for modality, (values, mask) in batch.inputs.items():
        if specs[modality].kind == "image":
            assert values.dim() == 4 and mask.shape == (values.shape[0], 1), (
                f"{modality}: images (B, C, H, W), mask (B, 1)"
            )
        else:
            assert mask.shape == values.shape[:2], f"{modality}: mask must be (B, T)"
        assert mask.dtype == torch.bool, f"{modality}: mask must be bool"
        if specs[modality].kind == "tokens":
            assert not values.is_floating_point(), f"{modality}: token ids must be integers"
        if specs[modality].kind == "features":
            assert values.shape[-1] == specs[modality].feature_dim, f"{modality}: feature_dim mismatch"
    assert set(batch.targets) == set(datamodule.target_names), "targets must match target_names"
    assert len(batch.ids) == mask.shape[0], "one id per row"


def check_decoder(entry: Entry) -> None:
    """Teacher-forced logits equal step-by-step cached decoding (to 1e-5 in fp32), a padded memory
    position never changes a result, gradients reach the memory, and ``select`` keeps rows apart.

    Uses a memory of width 12 and 3 rows of 7, 5 and 3 real frames, and targets of 4, 2 and 1 tokens.
    """
    from mmzoo.contracts import Decoder, bos_id, teacher_forcing

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    decoder = entry.build(_example_options(entry), {"memory_dim": 12})
    assert isinstance(decoder, Decoder), f"the factory must return a mmzoo.contracts.Decoder, got {type(decoder)}"
    assert isinstance(decoder.vocab_size, int) and decoder.vocab_size >= 1, "decoders set an integer vocab_size"
    decoder.eval()
    vocab = decoder.vocab_size
    memory = torch.randn(3, 7, 12, generator=generator, requires_grad=True)
    memory_mask = lengths_mask([7, 5, 3])
    target = torch.full((3, 4), -1, dtype=torch.long)
    for row, length in enumerate((4, 2, 1)):
        target[row, :length] = torch.randint(1, vocab + 1, (length,), generator=generator)
    inputs, input_mask, _ = teacher_forcing(target, vocab)
    logits = decoder(memory, memory_mask, inputs, input_mask)
    assert logits.shape == (3, 5, vocab + 1), f"logits must be (B, L, vocab_size + 1), got {tuple(logits.shape)}"
    _finite(logits[input_mask], "teacher-forced logits")
    logits[input_mask].sum().backward()
    assert memory.grad is not None and memory.grad[memory_mask].abs().sum() > 0, "no gradient reaches the memory"
    assert memory.grad[~memory_mask].abs().sum() == 0, "padded memory positions receive a gradient"

    with torch.no_grad():
        state = decoder.start(memory, memory_mask)
        stepped = []
        for position in range(inputs.shape[1]):
            step_logits, state = decoder.step(inputs[:, position], state)
            stepped.append(step_logits)
        stepped_logits = torch.stack(stepped, dim=1)
        gap = (stepped_logits - logits)[input_mask].abs().max().item()
        assert gap <= 1e-5, f"step-by-step decoding differs from teacher forcing by {gap:.2e} (at most 1e-5)"

        scrambled = memory.detach().clone()
        scrambled[~memory_mask] = 1e3 * torch.randn(int((~memory_mask).sum()), 12, generator=generator)
        changed = (decoder(scrambled, memory_mask, inputs, input_mask) - logits)[input_mask].abs().max().item()
        assert changed <= 1e-5, f"values at padded memory positions changed the logits by {changed:.2e}"

        state = decoder.start(memory, memory_mask)
        first, state = decoder.step(torch.full((3,), bos_id(vocab), dtype=torch.long), state)
        swapped = decoder.select(state, torch.tensor([2, 0, 0]))
        tokens = inputs[:, 1].clone()
        after, _ = decoder.step(tokens[[2, 0, 0]], swapped)
        alone, _ = decoder.step(tokens, state)
        gap = (after - alone[[2, 0, 0]]).abs().max().item()
        assert gap <= 1e-5, f"select() must reorder and repeat the rows of the state (differs by {gap:.2e})"
        assert first.shape == (3, vocab + 1)


_CHECKS = {
    "transform": check_transform,
    "encoder": check_encoder,
    "fusion": check_fusion,
    "decoder": check_decoder,
    "head": check_head,
    "objective": check_objective,
    "weighting": check_weighting,
    "datamodule": check_datamodule,
}


def check_entry(entry: Entry) -> None:
    """Run the contract check that fits the entry's kind."""
    _CHECKS[entry.kind](entry)
