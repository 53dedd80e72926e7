"""``.venv/bin/python recipes/data/make_slu.py`` regenerates ``recipes/data/slu``: spoken commands.

The committed copy was made with exactly that command (default ``--seed 7``), espeak-ng 1.51 and
SoX 14.4.2 (``apt-get install espeak-ng sox``). A small spoken language understanding set:
"please email anna on monday" is intent ``email`` with slots ``person=anna`` and ``day=monday``.
Each manifest row is::

    {"id", "audio", "text", "voice", "intent", "slots": {"person": "anna", "day": "monday"},
     "bio": ["O", "O", "B-person", "O", "B-day"], "tagged": "please email [person anna] on [day monday]"}

``text`` (lowercase words, inside the default CTC alphabet) is the transcript; ``bio`` has one tag
per word of ``text.split()`` (``B-``/``I-`` for multi-word values); ``tagged`` is the transcript with
every slot value wrapped inline for a sequence decoder that emits slots as it transcribes (a
``transcript`` target over ``alphabet: "abcdefghijklmnopqrstuvwxyz '[]"`` or a byte tokenizer; the
brackets are the only characters outside the default alphabet).

Utterances come from per-intent templates filled with slot values by a seeded generator; every
transcript occurs once in the whole set. The validation and test splits use voices that training
never hears (two for validation, three others for test), and both also draw on phrasings and slot
values that training never sees (``HELD_OUT_TEMPLATES`` and the held-out filler lists). Audio is
16 kHz mono Ogg Vorbis at the lowest quality, like ``sentences``; SoX runs in repeatable mode
(``-R``: a fixed Ogg stream serial) so the same seed rebuilds the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "slu"
SEED = 7
SIZES = {"train": 600, "val": 80, "test": 120}

HOURS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# fmt: off
# Slot values: (seen in training, held out for validation and test only).
FILLERS: dict[str, tuple[list[str], list[str]]] = {
    "person": (
        ["anna", "ben", "carlos", "david", "emma", "frank", "grace", "hannah", "james", "kate", "laura",
         "mike", "nina", "oliver", "peter", "rachel", "sophie", "tom", "john smith", "mary jones"],
        ["olga", "victor", "zoe", "jack brown"],
    ),
    "day": (
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "today", "tomorrow"],
        ["sunday", "the day after tomorrow"],
    ),
    "time": (
        [f"{h} {m}" for h in HOURS for m in ("o'clock", "fifteen", "thirty", "forty five")]
        + [f"half past {h}" for h in HOURS] + [f"quarter to {h}" for h in HOURS] + ["noon", "midnight"],
        [f"ten past {h}" for h in ("two", "five", "nine")] + [f"twenty to {h}" for h in ("four", "seven", "eleven")],
    ),
    "place": (
        ["airport", "train station", "hospital", "office", "library", "museum", "city centre", "university",
         "hotel", "beach"],
        ["stadium", "bus station", "zoo"],
    ),
    "city": (
        ["london", "paris", "berlin", "madrid", "rome", "tokyo", "new york", "sydney", "chicago", "dublin",
         "boston", "toronto"],
        ["lisbon", "cairo", "oslo", "hong kong"],
    ),
    "artist": (
        ["the beatles", "elvis", "madonna", "bob marley", "abba", "queen", "mozart", "beethoven", "taylor swift",
         "miles davis", "adele", "nirvana", "bach", "the rolling stones", "coldplay", "shakira"],
        ["frank sinatra", "metallica", "vivaldi"],
    ),
    "duration": (
        [f"{n} minutes" for n in ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                                  "fifteen", "twenty", "twenty five", "thirty", "forty", "forty five", "fifty")]
        + ["ten seconds", "twenty seconds", "thirty seconds", "forty seconds", "one minute", "one hour", "two hours",
           "three hours", "four hours", "half an hour"],
        ["twelve minutes", "ninety seconds", "an hour and a half"],
    ),
}

# Per intent: templates seen in training, then one phrasing held out for validation and test.
# ``{slot}`` is a slot value; a weekday ``{day}`` is said "on <day>" ("on" stays outside the slot).
TEMPLATES: dict[str, list[str]] = {
    "email": ["please email {person}", "send an email to {person} {day}", "email {person} {day} at {time}"],
    "call": ["call {person}", "phone {person} at {time}", "give {person} a call {day}"],
    "remind": ["remind me to call {person} {day}", "remind me about the meeting at {time}",
               "set a reminder for {day} at {time}"],
    "play_music": ["play {artist}", "play some music by {artist}", "play {artist} for {duration}",
                   "put on some music", "play something"],
    "weather": ["what's the weather in {city}", "will it rain in {city} {day}", "what's the weather like {day}",
                "how cold is it in {city}", "what's the forecast"],
    "set_alarm": ["set an alarm for {time}", "wake me up at {time} {day}", "i need an alarm at {time}"],
    "book_taxi": ["book a taxi to the {place}", "i need a cab to the {place} at {time}",
                  "taxi to the {place} {day} at {time}"],
    "set_timer": ["set a timer for {duration}", "start a timer for {duration}", "count down {duration}",
                  "timer for {duration}"],
}
HELD_OUT_TEMPLATES: dict[str, str] = {
    "email": "write an email to {person}",
    "call": "ring {person} {day} at {time}",
    "remind": "don't let me forget the meeting {day}",
    "play_music": "i'd like to listen to {artist}",
    "weather": "do i need an umbrella {day}",
    "set_alarm": "get me up at {time}",
    "book_taxi": "call me a taxi to the {place}",
    "set_timer": "give me {duration} on the clock",
}

# (voice, words per minute, pitch) per split: validation and test voices are never heard in training.
VOICES: dict[str, list[tuple[str, int, int]]] = {
    "train": [("en-us", 175, 50), ("en-us+f2", 180, 60), ("en-gb", 170, 40), ("en-gb+f3", 185, 65),
              ("en-gb-scotland", 175, 45), ("en-gb-x-rp+m3", 165, 35), ("en-029", 180, 55),
              ("en-gb-x-gbclan+f4", 170, 70)],
    "val": [("en-us+m4", 170, 30), ("en-gb-x-rp+f1", 180, 60)],
    "test": [("en-029+m2", 185, 45), ("en-us+f4", 170, 75), ("en-us-nyc+m1", 175, 40)],
}
# fmt: on


def render(template: str, rng: random.Random, *, held_out: bool) -> tuple[list[str], list[str], dict[str, str]]:
    """Fill a template: its words, one BIO tag per word, and the slot values in order (held-out
    values too when ``held_out``)."""
    words: list[str] = []
    tags: list[str] = []
    slots: dict[str, str] = {}
    for token in template.split():
        match = re.fullmatch(r"\{(\w+)\}", token)
        if match is None:
            words.append(token)
            tags.append("O")
            continue
        slot = match.group(1)
        seen, unseen = FILLERS[slot]
        value = rng.choice(seen + unseen if held_out else seen)
        if slot == "day" and value in WEEKDAYS:
            words.append("on")
            tags.append("O")
        parts = value.split()
        words += parts
        tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(parts) - 1)
        slots[slot] = value
    return words, tags, slots


def tagged_text(words: list[str], tags: list[str]) -> str:
    """The transcript with each slot value wrapped inline: ``email [person anna] on [day monday]``."""
    out: list[str] = []
    for i, (word, tag) in enumerate(zip(words, tags)):
        if tag.startswith("B-"):
            word = f"[{tag[2:]} {word}"
        if tag != "O" and (i + 1 == len(tags) or not tags[i + 1].startswith("I-")):
            word += "]"
        out.append(word)
    return " ".join(out)


def speak(text: str, voice: str, speed: int, pitch: int, target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text], check=True)
        trim = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
        # -R: repeatable mode (a fixed Ogg stream serial number); -G: guard against clipping; -D: no dither.
        subprocess.run(
            ["sox", "-R", "-G", "-D", str(raw), "-r", "16000", "-c", "1", "-C", "-1", str(target), *trim], check=True
        )


def utterance(
    intent: str, split: str, rng: random.Random, seen: set[str]
) -> tuple[list[str], list[str], dict[str, str], bool]:
    """Words, BIO tags and slots of a transcript of ``intent`` not used before (training: seen
    phrasings and values only), and whether it uses a held-out phrasing or value."""
    held_out = split != "train"
    templates = TEMPLATES[intent] + ([HELD_OUT_TEMPLATES[intent]] if held_out else [])
    for _ in range(2000):
        template = rng.choice(templates)
        words, tags, slots = render(template, rng, held_out=held_out)
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            novel = template == HELD_OUT_TEMPLATES[intent] or any(v in FILLERS[s][1] for s, v in slots.items())
            return words, tags, slots, novel
    raise RuntimeError(f"ran out of distinct '{intent}' utterances for {split}; lower the sizes")


def tool_versions() -> str:
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    sox = subprocess.run(["sox", "--version"], capture_output=True, text=True, check=True).stdout
    return f"espeak-ng {espeak.split(':')[1].split()[0]}, SoX {sox.split()[-1].lstrip('v')}"


def readme(out: Path, command: str, sizes: dict[str, int], counts: dict[str, int]) -> str:
    megabytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file() and f.name != "README.md") / 1e6
    import soundfile

    seconds = sorted(soundfile.info(str(f)).duration for f in (out / "audio").glob("*.ogg"))
    lines = [
        "# slu: spoken commands with intents and slots",
        "",
        f"Made by `recipes/data/make_slu.py` ({tool_versions()}); rebuild it with",
        "",
        f"    {command}",
        "",
        f"Sizes: {', '.join(f'{s} {n}' for s, n in sizes.items())} utterances; {megabytes:.1f} MB of "
        f"16 kHz mono Ogg Vorbis (lowest quality), {seconds[0]:.1f}-{seconds[-1]:.1f} s each "
        f"(median {seconds[len(seconds) // 2]:.1f} s).",
        "",
        "Rows: `id`, `audio` (relative path), `text` (lowercase, inside the default CTC alphabet), `voice`,",
        "`intent`, `slots` (slot type -> value), `bio` (one BIO tag per word of `text.split()`), `tagged`",
        "(the transcript with slots inline, `please email [person anna] on [day monday]`; needs the",
        'alphabet `"abcdefghijklmnopqrstuvwxyz \'[]"` or a byte tokenizer as a transcript target).',
        "",
        f"Intents ({len(TEMPLATES)}): " + ", ".join(f"`{i}`" for i in TEMPLATES) + ".",
        f"Slot types ({len(FILLERS)}): " + ", ".join(f"`{s}`" for s in FILLERS) + "; each utterance has 0-3 slots.",
        "",
        "| intent | training phrasings | held-out phrasing (val/test only) |",
        "| --- | --- | --- |",
    ]
    for intent, templates in TEMPLATES.items():
        lines.append(f"| `{intent}` | {'; '.join(templates)} | {HELD_OUT_TEMPLATES[intent]} |")
    lines += ["", "| slot | training values | held-out values (val/test only) |", "| --- | --- | --- |"]
    for slot, (seen, unseen) in FILLERS.items():
        shown = ", ".join(seen) if len(seen) <= 21 else f"{len(seen)} values ({', '.join(seen[:4])}, ...)"
        lines.append(f"| `{slot}` | {shown} | {', '.join(unseen)} |")
    lines += ["", "Voices (espeak-ng voice+variant); validation and test voices never occur in training:", ""]
    lines += [f"- {split}: {', '.join(v for v, _, _ in VOICES[split])}" for split in sizes]
    lines += [
        "",
        f"Held-out material: {counts['val']} of {sizes['val']} validation and {counts['test']} of {sizes['test']} "
        "test rows use a held-out phrasing or slot value; every transcript occurs once in the whole set.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (replaced)")
    parser.add_argument("--seed", type=int, default=SEED)
    for split, size in SIZES.items():
        parser.add_argument(f"--{split}", type=int, default=size, help=f"{split} utterances ({size})")
    args = parser.parse_args(argv)
    sizes = {split: getattr(args, split) for split in SIZES}
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    (out / "audio").mkdir(parents=True)
    rng = random.Random(args.seed)
    seen_texts: set[str] = set()
    novel = {split: 0 for split in sizes}
    for split, size in sizes.items():
        intents = [list(TEMPLATES)[i % len(TEMPLATES)] for i in range(size)]
        voices = [VOICES[split][i % len(VOICES[split])] for i in range(size)]
        rng.shuffle(intents)
        rng.shuffle(voices)
        rows = []
        for index, (intent, (voice, speed, pitch)) in enumerate(zip(intents, voices)):
            words, tags, slots, held = utterance(intent, split, rng, seen_texts)
            novel[split] += held
            text = " ".join(words)
            speed += rng.choice((-10, 0, 10))
            name = f"{split}_{index:03d}"
            speak(text, voice, speed, pitch, out / "audio" / f"{name}.ogg")
            rows.append(
                {
                    "id": name,
                    "audio": f"audio/{name}.ogg",
                    "text": text,
                    "voice": voice,
                    "intent": intent,
                    "slots": slots,
                    "bio": tags,
                    "tagged": tagged_text(words, tags),
                }
            )
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    command = ".venv/bin/python recipes/data/make_slu.py"
    command += "".join(f" --{split} {n}" for split, n in sizes.items() if n != SIZES[split])
    command += f" --seed {args.seed}" * (args.seed != SEED) + f" --out {out}" * (out.resolve() != OUT)
    (out / "README.md").write_text(readme(out, command, sizes, novel), encoding="utf-8")
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {sum(sizes.values())} utterances to {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
