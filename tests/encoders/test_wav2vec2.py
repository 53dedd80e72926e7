"""wav2vec2 / hubert: torchaudio's raw-waveform models, tiny and offline, mask-exact."""

from __future__ import annotations

import pytest
import torch

from mmzoo.encoders.wav2vec2 import HubertEncoder, Wav2Vec2Encoder

from ._util import FEATURES, WAVEFORM, assert_rows_match_alone, build, inputs

TINY = {"dim": 32, "layers": 2, "heads": 2, "ff_dim": 64, "dropout": 0.0}
LENGTHS = [4000, 1600, 400, 200]


@pytest.mark.parametrize("name", ["wav2vec2", "hubert"])
@pytest.mark.parametrize("extractor_mode", ["layer_norm", "group_norm"])
def test_output_mask_has_the_model_lengths_and_rows_match_alone(name, extractor_mode):
    encoder = build(name, WAVEFORM, **TINY, extractor_mode=extractor_mode).eval()
    values, mask = inputs(WAVEFORM, LENGTHS)
    out = assert_rows_match_alone(encoder, values, mask, atol=2e-5)
    _, model_lengths = encoder.model.feature_extractor(values, mask.sum(dim=1))
    assert out.mask.sum(dim=1).tolist() == model_lengths.tolist() == [24, 9, 2, 1]
    assert out.seq[~out.mask].abs().sum() == 0


def test_same_result_as_torchaudio_without_padding():
    encoder = build("wav2vec2", WAVEFORM, **TINY, extractor_mode="group_norm").eval()
    values = 0.1 * torch.randn(2, 4000)
    out = encoder(values, torch.ones(2, 4000, dtype=torch.bool))
    expected, lengths = encoder.model(values, torch.full((2,), 4000))
    torch.testing.assert_close(out.seq, expected, atol=2e-5, rtol=1e-4)
    assert out.mask.sum(dim=1).tolist() == lengths.tolist()


def test_checkpoint_path_loads_a_state_dict_saved_from_the_same_config(tmp_path):
    source = build("hubert", WAVEFORM, **TINY).eval()
    state = dict(source.model.state_dict())
    state["aux.weight"] = torch.zeros(3, 32)  # a fine-tuning head in the file is ignored
    torch.save(state, tmp_path / "tiny.pt")
    loaded = build("hubert", WAVEFORM, seed=7, **TINY, checkpoint_path=str(tmp_path / "tiny.pt")).eval()
    values, mask = inputs(WAVEFORM, LENGTHS)
    torch.testing.assert_close(loaded(values, mask).pooled, source(values, mask).pooled)
    with pytest.raises(RuntimeError):
        build("hubert", WAVEFORM, **{**TINY, "dim": 16, "heads": 2}, checkpoint_path=str(tmp_path / "tiny.pt"))


def test_mask_need_not_be_a_prefix_and_normalisation_uses_real_samples_only():
    encoder = build("wav2vec2", WAVEFORM, **TINY, normalize_waveform=True).eval()
    real = torch.randn(1, 2000)
    shifted = torch.cat([torch.full((1, 500), 5.0), real], dim=1)
    mask = torch.cat([torch.zeros(1, 500, dtype=torch.bool), torch.ones(1, 2000, dtype=torch.bool)], dim=1)
    expected = encoder(real * 3 + 1, torch.ones(1, 2000, dtype=torch.bool))  # scale/offset removed by normalising
    torch.testing.assert_close(encoder(shifted, mask).pooled, expected.pooled, atol=2e-5, rtol=1e-4)


def test_blocks_sizes_and_input_kind():
    encoder = build("wav2vec2", WAVEFORM, **TINY)
    assert encoder.blocks() == list(encoder.model.encoder.transformer.layers) and len(encoder.blocks()) == 2
    assert encoder.dim == 32
    assert Wav2Vec2Encoder.input_kinds == HubertEncoder.input_kinds == ("waveform",)
    assert set(HubertEncoder._BUILDERS) == {"base", "large", "xlarge"}
    with pytest.raises(ValueError, match="waveform"):
        build("wav2vec2", FEATURES)
    with pytest.raises(ValueError, match="triples"):
        build("wav2vec2", WAVEFORM, conv_layers=[[32, 10]])


def test_hubert_takes_the_options_of_wav2vec2_with_its_own_sizes(registry):
    wav2vec2, hubert = registry.get("encoder", "wav2vec2"), registry.get("encoder", "hubert")
    described = [(o.name, o.default, o.doc) for o in wav2vec2.options]
    assert [(o.name, o.default, o.doc) for o in hubert.options] == described
    assert [o.type_name for o in hubert.options[1:]] == [o.type_name for o in wav2vec2.options[1:]]
    assert hubert.option("size").type_name == "'custom' | 'base' | 'large' | 'xlarge'"
    assert wav2vec2.option("size").type_name == "'custom' | 'base' | 'large' | 'large_lv60k'"
    assert (hubert.input_kinds, hubert.context_args) == (("waveform",), ("input_spec",))
    assert hubert.doc.startswith("HuBERT") and wav2vec2.doc.startswith("wav2vec 2.0")
