"""Names in a run directory's ``checkpoints/`` folder (no heavy imports: the CLI and ``mmzoo.run`` use them)."""

from __future__ import annotations

__all__ = ["CHECKPOINT_DIR", "LAST_NAME", "OLD_SUFFIX"]

#: The run directory's folder of checkpoints.
CHECKPOINT_DIR = "checkpoints"
#: The newest state of a run (:class:`mmzoo.lifecycle.last_checkpoint.LastCheckpoint`).
LAST_NAME = "last.ckpt"
#: A sharded checkpoint folder being replaced is renamed to ``<name>.old`` between two renames.
OLD_SUFFIX = ".old"
