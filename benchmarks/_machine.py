"""What machine a benchmark ran on, for the pages the benchmarks write."""

from __future__ import annotations

import os
import platform


def describe_cpu() -> str:
    """``<cpu>, <n> cores, Python <version>, torch <version>``."""
    import torch

    from mmzoo.tracking.versions import cpu_name  # the name run.json records

    return (
        f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )
