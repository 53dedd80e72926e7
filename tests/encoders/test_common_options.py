"""The common encoder options (mmzoo.encoder_settings) work with every zoo encoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmzoo.encoder_settings import apply_encoder_settings
from mmzoo.recipe.schema import EncoderSettings, LoraSettings

from ._util import FEATURES, IMAGE, TOKENS, WAVEFORM, build, gradients, inputs, trainable

_BERT = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}

# (id, registry name, spec, lengths, options without dropout so that two runs are comparable)
CASES = [
    ("transformer", "transformer", FEATURES, [9, 5, 2], {"dim": 16, "layers": 2, "heads": 2, "dropout": 0.0}),
    ("rnn", "rnn", TOKENS, [9, 5, 2], {"dim": 16, "layers": 2, "cell": "gru"}),
    ("hf_text", "hf_text", TOKENS, [9, 5, 2], {"model_type": "bert", "config": _BERT}),
    ("cnn2d", "cnn2d", FEATURES, [9, 5, 2], {"dim": 16, "channels": [8, 8], "dropout": 0.0}),
    (
        "conformer",
        "conformer",
        FEATURES,
        [9, 5, 2],
        {"dim": 16, "layers": 2, "heads": 2, "ffn_dim": 32, "kernel_size": 3, "dropout": 0.0},
    ),
    (
        "wav2vec2",
        "wav2vec2",
        WAVEFORM,
        [4000, 2500],
        {"dim": 32, "layers": 2, "heads": 2, "ff_dim": 64, "dropout": 0.0},
    ),
    (
        "timm-vit",
        "timm",
        IMAGE,
        [1, 1, 0],
        {
            "model_name": "vit_tiny_patch16_224",
            "model_kwargs": {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2},
        },
    ),
    ("timm-resnet", "timm", IMAGE, [1, 1, 0], {"model_name": "resnet10t"}),
    ("small_cnn", "small_cnn", IMAGE, [1, 1, 0], {"channels": [8, 16]}),
    ("small_vit", "small_vit", IMAGE, [1, 1, 0], {"dim": 32, "depth": 2, "heads": 2}),
]
IDS = [case[0] for case in CASES]


def _block_parameters(block: nn.Module, encoder: nn.Module) -> set[str]:
    ids = {id(p) for p in block.parameters()}
    return {name for name, p in encoder.named_parameters() if id(p) in ids}


@pytest.mark.parametrize(("case", "name", "spec", "lengths", "options"), CASES, ids=IDS)
def test_train_last_trains_exactly_the_last_blocks(case, name, spec, lengths, options):
    encoder = build(name, spec, **options)
    blocks = encoder.blocks()
    assert len(blocks) >= 2, f"{case} lists {len(blocks)} blocks"
    apply_encoder_settings(encoder, EncoderSettings(train_last=1))
    assert trainable(encoder) == _block_parameters(blocks[-1], encoder) != set()
    apply_encoder_settings(encoder, EncoderSettings(train_last=2))
    assert trainable(encoder) == _block_parameters(blocks[-1], encoder) | _block_parameters(blocks[-2], encoder)


def _first_leaf(block: nn.Module) -> nn.Module:
    return next(m for m in block.modules() if not list(m.children()) and list(m.parameters(recurse=False)))


@pytest.mark.parametrize(("case", "name", "spec", "lengths", "options"), CASES, ids=IDS)
def test_gradient_checkpointing_recomputes_and_keeps_gradients(case, name, spec, lengths, options):
    values, mask = inputs(spec, lengths)
    reference = gradients(build(name, spec, **options), values, mask)

    encoder = apply_encoder_settings(build(name, spec, **options), EncoderSettings(gradient_checkpointing=True))
    calls = []
    # a pre-hook: recomputation stops early once the saved tensors it needs are back
    _first_leaf(encoder.blocks()[0]).register_forward_pre_hook(lambda *_: calls.append(1))
    checkpointed = gradients(encoder, values, mask)
    assert len(calls) == 2, f"{case}: the first block ran {len(calls)} time(s); checkpointing recomputes it once"
    assert checkpointed.keys() == reference.keys()
    for key, grad in reference.items():
        torch.testing.assert_close(checkpointed[key], grad, atol=1e-5, rtol=1e-4, msg=f"{case}: gradient of {key}")


@pytest.mark.parametrize("name", ["transformer", "hf_text"])
def test_lora_trains_only_the_adapters(name):
    options = dict(CASES[IDS.index(name)][4])
    encoder = build(name, TOKENS, **options)
    encoder = apply_encoder_settings(encoder, EncoderSettings(lora=LoraSettings(r=2, alpha=4)))
    names = trainable(encoder)
    assert names and all("lora_" in n for n in names)
    frozen_before = {n: p.detach().clone() for n, p in encoder.named_parameters() if not p.requires_grad}
    values, mask = inputs(TOKENS, [9, 5, 2])
    encoder.train()
    before = encoder(values, mask).pooled.detach()
    target = torch.randn(before.shape, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.SGD([p for p in encoder.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):  # LoRA's B starts at zero: the first step moves B, the second changes the output
        optimizer.zero_grad()
        (encoder(values, mask).pooled * target).sum().backward()
        optimizer.step()
    assert not torch.allclose(encoder(values, mask).pooled, before)
    for n, p in encoder.named_parameters():
        if n in frozen_before:
            assert torch.equal(p, frozen_before[n]), f"{n} changed"


def test_projection_and_freeze():
    encoder = build("small_vit", IMAGE, dim=32, depth=1, heads=2)
    projected = apply_encoder_settings(encoder, EncoderSettings(freeze=True, project_dim=8))
    out = projected(*inputs(IMAGE, [1, 0]))
    assert out.pooled.shape == (2, 8) and out.seq.shape[-1] == 8
    assert trainable(projected) == {"proj.weight", "proj.bias"}
