"""The listing cache of `mmzoo plugins`: served without loading plugins, never stale."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap

import pytest

from mmzoo import listing as listing_module
from mmzoo.listing import cache_key, listing_of, load_listing

from .conftest import REPO


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(folder))
    monkeypatch.delenv("MMZOO_NO_CACHE", raising=False)
    return folder


def test_the_second_listing_comes_from_the_cache_and_equals_the_first(cache, registry):
    first = load_listing()
    assert not first.from_cache and len(list(cache.glob("listing-*.json"))) == 1
    second = load_listing()
    assert second.from_cache
    fresh = listing_of(registry)
    assert second.entries == first.entries == fresh.entries
    gated = next(e for e in second.entries if e.name == "gated")
    assert gated.paper and gated.factory == "mmzoo.fusions.gated.GatedFusion"
    dim = registry.get("fusion", "gated").option("dim")
    assert [o for o in gated.options if o.name == "dim"][0].default == str(dim.default)
    assert next(e for e in second.entries if e.name == "conv1d").context_args == ("input_spec",)


def test_the_cache_can_be_turned_off(cache, monkeypatch):
    load_listing()
    monkeypatch.setenv("MMZOO_NO_CACHE", "1")
    assert not load_listing().from_cache


def test_an_unwritable_cache_folder_is_ignored(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MMZOO_CACHE_DIR", str(blocker / "cache"))
    assert load_listing().entries


def test_disabling_a_plugin_is_another_key():
    assert cache_key([]) != cache_key(["mmzoo-fusions"]) == cache_key(["mmzoo-fusions"])


def test_editing_a_plugin_file_changes_the_key(tmp_path, monkeypatch):
    package = tmp_path / "probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint(name="probe", value="probe_pkg.plugin", group="mmzoo")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        listing_module.importlib.metadata,
        "entry_points",
        lambda **kw: [*real(**kw), point] if kw.get("group") == "mmzoo" else real(**kw),
    )
    before = cache_key([])
    assert cache_key([]) == before
    (package / "plugin.py").write_text("X = 22\n")  # another size
    assert cache_key([]) != before


def test_a_cached_listing_imports_neither_plugins_nor_torch(cache):
    code = textwrap.dedent(
        """
        import sys
        from mmzoo.listing import load_listing
        listing = load_listing()
        heavy = [name for name in ("torch", "lightning", "mmzoo.encoders", "mmzoo.fusions") if name in sys.modules]
        print(listing.from_cache, len(listing.entries), heavy)
        """
    )

    def listed() -> str:
        # A fresh process each time (the test process's sys.path may hold other distributions).
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env={**os.environ})
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    cold_from_cache, cold_entries, cold_heavy = listed().split(" ", 2)
    assert cold_from_cache == "False" and "torch" in cold_heavy
    assert listed() == f"True {cold_entries} []"
