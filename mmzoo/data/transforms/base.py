"""Temporary: moved to mmzoo.contracts.transform."""

from mmzoo.contracts.transform import Transform

__all__ = ["Transform"]
