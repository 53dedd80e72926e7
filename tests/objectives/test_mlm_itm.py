"""Masked language modelling and matching: corruption rules, negative sampling, and a real run."""

from __future__ import annotations

import math

import torch

from mmzoo.objectives.itm import pick_negatives
from mmzoo.objectives.mlm import mask_tokens
from mmzoo.run import run_recipe


def test_mask_tokens_follows_the_bert_recipe():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 50, (64, 40), generator=generator)
    real = torch.arange(40).unsqueeze(0) < torch.randint(1, 41, (64, 1), generator=generator)
    tokens = tokens * real  # pad id 0
    corrupted, labels = mask_tokens(
        tokens, real, mask_prob=0.15, mask_id=63, vocab_size=64, pad_id=0, generator=generator
    )
    chosen = labels != -100
    assert not (chosen & ~real).any(), "only real tokens are predicted"
    assert chosen.any(dim=1).all(), "every row predicts at least one token"
    assert torch.equal(labels[chosen], tokens[chosen])
    assert torch.equal(corrupted[~chosen], tokens[~chosen]), "unchosen tokens are untouched"
    rate = chosen.sum() / real.sum()
    assert 0.12 < rate < 0.2
    masked = (corrupted == 63) & chosen
    assert 0.7 < masked.sum() / chosen.sum() < 0.9
    assert not (corrupted[chosen] == 0).any(), "random replacements never use the padding id"


def test_pick_negatives_never_pairs_a_row_with_itself_and_follows_similarity():
    generator = torch.Generator().manual_seed(0)
    assert not (pick_negatives(None, 8, generator) == torch.arange(8)).any()
    similarity = torch.full((4, 4), -20.0)
    similarity[0, 3] = 20.0  # row 0 finds row 3 most alike
    picks = torch.stack([pick_negatives(similarity, 4, generator) for _ in range(50)])
    assert (picks[:, 0] == 3).all()
    assert not (picks == torch.arange(4)).any()


def test_mlm_itm_and_clip_train_together(tiny_recipe):
    overrides = [
        "model.encoders.text={name: conv1d, dim: 16, layers: 1}",
        "model.heads.tokens={name: token_logits, modality: text}",
        "model.heads.match={name: classification, num_classes: 2}",
        "model.heads.audio_emb={name: embedding, modality: audio, dim: 16}",
        "model.heads.text_emb={name: embedding, modality: text, dim: 16}",
        "objectives.mlm={name: mlm, head: tokens, modality: text}",
        "objectives.itm={name: itm, head: match, modality: text, embeddings: [audio_emb, text_emb]}",
        "objectives.clip={name: clip, embeddings: [audio_emb, text_emb]}",
        "trainer.max_epochs=1",
    ]
    metrics = run_recipe("fit", tiny_recipe, overrides).metrics
    for key in ("val/mlm/accuracy", "val/itm/accuracy", "val/itm/auroc", "val/label/accuracy", "val/mlm/loss"):
        assert key in metrics and math.isfinite(metrics[key]), key


def test_extra_passes_leave_the_main_batch_unchanged():
    from mmzoo.contracts import Batch, ModalityInput, ModalitySpec
    from mmzoo.objectives.itm import MatchingObjective
    from mmzoo.objectives.mlm import MaskedLanguageModeling

    tokens = torch.arange(1, 13).reshape(2, 6)
    batch = Batch(
        inputs={"text": ModalityInput(tokens.clone(), torch.ones(2, 6, dtype=torch.bool))}, targets={}, ids=["a", "b"]
    )
    seen = []
    asked = []

    def model(modified, heads=None):
        seen.append(modified.inputs["text"].values)
        asked.append(heads)
        return {"tokens": torch.zeros(2, 6, 20), "match": torch.zeros(2, 2)}, None, None

    mlm = MaskedLanguageModeling(
        head="tokens", mask_prob=0.5, input_specs={"text": ModalitySpec("tokens", vocab_size=20)}
    )
    mlm.extra_forward(batch, model)
    itm = MatchingObjective(head="match", modality="text", negatives="random")
    itm.extra_forward(batch, model)
    assert torch.equal(batch.inputs["text"].values, tokens), "the main batch is untouched"
    assert not torch.equal(seen[0], tokens), "the MLM pass saw masked tokens"
    assert torch.equal(seen[1], tokens.flip(0)), "the matching pass swapped the two rows' text"
    assert asked == [["tokens"], ["match"]], "extra passes run only the head they score"


def test_itm_target_labels_the_main_pairs_and_skips_unknown_rows():
    from mmzoo.contracts import Batch
    from mmzoo.objectives.itm import MatchingObjective

    itm = MatchingObjective(head="match", modality="text", negatives="random", target="match")
    positives = torch.tensor([[0.0, 4.0], [4.0, 0.0], [0.0, 0.0]])
    negatives = torch.tensor([[4.0, 0.0], [4.0, 0.0], [4.0, 0.0]])
    batch = Batch(inputs={}, targets={"match": torch.tensor([1, 0, -100])}, ids=["a", "b", "c"])
    logits, labels = itm._pairs({"match": positives, "_extra": negatives}, batch)
    # Row 0 is a matched pair, row 1 a mismatch from the data, row 2 unknown (left out); then the swaps.
    assert labels.tolist() == [1, 0, 0, 0, 0]
    assert torch.equal(logits, torch.cat([positives[:2], negatives]))
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.isclose(itm({"match": positives, "_extra": negatives}, batch), expected)
    # Without a target every main pair counts as matched, so row 1 is now a wrong answer.
    plain = MatchingObjective(head="match", modality="text", negatives="random")
    assert plain({"match": positives, "_extra": negatives}, batch) > expected
