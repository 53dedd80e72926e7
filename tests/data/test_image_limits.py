"""Images too large to decode: ``max_image_pixels`` and Pillow's decompression-bomb limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mmzoo.data.decoders import DecodeError, decode_image, probe_image
from mmzoo.data.manifest_datamodule import DEFAULT_MAX_IMAGE_PIXELS
from mmzoo.errors import DataError

from .conftest import write_jsonl
from .test_manifest_datamodule import make

IMAGE_ONLY = {"image": {"type": "image", "channels": 1}}


def blank(path: Path, width: int, height: int) -> Path:
    """A single-colour PNG: even 8000x8000 compresses to a few tens of KB."""
    Image.new("L", (width, height), 200).save(path)
    return path


def manifest_with(corpus: Path, image: str) -> Path:
    rows = [{"image": "img/0.png", "label": "even"}, {"image": image, "label": "odd"}]
    return write_jsonl(corpus / "images.jsonl", rows)


def test_an_image_above_the_default_limit_is_a_bad_row_before_anything_is_decoded(corpus, monkeypatch):
    big = blank(corpus / "img" / "big.png", 8000, 8000)
    assert 8000 * 8000 > DEFAULT_MAX_IMAGE_PIXELS
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded pixels of a refused image"))
    manifest = manifest_with(corpus, "img/big.png")
    with pytest.raises(DataError) as info:
        make(manifest, modalities=IMAGE_ONLY).setup("fit")
    assert info.value.message.endswith(
        f"  - {manifest}:2: field 'image': {big}: the image is 8000x8000 (64,000,000 pixels), more than"
        " data.max_image_pixels (40,000,000); shrink it, or raise data.max_image_pixels (null turns the limit off)"
    )


def test_the_limit_is_an_option_and_the_skip_policy_drops_the_row(corpus):
    blank(corpus / "img" / "larger.png", 40, 40)
    manifest = manifest_with(corpus, "img/larger.png")
    make(manifest, modalities=IMAGE_ONLY, max_image_pixels=40 * 40).setup("fit")
    skipping = make(manifest, modalities=IMAGE_ONLY, max_image_pixels=40 * 40 - 1, on_bad_sample="skip")
    skipping.setup("fit")
    assert [row.line for row in skipping.rows["train"]] == [1]
    assert "more than data.max_image_pixels (1,599)" in skipping.skipped["train"][0].problem


def test_null_turns_the_limit_off(corpus):
    blank(corpus / "img" / "wide.png", 9000, 5000)
    make(manifest_with(corpus, "img/wide.png"), modalities=IMAGE_ONLY, max_image_pixels=None).setup("fit")


def test_decoding_refuses_a_large_image_too(tmp_path):
    path = blank(tmp_path / "image.png", 20, 10)
    assert decode_image(path, 1, max_pixels=200).shape == (1, 10, 20)
    with pytest.raises(
        DecodeError, match=r"the image is 20x10 \(200 pixels\), more than data.max_image_pixels \(199\)"
    ):
        decode_image(path, 1, max_pixels=199)


@pytest.mark.parametrize(
    "side, fragment",
    [
        (40, r"the image is 40x40 \(1,600 pixels\), more than Pillow decodes without a decompression-bomb warning"),
        (50, r"the image is too large for Pillow to decode \(Image size \(2500 pixels\) exceeds limit"),
    ],
)
def test_pillows_decompression_bomb_limit_is_a_bad_row_too(tmp_path, monkeypatch, side, fragment):
    path = blank(tmp_path / "image.png", side, side)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # warns above 1000 pixels, refuses above 2000
    for check in (lambda: probe_image(path, None), lambda: decode_image(path, 1, None)):
        with pytest.raises(DecodeError, match=fragment):
            check()
