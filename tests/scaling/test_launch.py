"""Run directories of launches that torchrun or SLURM start on several processes."""

from __future__ import annotations

import threading
import time

import pytest

from mmzoo.errors import RunError
from mmzoo.recipe import load_recipe
from mmzoo.run_dirs import RUN_DIR_ENV, launched_rank, shared_run_dir


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "TORCHELASTIC_RUN_ID", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SLURM_STEP_ID", raising=False)
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    return monkeypatch


def test_launched_rank_reads_torchrun_and_slurm(clean_env):
    assert launched_rank() is None
    clean_env.setenv("SLURM_NTASKS", "16")
    clean_env.setenv("SLURM_PROCID", "9")
    assert launched_rank() == 9
    clean_env.setenv("WORLD_SIZE", "8")
    clean_env.setenv("RANK", "3")
    clean_env.setenv("TORCHELASTIC_RUN_ID", "job")
    assert launched_rank() == 3


def test_slurm_ranks_meet_in_one_directory(clean_env, tiny_recipe, registry):
    recipe = load_recipe(tiny_recipe, [], registry)
    clean_env.setenv("SLURM_JOB_ID", "4242")
    clean_env.setenv("SLURM_STEP_ID", "0")
    found = {}
    waiting = threading.Thread(target=lambda: found.update(rank1=shared_run_dir(recipe, registry, "fit", 1, None)))
    waiting.start()
    time.sleep(0.3)
    assert "rank1" not in found  # rank 1 waits for rank 0's recipe.yaml
    run_dir = shared_run_dir(recipe, registry, "fit", 0, None)
    waiting.join(timeout=10)
    assert found["rank1"] == run_dir and run_dir.name == "slurm-4242.0-fit"
    assert (run_dir / "recipe.yaml").is_file()
    with pytest.raises(RunError, match="already exists"):
        shared_run_dir(recipe, registry, "fit", 0, None)


def test_a_launch_without_a_shared_name_is_a_clear_error(clean_env, tiny_recipe, registry):
    recipe = load_recipe(tiny_recipe, [], registry)
    clean_env.setenv("TORCHELASTIC_RUN_ID", "none")
    with pytest.raises(RunError, match="no run directory name in common") as info:
        shared_run_dir(recipe, registry, "fit", 0, None)
    assert "MMZOO_RUN_DIR" in info.value.hint


def test_mmzoo_run_dir_names_the_directory(clean_env, tiny_recipe, registry, tmp_path):
    recipe = load_recipe(tiny_recipe, [], registry)
    clean_env.setenv(RUN_DIR_ENV, str(tmp_path / "chosen"))
    assert shared_run_dir(recipe, registry, "fit", 0, None) == tmp_path / "chosen"
