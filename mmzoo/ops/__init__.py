"""Tensor operations shared across components."""

from mmzoo.ops.masking import masked_max, masked_mean, present_modalities

__all__ = ["masked_mean", "masked_max", "present_modalities"]
