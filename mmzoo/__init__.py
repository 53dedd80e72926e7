"""mmzoo: a plugin-based PyTorch Lightning model zoo for multimodal deep learning.

Importing ``mmzoo`` is cheap (no torch): plugin authors need only :data:`hookimpl`.
"""

from __future__ import annotations

from mmzoo.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
