"""The ``ctc`` objective: loss equal to ``F.ctc_loss``, padded targets, CER/WER, and an overfit check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection

from mmzoo.contracts import Batch, Encoded, Fused
from mmzoo.data.fields import encode_transcript
from mmzoo.heads.ctc import CTCHead
from mmzoo.objectives.ctc import CTCObjective

DIGITS = Path(__file__).resolve().parents[2] / "recipes" / "data" / "digits"


def padded(texts: list[str]) -> torch.Tensor:
    ids = [encode_transcript(t) if t else torch.zeros(0, dtype=torch.long) for t in texts]
    out = torch.full((len(ids), max(1, max(len(i) for i in ids))), -1, dtype=torch.long)
    for row, item in enumerate(ids):
        out[row, : len(item)] = item
    return out


def batch_of(target: torch.Tensor) -> Batch:
    return Batch(inputs={}, targets={"text": target}, ids=[str(i) for i in range(len(target))])


def one_hot_output(paths: list[list[int]], classes: int = 29) -> dict[str, torch.Tensor]:
    frames = max(len(p) for p in paths)
    ids = torch.tensor([p + [0] * (frames - len(p)) for p in paths])
    log_probs = (F.one_hot(ids, classes).float() * 20).log_softmax(-1)
    return {"log_probs": log_probs, "lengths": torch.tensor([len(p) for p in paths])}


def test_loss_equals_ctc_loss_on_the_same_inputs() -> None:
    objective = CTCObjective(head="asr", target="text")
    generator = torch.Generator().manual_seed(0)
    log_probs = torch.randn(3, 10, 29, generator=generator).log_softmax(-1)
    lengths = torch.tensor([10, 8, 6])
    target = padded(["abc", "a", "zz"])
    loss = objective({"asr": {"log_probs": log_probs, "lengths": lengths}}, batch_of(target))
    expected = F.ctc_loss(
        log_probs.transpose(0, 1),
        torch.cat([encode_transcript(t) for t in ["abc", "a", "zz"]]),
        lengths,
        torch.tensor([3, 1, 2]),
        blank=0,
        reduction="mean",
        zero_infinity=True,
    )
    assert torch.allclose(loss, expected)


def test_padding_width_and_unlabelled_rows_do_not_change_the_loss() -> None:
    objective = CTCObjective(head="asr", target="text")
    generator = torch.Generator().manual_seed(1)
    log_probs = torch.randn(2, 9, 29, generator=generator).log_softmax(-1)
    output = {"asr": {"log_probs": log_probs, "lengths": torch.tensor([9, 7])}}
    target = padded(["ab", "c"])
    wider = torch.cat([target, torch.full((2, 5), -1)], dim=1)
    base = objective(output, batch_of(target))
    assert torch.allclose(base, objective(output, batch_of(wider)))
    # an unlabelled (empty) third row is left out
    extra = torch.randn(1, 9, 29, generator=generator).log_softmax(-1)
    output3 = {"asr": {"log_probs": torch.cat([log_probs, extra]), "lengths": torch.tensor([9, 7, 9])}}
    assert torch.allclose(base, objective(output3, batch_of(padded(["ab", "c", ""]))))
    # no labelled row at all: a zero loss that still backpropagates
    leaf = log_probs.clone().requires_grad_(True)
    zero = objective({"asr": {"log_probs": leaf, "lengths": torch.tensor([9, 7])}}, batch_of(padded(["", ""])))
    zero.backward()
    assert zero.item() == 0.0 and leaf.grad is not None


def test_impossible_alignments_follow_zero_infinity() -> None:
    log_probs = torch.randn(1, 2, 29).log_softmax(-1)
    output = {"asr": {"log_probs": log_probs, "lengths": torch.tensor([2])}}
    target = padded(["abcd"])
    assert CTCObjective(head="asr", target="text")(output, batch_of(target)).item() == 0.0
    assert torch.isinf(CTCObjective(head="asr", target="text", zero_infinity=False)(output, batch_of(target)))


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_cer_and_wer_on_hand_examples(decoder: str) -> None:
    objective = CTCObjective(head="asr", target="text", decoder=decoder, beam_size=4)
    metrics = MetricCollection(objective.make_metrics())
    # decoded "ab" for reference "abc" (1 deletion of 3 chars); decoded "a b" for "a c" (1 substitution)
    h, a, b, c, space = 0, 1, 2, 3, 27
    output = one_hot_output([[a, a, h, b], [a, space, b, h]])
    objective.update_metrics(metrics, {"asr": output}, batch_of(padded(["abc", "a c"])))
    values = metrics.compute()
    assert values["cer"].item() == pytest.approx(2 / 6)  # 2 edits over 6 reference characters
    assert values["wer"].item() == pytest.approx(2 / 3)  # "ab"≠"abc"; "a b" vs "a c": 1 of 2 words
    assert c == 3


def test_unlabelled_rows_are_left_out_of_metrics() -> None:
    objective = CTCObjective(head="asr", target="text")
    metrics = MetricCollection(objective.make_metrics())
    output = one_hot_output([[1, 2], [5, 5]])
    objective.update_metrics(metrics, {"asr": output}, batch_of(padded(["ab", ""])))
    assert metrics.compute()["cer"].item() == 0.0


def test_options_are_checked_against_the_head() -> None:
    head = CTCHead(in_dim=4, encoder_dims={"audio": 8}, modality="audio", vocab_size=5)
    with pytest.raises(ValueError, match="vocab_size 5"):
        CTCObjective(head="asr", target="text", heads={"asr": head})
    CTCObjective(head="asr", target="text", heads={"asr": head}, alphabet="abcde")
    with pytest.raises(ValueError, match="beam_size"):
        CTCObjective(head="asr", target="text", beam_size=0)


def test_inline_slots_learn_and_score_the_spoken_words_only() -> None:
    alphabet = "abcdefghijklmnopqrstuvwxyz '[]"
    tagged = ["email [person anna] on [day monday]", "put on music"]
    plain = ["email anna on monday", "put on music"]

    def ids(texts: list[str]) -> torch.Tensor:
        rows = [encode_transcript(text, alphabet) for text in texts]
        return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=-1)

    slots = CTCObjective(head="asr", target="text", alphabet=alphabet, inline_slots=True)
    words = CTCObjective(head="asr", target="text", alphabet=alphabet)
    generator = torch.Generator().manual_seed(0)
    log_probs = torch.randn(2, 40, len(alphabet) + 1, generator=generator).log_softmax(-1)
    output = {"asr": {"log_probs": log_probs, "lengths": torch.tensor([40, 30])}}
    torch.testing.assert_close(slots(output, batch_of(ids(tagged))), words(output, batch_of(ids(plain))))
    # a head that says exactly the words is perfect; the markup is not expected of it
    metrics = MetricCollection(slots.make_metrics())
    paths = [[i for char in encode_transcript(text, alphabet).tolist() for i in (char, 0)] for text in plain]
    slots.update_metrics(metrics, {"asr": one_hot_output(paths, classes=31)}, batch_of(ids(tagged)))
    assert {name: value.item() for name, value in metrics.compute().items()} == {"cer": 0.0, "wer": 0.0}
    with pytest.raises(ValueError, match=r"lacks '\['"):
        CTCObjective(head="asr", target="text", inline_slots=True)


def test_example_inputs_give_a_finite_loss_with_gradients() -> None:
    objective = CTCObjective(head="asr", target="text")
    outputs, batch = objective.example_inputs(5)
    loss = objective(outputs, batch)
    assert torch.isfinite(loss)
    loss.backward()
    assert outputs["asr"]["log_probs"].grad is not None


class TinyEncoder(torch.nn.Module):
    def __init__(self, features: int, dim: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv1d(features, dim, 5, padding=2),
            torch.nn.GELU(),
            torch.nn.Conv1d(dim, dim, 5, padding=2),
            torch.nn.GELU(),
        )

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> Encoded:
        seq = self.net(values.transpose(1, 2)).transpose(1, 2) * mask.unsqueeze(-1)
        pooled = seq.sum(1) / mask.sum(1, keepdim=True)
        return Encoded(seq=seq, mask=mask, pooled=pooled)


@pytest.mark.slow
def test_tiny_model_overfits_real_spoken_digits() -> None:
    """The issue's check: a tiny model learns the words of a few real espeak-ng clips (CER < 0.1)."""
    import soundfile
    import torchaudio

    words = ["zero", "one", "two", "three", "four", "six"]
    digits = [0, 1, 2, 3, 4, 6]
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=400, hop_length=160, n_mels=40)
    features = []
    for digit in digits:
        audio, rate = soundfile.read(str(DIGITS / "audio" / f"{digit}_00.flac"), dtype="float32")
        assert rate == 16000
        frames = (mel(torch.from_numpy(audio)) + 1e-6).log().T  # (T, 40)
        frames = frames[::2]  # 50 frames per second is plenty for a few characters
        features.append((frames - frames.mean(0)) / (frames.std(0) + 1e-5))
    lengths = torch.tensor([len(f) for f in features])
    values = torch.zeros(len(features), int(lengths.max()), 40)
    for index, item in enumerate(features):
        values[index, : len(item)] = item
    mask = torch.arange(values.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    batch = batch_of(padded(words))

    torch.manual_seed(0)
    encoder = TinyEncoder(40, 64)
    head = CTCHead(in_dim=64, encoder_dims={"audio": 64}, modality="audio", vocab_size=28)
    objective = CTCObjective(head="asr", target="text", heads={"asr": head})
    parameters = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=3e-3)
    metrics = MetricCollection(objective.make_metrics())
    for step in range(400):
        encoded = {"audio": encoder(values, mask)}
        output = head(Fused(pooled=encoded["audio"].pooled), encoded)
        loss = objective({"asr": output}, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 49:
            metrics.reset()
            with torch.no_grad():
                objective.update_metrics(metrics, {"asr": output}, batch)
            if metrics.compute()["cer"] < 0.1:
                break
    with torch.no_grad():
        encoded = {"audio": encoder(values, mask)}
        output = head(Fused(pooled=encoded["audio"].pooled), encoded)
    metrics.reset()
    objective.update_metrics(metrics, {"asr": output}, batch)
    cer = metrics.compute()["cer"].item()
    texts = CTCHead.decode_text(head.predict(output)["ids"])
    assert cer < 0.1, f"CER {cer:.3f} after {step + 1} steps; decoded {texts}"


def test_token_vocabulary_transcripts_round_trip_through_the_objective():
    from mmzoo.data.fields import TargetField, encode_target

    field = TargetField(type="transcript", tokenizer="byt5")
    field.validate("text")
    ids = encode_target(field, "Seven")
    assert ids.tolist() == [b + 3 + 1 for b in b"Seven"]  # ByT5 ids are bytes + 3; +1 keeps 0 the blank
    assert field.size == 384
    objective = CTCObjective(head="asr", target="text", tokenizer="byt5")
    assert objective.texts([ids.tolist()]) == ["Seven"]
    with pytest.raises(ValueError, match="has vocab_size 28 but tokenizer 'byt5' has 384 tokens"):
        CTCObjective(
            head="asr",
            target="text",
            tokenizer="byt5",
            heads={"asr": CTCHead(in_dim=4, encoder_dims={"audio": 8}, modality="audio")},
        )


def test_asr_recipe_trains_on_a_token_vocabulary(tmp_path, monkeypatch):
    """The shipped ASR recipe switched to byte tokens by overrides only: it runs and reports CER."""
    import math

    from mmzoo.run import run_recipe

    from ..conftest import RECIPES, REPO

    monkeypatch.chdir(REPO)
    result = run_recipe(
        "fit",
        RECIPES / "asr" / "digits_ctc.yaml",
        [
            "data.targets.transcript.tokenizer=byt5",
            "model.heads.transcript.vocab_size=384",
            "objectives.transcript.tokenizer=byt5",
            "trainer.max_epochs=1",
            f"run.root={tmp_path}",
            "logger.wandb.mode=disabled",
            "trainer.enable_progress_bar=false",
        ],
    )
    assert math.isfinite(result.metrics["val/transcript/loss"])
    assert 0.0 <= result.metrics["val/transcript/cer"]
