"""W&B runs of these tests stay under the test's temporary folders: data, cache and config folders
included, and no ``WANDB_*`` setting of the machine leaks in (the root conftest sets ``WANDB_MODE=offline``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

#: W&B variables a developer's shell may hold that would change what these tests see.
_LEAKY = ["WANDB_PROJECT", "WANDB_ENTITY", "WANDB_NAME", "WANDB_RUN_GROUP", "WANDB_JOB_TYPE", "WANDB_NOTES",
          "WANDB_TAGS", "WANDB_DISABLED", "WANDB_RUN_ID", "WANDB_DIR"]  # fmt: skip


def isolate_wandb(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in _LEAKY:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    for name, folder in [("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config"),
                         ("WANDB_ARTIFACT_DIR", "artifacts")]:  # fmt: skip
        (home / folder).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(home / folder))


@pytest.fixture(autouse=True)
def _wandb_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_wandb(monkeypatch, tmp_path / "wandb-home")


@pytest.fixture(scope="module")
def module_wandb_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same isolation for module-scoped fixtures (one run shared by several tests)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_wandb(monkeypatch, tmp_path_factory.mktemp("wandb-home"))
        yield
