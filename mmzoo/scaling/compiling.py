"""``model.compile``: ``torch.compile`` block by block.

Each repeated block of the encoders and the fusion (what their ``blocks()`` list) is compiled on
its own with ``nn.Module.compile``, which compiles in place and so keeps parameter names and
checkpoints unchanged. Compiling blocks rather than the whole model keeps FSDP's per-block hooks
and activation checkpointing outside the compiled graphs, and compiles one graph for many
identical blocks. Encoders and fusions without ``blocks()`` are compiled whole; heads and
objectives are left alone (they are small and their outputs vary by head).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmzoo.scaling.checkpointing import blocks_of

__all__ = ["compile_model", "COMPILE_OPTIONS"]

#: Options of ``model.compile`` (passed to ``torch.compile``) and their types.
COMPILE_OPTIONS: dict[str, Any] = {"mode": str | None, "fullgraph": bool, "dynamic": bool | None, "backend": str}


def compile_model(model: Any, options: Mapping[str, Any]) -> int:
    """Compile the blocks (or whole parts) of a ``MultimodalModule``'s encoders and fusion in place.

    Returns:
        the number of compiled modules.
    """
    compiled = 0
    for part in [*model.encoders.values(), model.fusion]:
        for module in blocks_of(part) or [part]:
            module.compile(**dict(options))
            compiled += 1
    return compiled
