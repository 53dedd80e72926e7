"""The facts of a run: versions, git state, and run.json."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mmzoo.tracking.run_file import RUN_FILE, read_run_file, update_run_file
from mmzoo.tracking.versions import git_state, plugin_versions, software_versions


def test_versions_name_mmzoo_its_plugins_and_the_stack(registry):
    versions = software_versions(registry)
    assert versions["plugins"] == plugin_versions(registry) and "mmzoo" in versions["plugins"]
    assert {"mmzoo", "python", "torch", "lightning", "cuda", "wandb"} <= set(versions)


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)  # fmt: skip


def test_git_state_of_a_work_tree(tmp_path):
    assert git_state(tmp_path) is None  # not in a repository: quietly nothing
    _git(tmp_path, "init", "-q")
    assert git_state(tmp_path) is None  # no commit yet
    (tmp_path / "recipe.yaml").write_text("seed: 1\n")
    _git(tmp_path, "add", "recipe.yaml")
    _git(tmp_path, "commit", "-q", "-m", "r")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    (tmp_path / "untracked.txt").write_text("x")
    assert git_state(tmp_path) == {"commit": head.strip(), "dirty": False}
    (tmp_path / "recipe.yaml").write_text("seed: 2\n")
    assert git_state(tmp_path) == {"commit": head.strip(), "dirty": True}


def test_run_file_merges_and_tolerates_absence(tmp_path):
    assert read_run_file(tmp_path) == {}
    update_run_file(tmp_path, {"a": 1, "b": {"x": 1}})
    update_run_file(tmp_path, {"b": {"y": 2}})
    assert read_run_file(tmp_path) == {"a": 1, "b": {"y": 2}}
    (tmp_path / RUN_FILE).write_text("not json")
    assert read_run_file(tmp_path) == {}
