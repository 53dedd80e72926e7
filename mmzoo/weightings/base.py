"""Temporary: moved to mmzoo.contracts.weighting."""

from mmzoo.contracts.weighting import Weighting

__all__ = ["Weighting"]
