"""Decoders in recipes: validation, joint CTC/attention training, prediction, and a third-party decoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import mmzoo
from mmzoo.contracts import Decoder, DecoderState, teacher_forcing
from mmzoo.errors import RecipeError
from mmzoo.plugins import load_registry
from mmzoo.recipe import load_recipe
from mmzoo.registry import Registrar
from mmzoo.run import run_recipe

from .conftest import RECIPES

ASR = RECIPES / "data" / "digits" / "asr"

RECIPE = f"""\
seed: 3
run: {{root: {{root}}, name: gen}}
data:
  name: manifest
  train: {ASR}/train.jsonl
  val: {ASR}/val.jsonl
  test: {ASR}/test.jsonl
  modalities:
    audio: {{type: audio, sample_rate: 16000}}
  targets:
    transcript: {{type: transcript, field: text}}
  batch_size: 8
transforms:
  audio: [{{name: log_mel, n_mels: 16}}, {{name: normalize}}]
model:
  encoders:
    audio: {{name: conv1d, dim: 32, layers: 1}}
  fusion: {{name: concat, dim: 8}}
  heads:
    ctc: {{name: ctc, modality: audio, vocab_size: 28}}
  decoders:
    transcript:
      name: {{decoder}}
      memory: audio
      target: transcript
      search: {{beam_size: 2, max_length: 10, ctc_head: ctc, ctc_weight: 0.3}}
objectives:
  ctc: {{name: ctc, head: ctc, target: transcript, weight: 0.3}}
  attention: {{name: sequence_ce, head: transcript, target: transcript, weight: 0.7}}
optimizer: {{name: adamw, lr: 0.003}}
trainer:
  max_epochs: 1
  limit_train_batches: 3
  limit_val_batches: 2
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  enable_model_summary: false
logger:
  wandb: {{mode: disabled}}
"""


def _recipe(tmp_path: Path, decoder: str = "transformer") -> Path:
    path = tmp_path / "gen.yaml"
    path.write_text(RECIPE.replace("{root}", str(tmp_path / "runs")).replace("{decoder}", decoder))
    return path


def test_teacher_forcing_shifts_the_target_behind_bos_and_ends_it_with_eos():
    inputs, mask, outputs = teacher_forcing(torch.tensor([[3, 4, 5], [2, -1, -1], [-1, -1, -1]]), 5)
    assert inputs.tolist() == [[6, 3, 4, 5], [6, 2, 0, 0], [6, 0, 0, 0]]
    assert mask.tolist() == [[True] * 4, [True, True, False, False], [True, False, False, False]]
    assert outputs.tolist() == [[3, 4, 5, 0], [2, 0, -100, -100], [-100] * 4]  # an empty row is unlabelled


def test_decoder_sections_are_validated(tmp_path, registry):
    text = _recipe(tmp_path).read_text()
    broken = text.replace("      memory: audio\n      target: transcript\n", "      memory: audoi\n")
    broken = broken.replace("ctc_head: ctc,", "ctc_head: ctcc,")
    (tmp_path / "broken.yaml").write_text(broken)
    with pytest.raises(RecipeError) as info:
        load_recipe(tmp_path / "broken.yaml", [], registry)
    found = {p.key: p.message for p in info.value.problems}
    assert "missing" in found["model.decoders.transcript.target"]
    assert "no encoder 'audoi'" in found["model.decoders.transcript.memory"]
    assert "did you mean 'audio'" in found["model.decoders.transcript.memory"]
    assert "no head named 'ctcc'" in found["model.decoders.transcript.search.ctc_head"]
    with pytest.raises(RecipeError) as info:
        load_recipe(_recipe(tmp_path), ["model.heads.transcript={name: ctc, modality: audio}"], registry)
    assert "outputs of heads and decoders share one namespace" in str(info.value)
    with pytest.raises(RecipeError) as info:
        load_recipe(_recipe(tmp_path), ["model.decoders.transcript.search.beam_size=0"], registry)
    assert "model.decoders.transcript.search" in str(info.value)


def test_a_model_with_decoders_needs_no_head(tmp_path, registry):
    overrides = ["model.heads=null", "objectives.ctc=null", "model.decoders.transcript.search={beam_size: 1}"]
    recipe = load_recipe(_recipe(tmp_path), overrides, registry)
    assert recipe.heads == {} and list(recipe.decoders) == ["transcript"]


@pytest.mark.parametrize("decoder", ["transformer", "lstm"])
def test_joint_ctc_attention_trains_validates_and_predicts(tmp_path, decoder):
    recipe = _recipe(tmp_path, decoder)
    fit = run_recipe("fit", recipe)
    metrics = json.loads((fit.run_dir / "results.json").read_text())["metrics"]
    assert {"val/attention/cer", "val/attention/wer", "val/ctc/cer"} <= set(metrics)
    predicted = run_recipe("predict", recipe, [f"data.predict={ASR / 'test.jsonl'}"])
    rows = [json.loads(line) for line in (predicted.run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == len((ASR / "test.jsonl").read_text().splitlines())
    for row in rows:
        tokens = row["transcript"]["tokens"]
        assert all(0 < t <= 28 for t in tokens if t != -1) and len(tokens) <= 10
        assert isinstance(row["transcript"]["scores"], float)


class _Bigram(Decoder):
    """A third party's decoder: logits from the previous token and the mean of the memory."""

    def __init__(self, memory_dim: int, vocab_size: int = 28) -> None:
        super().__init__()
        self.vocab_size, self.memory_dim = vocab_size, memory_dim
        self.embed = nn.Embedding(vocab_size + 2, memory_dim)
        self.out = nn.Linear(memory_dim, vocab_size + 1)

    def _pooled(self, memory: Tensor, mask: Tensor) -> Tensor:
        weights = mask.float() / mask.float().sum(dim=1, keepdim=True).clamp(min=1)
        return torch.einsum("bt,btd->bd", weights, memory)

    def forward(self, memory: Tensor, memory_mask: Tensor, tokens: Tensor, token_mask: Tensor) -> Tensor:
        return self.out(self.embed(tokens) + self._pooled(memory, memory_mask)[:, None])

    def start(self, memory: Tensor, memory_mask: Tensor) -> DecoderState:
        return {"pooled": self._pooled(memory, memory_mask)}

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        return self.out(self.embed(tokens) + state["pooled"]), state


class _BigramPlugin:
    @mmzoo.hookimpl
    def mmzoo_register_decoders(self, registrar: Registrar) -> None:
        registrar.add("bigram", _Bigram, example={"vocab_size": 5})


def test_a_third_party_decoder_passes_the_contract_kit_and_trains(tmp_path):
    from mmzoo.testing import check_entry

    registry = load_registry(extra_plugins=[("bigram-plugin", _BigramPlugin())], warn=False)
    entry = registry.get("decoder", "bigram")
    assert entry.plugin == "bigram-plugin" and entry.context_args == ("memory_dim",)
    check_entry(entry)
    fit = run_recipe("fit", _recipe(tmp_path, "bigram"), registry=registry)
    assert "val/attention/cer" in json.loads((fit.run_dir / "results.json").read_text())["metrics"]
