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


def test_joint_decoding_with_inline_slots_needs_their_markup_in_the_alphabet(tmp_path):
    from mmzoo.errors import BuildError

    with pytest.raises(BuildError, match=r"model.decoders.transcript.inline_slots: .*lacks '\[', '\]'"):
        run_recipe("fit", _recipe(tmp_path), ["model.decoders.transcript.inline_slots=true"])
    overrides = ["model.decoders.transcript.inline_slots=true", "model.decoders.transcript.slot_types=[a b]",
                 "model.decoders.transcript.alphabet=\"abcdefghijklmnopqrstuvwxyz '[]\""]  # fmt: skip
    with pytest.raises(BuildError, match="model.decoders.transcript.slot_types: slot type 'a b'"):
        run_recipe("fit", _recipe(tmp_path), overrides)


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
        assert isinstance(row["transcript"]["score"], float) and isinstance(row["transcript"]["text"], str)


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


def test_inline_slots_split_into_words_and_slots():
    from mmzoo.ops.text import split_slots

    assert split_slots("please email [person anna] on [day monday]") == (
        "please email anna on monday",
        [("person", "anna"), ("day", "monday")],
    )
    assert split_slots("taxi to the [place city  centre] at [time twelve forty five]") == (
        "taxi to the city centre at twelve forty five",
        [("place", "city centre"), ("time", "twelve forty five")],
    )
    assert split_slots("call [person john smith") == ("call john smith", [])  # unclosed: no slot, no type word
    assert split_slots("no slots here") == ("no slots here", [])


def test_slot_f1_counts_exact_type_and_value_matches():
    from mmzoo.objectives._text import SlotF1

    metric = SlotF1()
    metric.update(
        ["call [person anna] [day monday]", "play [artist abba]", "set a timer"],
        ["call [person anna] [day sunday]", "play [artist abba]", "set a timer for [duration two minutes]"],
    )
    # hits: anna, abba = 2; predicted 3; expected 4 -> F1 = 4 / 7
    assert float(metric.compute()) == pytest.approx(4 / 7)
    empty = SlotF1()
    empty.update(["hello"], ["hello"])
    assert float(empty.compute()) == 1.0


def test_sequence_ce_scores_words_without_their_slots_and_needs_inline_slots_for_slot_f1():
    from torchmetrics import MetricCollection

    from mmzoo.contracts import Batch
    from mmzoo.objectives.sequence_ce import SequenceCrossEntropyObjective

    alphabet = "abcdefghijklmnopqrstuvwxyz '[]"
    objective = SequenceCrossEntropyObjective(
        "tagged", "tagged", alphabet=alphabet, inline_slots=True, metrics=["wer", "slot_f1"]
    )

    def ids(text: str, width: int) -> list[int]:
        return [alphabet.index(c) + 1 for c in text] + [-1] * (width - len(text))

    reference, hypothesis = "call [person anna]", "call [day anna]"
    target = torch.tensor([ids(reference, 20)])
    metrics = MetricCollection(objective.make_metrics())
    objective.update_metrics(metrics, {"tagged": {"tokens": torch.tensor([ids(hypothesis, 20)])}},
                             Batch(inputs={}, targets={"tagged": target}, ids=["r"]))  # fmt: skip
    values = metrics.compute()
    assert float(values["wer"]) == 0.0  # the words agree once the slots are unwrapped
    assert float(values["slot_f1"]) == 0.0  # the slot's type does not
    with pytest.raises(ValueError, match="slot_f1 metric needs inline_slots"):
        SequenceCrossEntropyObjective("t", "t", metrics=["slot_f1"])


#: The shipped generation recipes, with the decoder whose search a smoke run shortens.
SHIPPED = {
    "asr/joint_ctc_attention.yaml": "transcript",
    "asr/attention.yaml": "transcript",
    "asr/ctc.yaml": None,
    "slu/joint_asr_nlu.yaml": "tagged",
    "slu/intent_audio_only.yaml": None,
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_generation_recipes_train_at_trimmed_sizes(tmp_path, name):
    overrides = [f"run.root={tmp_path}", "logger.wandb.mode=disabled", "trainer.max_epochs=1",
                 "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "data.batch_size=4"]  # fmt: skip
    if SHIPPED[name]:
        overrides.append(f"model.decoders.{SHIPPED[name]}.search.max_length=8")
    fit = run_recipe("fit", RECIPES / name, overrides)
    assert json.loads((fit.run_dir / "results.json").read_text())["status"] == "completed"
