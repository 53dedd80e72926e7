"""The finding of a flagged row names its label and the evidence its own values show."""

from __future__ import annotations

from mmzoo.qc.findings import finding, word_differences

FEATURES = {
    "snr_db": 2.4,
    "clipping_ratio": 0.031,
    "trailing_speech": 3.6,
    "gap_ratio": 0.12,
    "seconds_per_char": 0.021,
}


def row(label: str, probs: dict[str, float], suspicion: float, **extra) -> dict:
    return {"label": label, "probs": probs, "suspicion": suspicion, "features": FEATURES, **extra}


def test_a_confident_ok_row_has_no_finding():
    assert finding(row("ok", {"ok": 0.9, "noisy": 0.1}, 0.1, match_score=0.95)) is None


def test_each_defect_names_its_own_evidence():
    probs = {"ok": 0.05, "noisy": 0.05, "clipped": 0.05, "truncated": 0.05, "dropout": 0.05, "mismatch": 0.05}
    expected = {
        "noisy": "estimated SNR 2 dB",
        "clipped": "3.1% of samples clipped flat",
        "truncated": "the last 50 ms at +4 dB against the median frame",
        "dropout": "a silent gap of 12.0% of the clip",
        "mismatch": "0.02 s of audio per letter",
    }
    for label, evidence in expected.items():
        text = finding(row(label, {**probs, label: 0.75}, 0.95))
        assert text == f"{label} (p 0.75); {evidence}"


def test_a_low_match_and_a_second_label_are_named():
    text = finding(row("noisy", {"ok": 0.05, "noisy": 0.6, "clipped": 0.35}, 0.95, match_score=0.3, snr_db_pred=4.2))
    assert (
        text == "noisy (p 0.60); estimated SNR 2 dB; predicted SNR 4 dB; transcript match 0.30; also clipped (p 0.35)"
    )


def test_an_ok_row_flagged_by_its_match_score_says_so():
    assert (
        finding(row("ok", {"ok": 0.8, "mismatch": 0.1}, 0.7, match_score=0.3)) == "ok (p 0.80); transcript match 0.30"
    )


def test_values_the_recipe_does_not_produce_are_left_out():
    assert finding({"label": "clipped", "probs": {"clipped": 0.7}, "suspicion": 0.9}) == "clipped (p 0.70)"


def test_transcript_disagreements_are_named_when_transcripts_are_shown():
    mismatch = row(
        "mismatch",
        {"ok": 0.1, "mismatch": 0.9},
        0.9,
        asr_text="plese visit ana on sunday",
        text="Please visit Anna on Monday.",
    )
    assert finding(mismatch) == (
        "mismatch (p 0.90); 0.02 s of audio per letter; heard 'plese' for 'please', 'ana' for 'anna',"
        " 'sunday' for 'monday'"
    )
    agreeing = row("mismatch", {"ok": 0.1, "mismatch": 0.9}, 0.9, asr_text="please visit", text="Please visit!")
    assert "heard" not in finding(agreeing)
    noisy = row("noisy", {"ok": 0.1, "noisy": 0.9}, 0.9, asr_text="a b", text="c d")
    assert "heard" not in finding(noisy)  # a good match: the words are not the evidence


def test_word_differences_name_missing_and_extra_words():
    assert word_differences("visit anna", "please visit anna today") == [
        "'nothing' for 'please'",
        "'nothing' for 'today'",
    ]
    assert word_differences("a b c d e", "v w x y z", most=2) == ["'a b c d e' for 'v w x y z'"]
    assert word_differences("one two", "One, two!") == []
