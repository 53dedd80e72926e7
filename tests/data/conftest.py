"""Fixtures of the data tests: a small corpus of real files next to a manifest, tiny broken files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..conftest import RECIPES

DIGITS = RECIPES / "data" / "digits"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Six spoken digits and their images copied next to a manifest in a fresh folder."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "img").mkdir()
    rows = []
    for digit in range(6):
        shutil.copy(DIGITS / "audio" / f"{digit}_00.flac", tmp_path / "clips" / f"{digit}.flac")
        shutil.copy(DIGITS / "images" / f"{digit}_00.png", tmp_path / "img" / f"{digit}.png")
        rows.append(
            {
                "id": f"r{digit}",
                "audio": f"clips/{digit}.flac",
                "image": f"img/{digit}.png",
                "text": f"number {digit}",
                "label": "even" if digit % 2 == 0 else "odd",
            }
        )
    write_jsonl(tmp_path / "train.jsonl", rows)
    return tmp_path
