"""Regenerate ``recipes/data/digits``: spoken digits (espeak-ng), drawn digits (Pillow), manifests.

The committed copy is what recipes and tests use; this script documents how it was made and
rebuilds it (it needs ``espeak-ng`` and ``sox``: ``apt-get install espeak-ng sox``)::

    .venv/bin/python recipes/data/make_digits.py

``audio_text`` and ``image_text`` pair two modalities and ask whether they show the same digit
(``match``: yes/no), so a single modality is at chance (50 %). ``audio_image`` pairs a spoken and a
drawn copy of the same digit and asks which digit it is (``digit``: 0-9, chance 10 %). Voices and
drawing styles are split so that validation and test use voices and styles not seen in training.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent / "digits"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# (voice, words per minute, pitch); the last four are held out for validation and test.
VOICES = [
    ("en-us", 150, 50),
    ("en-us+f2", 170, 60),
    ("en-gb", 140, 40),
    ("en-gb+f3", 180, 65),
    ("en-gb-scotland", 160, 45),
    ("en-gb-x-rp+m3", 135, 35),
    ("en-029", 175, 55),
    ("en-gb-x-gbclan+f4", 155, 70),
    ("en-us+m4", 145, 30),
    ("en-gb-x-rp+f1", 165, 60),
    ("en-029+m2", 185, 45),
    ("en-us+f4", 140, 75),
]
SPLIT_OF_VARIANT = ["train"] * 8 + ["val", "val", "test", "test"]
PAIRINGS_PER_ITEM = 4  # two matching and two mismatching rows per anchor item


def speak(word: str, voice: str, speed: int, pitch: int, target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), word], check=True)
        # 16 kHz mono FLAC with leading and trailing silence trimmed.
        trim = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(target), *trim], check=True)


def draw(digit: int, variant: int, rng: random.Random, target: Path) -> None:
    size = 32
    canvas = Image.new("L", (size * 2, size * 2), 0)
    font = ImageFont.load_default(size=rng.randint(26, 40))
    ImageDraw.Draw(canvas).text((size, size), str(digit), fill=255, font=font, anchor="mm")
    canvas = canvas.rotate(
        rng.uniform(-20, 20), resample=Image.BILINEAR, translate=(rng.randint(-4, 4), rng.randint(-4, 4))
    )
    canvas = canvas.resize((size, size), Image.BILINEAR)
    pixels = np.asarray(canvas, dtype=np.float32)
    noise = np.random.default_rng(digit * 100 + variant).normal(0, 8 + variant, pixels.shape)
    Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8)).save(target)


def text_for(digit: int, rng: random.Random) -> str:
    word = WORDS[digit]
    return rng.choice([word, word.capitalize(), f"the digit {word}", f"{word}."])


def pairs(anchor: str, partner: str, rng: random.Random, *, classify: bool) -> dict[str, list[dict[str, object]]]:
    """Rows pairing each anchor item with partners: half matching (``match`` task), or all
    matching and labelled with the digit (``classify``)."""
    splits: dict[str, list[dict[str, object]]] = {"train": [], "val": [], "test": []}
    for variant, split in enumerate(SPLIT_OF_VARIANT):
        for digit in range(10):
            for pairing in range(PAIRINGS_PER_ITEM):
                matched = classify or pairing % 2 == 0
                other = digit if matched else rng.choice([d for d in range(10) if d != digit])
                row: dict[str, object] = {"id": f"{anchor}-{partner}-{digit}-{variant}-{pairing}"}
                for modality, value in ((anchor, digit), (partner, other)):
                    # the partner's item comes from a variant of the same split
                    chosen = (
                        variant
                        if modality == anchor
                        else rng.choice([v for v, s in enumerate(SPLIT_OF_VARIANT) if s == split])
                    )
                    if modality == "audio":
                        row["audio"] = f"audio/{value}_{chosen:02d}.flac"
                    elif modality == "image":
                        row["image"] = f"images/{value}_{chosen:02d}.png"
                    else:
                        row["text"] = text_for(value, rng)
                if classify:
                    row["digit"] = digit
                else:
                    row["match"] = "yes" if matched else "no"
                splits[split].append(row)
    return splits


def write_asr_manifests() -> None:
    """``asr/{train,val,test}.jsonl``: one row per spoken digit, ``{"audio", "text"}`` (its word),
    split by voice like the other manifests (train voices 00-07, val 08-09, test 10-11)."""
    folder = OUT / "asr"
    folder.mkdir(exist_ok=True)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for variant, split in enumerate(SPLIT_OF_VARIANT):
        for digit, word in enumerate(WORDS):
            row = {"id": f"asr-{digit}-{variant}", "audio": f"../audio/{digit}_{variant:02d}.flac", "text": word}
            splits[split].append(json.dumps(row))
    for split, lines in splits.items():
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "audio").mkdir(parents=True)
    (OUT / "images").mkdir()
    rng = random.Random(1234)
    for variant, (voice, speed, pitch) in enumerate(VOICES):
        for digit, word in enumerate(WORDS):
            speak(word, voice, speed, pitch, OUT / "audio" / f"{digit}_{variant:02d}.flac")
            draw(digit, variant, rng, OUT / "images" / f"{digit}_{variant:02d}.png")
    for anchor, partner in (("audio", "text"), ("image", "text"), ("audio", "image")):
        folder = OUT / f"{anchor}_{partner}"
        folder.mkdir()
        for split, rows in pairs(anchor, partner, rng, classify=anchor == "audio" and partner == "image").items():
            rng.shuffle(rows)
            lines = []
            for row in rows:
                # media paths are relative to the manifest's folder
                lines.append(json.dumps({k: f"../{v}" if k in ("audio", "image") else v for k, v in row.items()}))
            (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    write_asr_manifests()
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
