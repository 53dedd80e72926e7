"""The tokenize transform: byt5, trained wordpiece/bpe, and tokenizers loaded from local paths."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from mmzoo.contracts import ModalitySpec
from mmzoo.data.transforms.text import Tokenize

TEXT = ModalitySpec(kind="text")
CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "Hello world, hello again!",
    "a small model zoo for audio images and text",
    "the dog sleeps while the fox runs",
    "quick thinking wins the day",
    "brown dogs and lazy foxes",
] * 3


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def fitted(kind: str, vocab_size: int = 200, texts: list[str] = CORPUS, **options) -> Tokenize:
    transform = Tokenize(tokenizer=kind, vocab_size=vocab_size, **options)
    transform.fit(texts)
    return transform


# -- byt5 ----------------------------------------------------------------------------------------


def test_byt5_ids_match_transformers():
    from transformers import ByT5Tokenizer

    transform = Tokenize()
    assert not transform.needs_fit
    spec = transform.setup(TEXT)
    reference = ByT5Tokenizer()
    assert spec == ModalitySpec(kind="tokens", vocab_size=len(reference), pad_id=reference.pad_token_id)
    for text in ["Hello world", "naïve café ✓", ""]:
        out = transform(text, gen())
        assert out.dtype == torch.int64
        assert out.tolist() == reference(text).input_ids
        assert int(out.max()) < spec.vocab_size
    assert transform("", gen()).tolist() == [reference.eos_token_id]  # empty text: just EOS


def test_byt5_lowercase_and_truncation_keep_eos():
    transform = Tokenize(lowercase=True, max_length=5)
    transform.setup(TEXT)
    out = transform("HELLO WORLD", gen()).tolist()
    assert out == [ord(c) + 3 for c in "hell"] + [1]
    assert Tokenize(max_length=None)("x" * 600, gen()).shape == (601,)
    assert Tokenize()("x" * 600, gen()).shape == (512,)
    with pytest.raises(ValueError, match="max_length"):
        Tokenize(max_length=0)


# -- trained tokenizers --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_trained_tokenizers_are_deterministic(kind):
    first, second = fitted(kind), fitted(kind)
    assert first.needs_fit
    for text in CORPUS[:6] + ["unseen words: zebra!"]:
        assert torch.equal(first(text, gen()), second(text, gen()))
    assert first.cache_key() == second.cache_key()
    other = fitted(kind, texts=CORPUS[:3])
    assert other.cache_key() != first.cache_key()  # the key follows the learned vocabulary


def test_trained_tokenizers_are_the_same_in_another_process():
    # tokenizers' own WordPiece trainer numbers symbols in hash order, which changes per process
    # (the parent packages are stubbed so that the child does not spend seconds importing Lightning)
    script = (
        "import sys, types, pathlib, mmzoo\n"
        "root = pathlib.Path(mmzoo.__file__).parent / 'data'\n"
        "for name, path in (('mmzoo.data', root), ('mmzoo.data.transforms', root / 'transforms')):\n"
        "    sys.modules[name] = module = types.ModuleType(name); module.__path__ = [str(path)]\n"
        "from mmzoo.data.transforms.text import Tokenize\n"
        f"texts = {CORPUS!r}\n"
        "for kind in ('wordpiece', 'bpe'):\n"
        "    for size in (40, 60, 150):\n"
        "        t = Tokenize(kind, vocab_size=size); t.fit(texts); print(t.cache_key())\n"
    )
    here = [fitted(kind, vocab_size=size).cache_key() for kind in ("wordpiece", "bpe") for size in (40, 60, 150)]
    runs = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert runs.stdout.splitlines() == here


@pytest.mark.parametrize(
    ("kind", "text", "decoded"),
    [
        ("wordpiece", "The quick brown fox", "the quick brown fox"),
        ("wordpiece", "Hello, lazy dogs!", "hello, lazy dogs!"),
        ("bpe", "The quick brown fox", "the quick brown fox"),
        ("bpe", "Hello world, hello again!", "hello world, hello again!"),
    ],
)
def test_trained_tokenizers_round_trip(kind, text, decoded):
    transform = fitted(kind)
    ids = transform(text, gen())
    assert ids[-1].item() == 2  # [EOS]
    assert transform.decode(ids) == decoded


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
@pytest.mark.parametrize("vocab_size", [12, 40, 100])
def test_trained_tokenizers_respect_vocab_size(kind, vocab_size):
    transform = Tokenize(tokenizer=kind, vocab_size=vocab_size)
    assert transform.setup(TEXT).vocab_size == vocab_size  # before fit: the declared bound
    transform.fit(CORPUS)
    spec = transform.setup(TEXT)
    assert spec.kind == "tokens" and spec.vocab_size <= vocab_size and spec.pad_id == 0
    for text in CORPUS + ["ZEBRA? 123 ü"]:
        ids = transform(text, gen())
        assert 0 <= int(ids.min()) and int(ids.max()) < spec.vocab_size


def test_trained_tokenizers_merge_frequent_words_and_mark_unknown_characters():
    wordpiece = fitted("wordpiece", vocab_size=300)
    tokens = [wordpiece._tok.id_to_token(i) for i in wordpiece("the fox jumps", gen()).tolist()]
    assert tokens == ["the", "fox", "jumps", "[EOS]"]
    assert wordpiece("€", gen()).tolist() == [1, 2]  # [UNK] [EOS]
    bpe = fitted("bpe", vocab_size=300)
    tokens = [bpe._tok.id_to_token(i) for i in bpe("the fox", gen()).tolist()]
    assert tokens == ["▁the", "▁fox", "[EOS]"]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_trained_tokenizers_give_eos_for_empty_text_and_truncate(kind):
    transform = fitted(kind, max_length=4)
    assert transform("", gen()).tolist() == [2]
    ids = transform("the quick brown fox jumps over the lazy dog", gen()).tolist()
    assert len(ids) == 4 and ids[-1] == 2


def test_lowercase_is_optional_for_trained_tokenizers():
    cased = fitted("wordpiece", lowercase=False, texts=["Hello World hello world"] * 3)
    assert cased.decode(cased("Hello world", gen())) == "Hello world"
    assert not torch.equal(cased("Hello", gen()), cased("hello", gen()))
    lower = fitted("wordpiece", texts=["Hello World hello world"] * 3)
    assert torch.equal(lower("Hello", gen()), lower("hello", gen()))


def test_unfitted_tokenizer_refuses_to_work():
    transform = Tokenize(tokenizer="bpe")
    with pytest.raises(RuntimeError, match="fitted"):
        transform("hello", gen())
    with pytest.raises(RuntimeError, match="fitted"):
        transform.cache_key()
    with pytest.raises(ValueError, match="vocab_size"):
        Tokenize(tokenizer="bpe", vocab_size=3)


# -- save and load -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_save_writes_a_loadable_tokenizer(kind, tmp_path):
    transform = fitted(kind)
    transform.modality = "caption"
    transform.save(tmp_path)
    path = tmp_path / "tokenizer-caption.json"
    assert json.loads(path.read_text())["model"]["type"] == ("WordPiece" if kind == "wordpiece" else "BPE")
    loaded = Tokenizer.from_file(str(path))
    reloaded = Tokenize(tokenizer=str(path))
    assert not reloaded.needs_fit
    assert reloaded.setup(TEXT) == transform.setup(TEXT)
    for text in ["The quick brown fox!", ""]:
        expected = transform(text, gen()).tolist()
        assert loaded.encode(text).ids == expected
        assert reloaded(text, gen()).tolist() == expected
    unnamed = fitted(kind)
    unnamed.save(tmp_path)
    assert (tmp_path / f"tokenizer-{kind}.json").is_file()


def test_byt5_saves_nothing(tmp_path):
    Tokenize().save(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_local_transformers_directories_load(tmp_path):
    from transformers import ByT5Tokenizer, PreTrainedTokenizerFast

    ByT5Tokenizer().save_pretrained(tmp_path / "byt5")
    local = Tokenize(tokenizer=str(tmp_path / "byt5"))
    assert torch.equal(local("Hello there", gen()), Tokenize()("Hello there", gen()))
    assert local.setup(TEXT).vocab_size == 384

    trained = fitted("wordpiece")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(trained.tokenizer_json()),
        unk_token="[UNK]",
        pad_token="[PAD]",
        eos_token="[EOS]",
    )
    fast.save_pretrained(tmp_path / "wordpiece")
    loaded = Tokenize(tokenizer=str(tmp_path / "wordpiece"))
    assert loaded.setup(TEXT) == trained.setup(TEXT)
    assert torch.equal(loaded("the lazy fox", gen()), trained("the lazy fox", gen()))
    assert loaded.cache_key() != Tokenize().cache_key()


def test_a_loaded_tokenizer_without_eos_rejects_empty_text(tmp_path):
    bare = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "hello": 2}, unk_token="[UNK]"))
    bare.pre_tokenizer = pre_tokenizers.Whitespace()
    bare.save(str(tmp_path / "bare.json"))
    transform = Tokenize(tokenizer=str(tmp_path / "bare.json"))
    assert transform.setup(TEXT) == ModalitySpec(kind="tokens", vocab_size=3, pad_id=0)
    assert transform("hello you", gen()).tolist() == [2, 1]
    with pytest.raises(ValueError, match="gives no tokens and the tokenizer has no EOS"):
        transform("", gen())

    with_eos = Tokenizer(models.WordLevel({"<pad>": 0, "<unk>": 1, "</s>": 2, "hi": 3}, unk_token="<unk>"))
    with_eos.pre_tokenizer = pre_tokenizers.Whitespace()
    with_eos.save(str(tmp_path / "eos.json"))
    assert Tokenize(tokenizer=str(tmp_path / "eos.json"))("", gen()).tolist() == [2]


def test_bad_tokenizer_sources_are_clear(tmp_path):
    with pytest.raises(ValueError, match="no tokenizer file or directory at '/nonexistent/tok.json'"):
        Tokenize(tokenizer="/nonexistent/tok.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not a tokenizers JSON file"):
        Tokenize(tokenizer=str(tmp_path / "broken.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="cannot load the tokenizer"):
        Tokenize(tokenizer=str(tmp_path / "empty"))


@pytest.mark.parametrize("kind", ["tokens", "waveform", "image"])
def test_tokenize_rejects_other_inputs(kind):
    with pytest.raises(ValueError, match=rf"^tokenize expects a 'text' input.*got '{kind}'"):
        Tokenize().setup(ModalitySpec(kind=kind))
