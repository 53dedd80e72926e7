"""One line per flagged utterance saying why it was flagged: the ``finding`` column of the QC report.

A row is flagged when its predicted label is not ``ok``, its suspicion is at least
:data:`FLAGGED_AT`, or its transcript-match score is below one half. Its finding names the predicted label and its probability, then the evidence
for that label among the row's signals, strongest first:

- the heuristic feature that measures the predicted defect (:mod:`mmzoo.qc.heuristics`):
  ``noisy`` → estimated SNR, ``clipped`` → share of clipped samples, ``truncated`` → energy at the
  very end against the median frame, ``dropout`` → longest silent gap, ``mismatch`` → seconds of
  audio per letter of the transcript;
- the model's own SNR estimate, for ``noisy``;
- the transcript-match score, when it is below one half (whatever the label);
- for ``mismatch`` or a low match score, the words the CTC transcript and the given transcript
  disagree on (at most :data:`MAX_WORD_DIFFS` places), when the report shows transcripts (its ASR
  head met the CER bar on the validation split);
- a second label the model also gave at least :data:`SECOND_LABEL_AT`.

Nothing is said that the row's values do not show: a value the recipe does not produce (no match
head, no features) is left out.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["FLAGGED_AT", "MAX_WORD_DIFFS", "SECOND_LABEL_AT", "finding", "word_differences"]

#: Suspicion from which an ``ok`` row is flagged too.
FLAGGED_AT = 0.5
#: Probability from which a second label is named.
SECOND_LABEL_AT = 0.2
#: How many places where the heard and the given words differ a finding names.
MAX_WORD_DIFFS = 3


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def word_differences(heard: str, given: str, most: int = MAX_WORD_DIFFS) -> list[str]:
    """Where the words of ``heard`` (the CTC transcript) and ``given`` differ, as ``'heard' for 'given'``.

    Words are lowercased runs of letters, digits and apostrophes, aligned with :mod:`difflib`;
    a missing side reads ``nothing``. At most ``most`` places, in order.
    """
    heard_words, given_words = _words(heard), _words(given)
    matcher = difflib.SequenceMatcher(a=heard_words, b=given_words, autojunk=False)
    places = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op != "equal":
            said = " ".join(heard_words[a0:a1]) or "nothing"
            written = " ".join(given_words[b0:b1]) or "nothing"
            places.append(f"'{said}' for '{written}'")
    return places[:most]


def _evidence(label: str, features: Mapping[str, float], snr_pred: float | None) -> list[str]:
    found: list[str] = []
    if label == "noisy":
        if "snr_db" in features:
            found.append(f"estimated SNR {features['snr_db']:.0f} dB")
        if snr_pred is not None:
            found.append(f"predicted SNR {snr_pred:.0f} dB")
    elif label == "clipped" and "clipping_ratio" in features:
        found.append(f"{features['clipping_ratio']:.1%} of samples clipped flat")
    elif label == "truncated" and "trailing_speech" in features:
        found.append(f"the last 50 ms at {features['trailing_speech']:+.0f} dB against the median frame")
    elif label == "dropout" and "gap_ratio" in features:
        found.append(f"a silent gap of {features['gap_ratio']:.1%} of the clip")
    elif label == "mismatch" and "seconds_per_char" in features:
        found.append(f"{features['seconds_per_char']:.2f} s of audio per letter")
    return found


def finding(row: Mapping[str, Any]) -> str | None:
    """The finding of one report row (see the module docstring), or ``None`` when it is not flagged.

    Args:
        row: a report row with ``label``, ``probs``, ``suspicion`` and, where the recipe has them,
            ``match_score``, ``snr_db_pred``, ``features``, ``asr_text`` and ``text``.
    """
    label = row["label"]
    suspicion = row.get("suspicion") or 0.0
    match = row.get("match_score")
    low_match = match is not None and match < 0.5
    if label == "ok" and suspicion < FLAGGED_AT and not low_match:
        return None
    probs: Mapping[str, float] = row.get("probs") or {}
    parts = [f"{label} (p {probs[label]:.2f})" if label in probs else label]
    parts += _evidence(label, row.get("features") or {}, row.get("snr_db_pred"))
    if low_match:
        parts.append(f"transcript match {match:.2f}")
    heard = row.get("asr_text")
    if heard is not None and (label == "mismatch" or low_match):
        places = word_differences(heard, row.get("text") or "")
        if places:
            parts.append("heard " + ", ".join(places))
    others = sorted(((p, name) for name, p in probs.items() if name != label and p >= SECOND_LABEL_AT), reverse=True)
    if others:
        parts.append(f"also {others[0][1]} (p {others[0][0]:.2f})")
    return "; ".join(parts)
