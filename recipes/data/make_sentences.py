"""Regenerate ``recipes/data/sentences``: short spoken sentences (espeak-ng) with their transcripts.

The committed copy is what the speech QC recipes and tests use; this script documents how it was
made and rebuilds it (it needs ``espeak-ng`` and ``sox``: ``apt-get install espeak-ng sox``)::

    .venv/bin/python recipes/data/make_sentences.py

Every utterance is clean speech; the ``speech_qc`` datamodule corrupts it on the fly. Sentences
are drawn from a small grammar with a seeded generator, each spoken once, and split so that the
validation and test sets use sentences *and* voices that training never hears. Audio is 16 kHz mono
Ogg Vorbis at the lowest quality setting, to keep the repository small (about 3.5 kB per second).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "sentences"
SEED = 11

SUBJECTS = ["the farmer", "my sister", "a young boy", "the old doctor", "our teacher", "the pilot",
            "a tall woman", "the baker", "his father", "the quiet girl", "a small dog", "the captain"]
VERBS = ["carried", "painted", "found", "bought", "washed", "opened", "lost", "moved", "cleaned",
         "checked", "dropped", "sold"]
ADJECTIVES = ["red", "heavy", "broken", "new", "green", "wooden", "empty", "shiny", "warm", "old",
              "yellow", "tiny"]
OBJECTS = ["boxes", "chairs", "windows", "baskets", "bottles", "letters", "boats", "shoes",
           "lamps", "tables", "bags", "books"]
ENDINGS = ["", "", "this morning", "after lunch", "near the river", "in the garden",
           "before dinner", "last week", "at the station", "on monday"]

# (voice, words per minute, pitch); training voices, then the held-out ones.
TRAIN_VOICES = [("en-us", 165, 50), ("en-us+f2", 175, 60), ("en-gb", 155, 40), ("en-gb+f3", 180, 65),
                ("en-gb-scotland", 165, 45), ("en-gb-x-rp+m3", 150, 35), ("en-029", 175, 55),
                ("en-gb-x-gbclan+f4", 160, 70)]
HELD_OUT_VOICES = [("en-us+m4", 155, 30), ("en-gb-x-rp+f1", 170, 60), ("en-029+m2", 180, 45),
                   ("en-us+f4", 150, 75)]
SIZES = {"train": 200, "val": 40, "test": 40}


def sentence(rng: random.Random) -> str:
    words = [rng.choice(SUBJECTS), rng.choice(VERBS)]
    count = rng.choice(["two", "three", "four", "five", "six", "seven", "some", "the"])
    words += [count, rng.choice(ADJECTIVES), rng.choice(OBJECTS), rng.choice(ENDINGS)]
    return " ".join(w for w in words if w)


def speak(text: str, voice: str, speed: int, pitch: int, target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text], check=True)
        trim = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-C", "-1", str(target), *trim], check=True)


def main() -> None:
    rng = random.Random(SEED)
    seen: set[str] = set()
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "audio").mkdir(parents=True)
    for split, size in SIZES.items():
        voices = TRAIN_VOICES if split == "train" else HELD_OUT_VOICES
        rows = []
        while len(rows) < size:
            text = sentence(rng)
            if text in seen:
                continue
            seen.add(text)
            voice, speed, pitch = voices[len(rows) % len(voices)]
            name = f"{split}_{len(rows):03d}.ogg"
            speak(text, voice, speed, pitch, OUT / "audio" / name)
            rows.append({"id": f"{split}_{len(rows):03d}", "audio": f"audio/{name}", "text": text, "voice": voice})
        with (OUT / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    print(f"wrote {sum(SIZES.values())} utterances to {OUT}")


if __name__ == "__main__":
    main()
