"""hf_text: transformers encoders built from configs, offline, and loaded from a local directory."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import ModalitySpec

from ._util import TOKENS, assert_rows_match_alone, build, inputs

TINY = {
    "bert": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32},
    "roberta": {
        "hidden_size": 16,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 40,
    },
    "distilbert": {"dim": 16, "n_layers": 2, "n_heads": 2, "hidden_dim": 32},
}


@pytest.mark.parametrize("model_type", sorted(TINY))
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_families_from_config_respect_the_mask(model_type, pool):
    encoder = build("hf_text", TOKENS, model_type=model_type, config=TINY[model_type], pool=pool).eval()
    assert encoder.dim == 16
    assert encoder.model.config.vocab_size == TOKENS.vocab_size
    assert len(encoder.blocks()) == encoder.model.config.num_hidden_layers
    values, mask = inputs(TOKENS, [9, 5, 1])
    out = assert_rows_match_alone(encoder, values, mask)
    assert out.seq[~mask].abs().sum() == 0
    if pool == "cls":
        torch.testing.assert_close(out.pooled, out.seq[:, 0])


def test_blocks_are_the_model_layers():
    bert = build("hf_text", TOKENS, model_type="bert", config=TINY["bert"])
    assert bert.blocks() == list(bert.model.encoder.layer)
    distil = build("hf_text", TOKENS, model_type="distilbert", config=TINY["distilbert"])
    assert distil.blocks() == list(distil.model.transformer.layer)


def test_save_pretrained_then_load_from_the_local_directory(tmp_path):
    encoder = build("hf_text", TOKENS, model_type="roberta", config=TINY["roberta"], pool="mean").eval()
    encoder.model.save_pretrained(tmp_path / "tiny-roberta")
    loaded = build("hf_text", TOKENS, seed=123, pretrained=str(tmp_path / "tiny-roberta"), pool="mean").eval()
    assert type(loaded.model) is type(encoder.model)
    values, mask = inputs(TOKENS, [9, 5, 1])
    expected, got = encoder(values, mask), loaded(values, mask)
    torch.testing.assert_close(got.seq, expected.seq)
    torch.testing.assert_close(got.pooled, expected.pooled)
    # config entries override the checkpoint's configuration
    overridden = build(
        "hf_text", TOKENS, pretrained=str(tmp_path / "tiny-roberta"), config={"hidden_dropout_prob": 0.3}
    )
    assert overridden.model.config.hidden_dropout_prob == 0.3


def test_task_pooler_is_dropped_and_every_weight_gets_a_gradient():
    encoder = build("hf_text", TOKENS, model_type="bert", config=TINY["bert"], pool="mean")
    assert not any(name.startswith("model.pooler") for name, _ in encoder.named_parameters())
    values, mask = inputs(TOKENS, [9, 5, 1])
    encoder(values, mask).pooled.square().sum().backward()
    missing = [n for n, p in encoder.named_parameters() if p.grad is None and "token_type" not in n]
    assert not missing


def test_vocabulary_too_small_for_the_data_is_an_error(tmp_path):
    small = build("hf_text", ModalitySpec(kind="tokens", vocab_size=20), config=TINY["bert"])
    small.model.save_pretrained(tmp_path / "small")
    with pytest.raises(ValueError, match="vocabulary"):
        build("hf_text", TOKENS, pretrained=str(tmp_path / "small"))
    with pytest.raises(ValueError, match="hf_text"):
        build("hf_text", TOKENS, model_type="not_a_model_type")
