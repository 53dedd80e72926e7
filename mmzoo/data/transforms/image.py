"""Image transforms: resizing, cropping, flips, RandAugment and mean/std normalization.

Images are float ``(C, H, W)`` tensors with values in ``[0, 1]`` until ``image_normalize``. The
geometry goes through ``torchvision.transforms.v2.functional``; every random draw comes from the
``generator`` passed to ``__call__``. ``size`` options take one integer or ``[height, width]``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated

import torch
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from mmzoo.constraints import NonNegativeInt, PositiveFloat, PositiveInt, Probability, Range
from mmzoo.contracts import ModalitySpec
from mmzoo.contracts.transform import Transform

__all__ = ["Resize", "CenterCrop", "RandomResizedCrop", "HorizontalFlip", "RandAugment", "ImageNormalize"]

#: ImageNet mean and standard deviation per RGB channel (torchvision's and timm's defaults).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _expect_image(name: str, spec: ModalitySpec) -> None:
    if spec.kind != "image":
        raise ValueError(
            f"{name} expects an 'image' input (a decoded (C, H, W) image, before any non-image transform),"
            f" got '{spec.kind}'"
        )


def _pair(name: str, size: int | list[int]) -> tuple[int, int]:
    """``(height, width)`` from ``size`` (an integer means a square)."""
    height, width = (size, size) if isinstance(size, int) else tuple(size) if len(size) == 2 else (0, 0)
    if height < 1 or width < 1:
        raise ValueError(f"{name}: size must be a positive integer or [height, width], got {size}")
    return int(height), int(width)


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


class Resize(Transform):
    """Resize an image ``(C, H, W)`` with antialiased bilinear interpolation.

    An integer ``size`` sets the shorter side and keeps the aspect ratio (the longer side becomes
    ``int(size * long / short)``); ``[height, width]`` sets both. The output spec's ``image_size``
    is known when ``size`` is a pair, or when the input's size is known.

    Args:
        size: shorter side in pixels, or ``[height, width]``.
    """

    name = "resize"
    input_kinds: tuple[str, ...] = ("image",)

    def __init__(self, size: PositiveInt | list[PositiveInt] = 224) -> None:
        if isinstance(size, int):
            _pair(self.name, size)
        else:
            size = list(_pair(self.name, size))
        self.size = size

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` an input of this size is resized to."""
        if not isinstance(self.size, int):
            return self.size[0], self.size[1]
        if height <= width:
            return self.size, int(self.size * width / height)
        return int(self.size * height / width), self.size

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_image(self.name, input_spec)
        if not isinstance(self.size, int):
            image_size: tuple[int, int] | None = (self.size[0], self.size[1])
        elif input_spec.image_size is not None:
            image_size = self.output_size(*input_spec.image_size)
        else:
            image_size = None
        return dataclasses.replace(input_spec, image_size=image_size)

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        size = self.output_size(value.shape[-2], value.shape[-1])
        return TF.resize(value, list(size), interpolation=v2.InterpolationMode.BILINEAR, antialias=True)


class CenterCrop(Transform):
    """Crop the centre of an image ``(C, H, W)`` to ``size`` (zero-padding images that are smaller).

    Args:
        size: side of a square crop in pixels, or ``[height, width]``.
    """

    name = "center_crop"
    input_kinds: tuple[str, ...] = ("image",)

    def __init__(self, size: PositiveInt | list[PositiveInt] = 224) -> None:
        self.size = list(_pair(self.name, size))

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_image(self.name, input_spec)
        return dataclasses.replace(input_spec, image_size=(self.size[0], self.size[1]))

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        return TF.center_crop(value, self.size)


class RandomResizedCrop(Transform):
    """Crop a random box of random area and aspect ratio, then resize it to ``size``.

    The box (:meth:`draw_box`): up to 10 tries of an area fraction drawn uniformly from ``scale``
    and an aspect ratio (width / height) drawn log-uniformly from ``ratio``, keeping the first that
    fits, at a uniform position; otherwise the largest centred box whose ratio lies in ``ratio``.
    Resizing is antialiased bilinear.

    Args:
        size: side of the square output in pixels, or ``[height, width]``.
        scale: ``[low, high]`` range of the box's area as a fraction of the image's.
        ratio: ``[low, high]`` range of the box's aspect ratio (width / height).
    """

    name = "random_resized_crop"
    input_kinds: tuple[str, ...] = ("image",)
    random = True

    def __init__(
        self,
        size: PositiveInt | list[PositiveInt] = 224,
        scale: list[Annotated[float, Range(gt=0, le=1)]] = [0.08, 1.0],  # noqa: B006
        ratio: list[PositiveFloat] = [0.75, 4.0 / 3.0],  # noqa: B006
    ) -> None:
        self.size = list(_pair(self.name, size))
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"random_resized_crop: scale must be [low, high] with 0 < low <= high <= 1, got {scale}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"random_resized_crop: ratio must be [low, high] with 0 < low <= high, got {ratio}")
        self.scale = [float(v) for v in scale]
        self.ratio = [float(v) for v in ratio]

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_image(self.name, input_spec)
        return dataclasses.replace(input_spec, image_size=(self.size[0], self.size[1]))

    def draw_box(self, height: int, width: int, generator: torch.Generator) -> tuple[int, int, int, int]:
        """``(top, left, box_height, box_width)`` for an image of ``height`` x ``width``."""
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            area = height * width * _uniform(self.scale[0], self.scale[1], generator)
            aspect = math.exp(_uniform(log_low, log_high, generator))
            box_width = int(round(math.sqrt(area * aspect)))
            box_height = int(round(math.sqrt(area / aspect)))
            if 0 < box_width <= width and 0 < box_height <= height:
                top = int(torch.randint(0, height - box_height + 1, (), generator=generator))
                left = int(torch.randint(0, width - box_width + 1, (), generator=generator))
                return top, left, box_height, box_width
        aspect = width / height
        if aspect < self.ratio[0]:
            box_width, box_height = width, max(1, int(round(width / self.ratio[0])))
        elif aspect > self.ratio[1]:
            box_width, box_height = max(1, int(round(height * self.ratio[1]))), height
        else:
            box_width, box_height = width, height
        return (height - box_height) // 2, (width - box_width) // 2, box_height, box_width

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        top, left, box_height, box_width = self.draw_box(value.shape[-2], value.shape[-1], generator)
        return TF.resized_crop(
            value,
            top,
            left,
            box_height,
            box_width,
            self.size,
            interpolation=v2.InterpolationMode.BILINEAR,
            antialias=True,
        )


class HorizontalFlip(Transform):
    """Mirror an image ``(C, H, W)`` left-right with probability ``p`` (one uniform draw).

    Args:
        p: probability of flipping.
    """

    name = "horizontal_flip"
    input_kinds: tuple[str, ...] = ("image",)
    random = True

    def __init__(self, p: Probability = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"horizontal_flip: p must be between 0 and 1, got {p}")
        self.p = p

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_image(self.name, input_spec)
        return input_spec

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        if float(torch.rand((), generator=generator)) < self.p:
            return TF.horizontal_flip(value)
        return value


class RandAugment(Transform):
    """RandAugment (torchvision): ``num_ops`` random photometric/geometric ops of one magnitude.

    torchvision's RandAugment works on ``uint8`` images, so the image ``(C, H, W)`` in ``[0, 1]``
    is quantized to 256 levels, augmented and scaled back to ``[0, 1]``. torchvision draws from the
    global RNG: it runs inside ``torch.random.fork_rng`` seeded with one draw from the generator,
    so results are reproducible and the global RNG is left untouched. Images need 1 or 3 channels.

    Args:
        num_ops: number of operations applied in sequence.
        magnitude: strength of every operation, 0 to 30.
    """

    name = "rand_augment"
    input_kinds: tuple[str, ...] = ("image",)
    random = True

    def __init__(self, num_ops: NonNegativeInt = 2, magnitude: Annotated[int, Range(ge=0, le=30)] = 9) -> None:
        if num_ops < 0 or not 0 <= magnitude <= 30:
            raise ValueError(
                f"rand_augment: num_ops must be >= 0 and magnitude between 0 and 30, got {num_ops} and {magnitude}"
            )
        self.num_ops = num_ops
        self.magnitude = magnitude
        self._augment = v2.RandAugment(num_ops=num_ops, magnitude=magnitude)

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        _expect_image(self.name, input_spec)
        if input_spec.channels not in (None, 1, 3):
            raise ValueError(f"rand_augment needs images with 1 or 3 channels, got {input_spec.channels}")
        return input_spec

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        quantized = (value.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            augmented = self._augment(quantized)
        return augmented.to(value.dtype) / 255.0


class ImageNormalize(Transform):
    """Subtract a per-channel mean and divide by a per-channel standard deviation: ``(C, H, W)``.

    The statistics are ``mean``/``std`` when given, else those timm resolves for ``timm_model``
    (``timm.data.resolve_data_config`` on the model built with ``pretrained=False``; nothing is
    downloaded), else ImageNet's. One-value lists apply to every channel.

    Args:
        mean: per-channel means (with ``std``).
        std: per-channel standard deviations, positive (with ``mean``).
        timm_model: a timm model name whose preprocessing statistics to use, e.g. ``resnet18``.
    """

    name = "image_normalize"
    input_kinds: tuple[str, ...] = ("image",)

    def __init__(
        self, mean: list[float] | None = None, std: list[PositiveFloat] | None = None, timm_model: str | None = None
    ) -> None:
        if (mean is None) != (std is None):
            raise ValueError("image_normalize: give both mean and std, or neither")
        if timm_model is not None and mean is not None:
            raise ValueError("image_normalize: give either mean/std or timm_model, not both")
        if timm_model is not None:
            mean, std = self.timm_statistics(timm_model)
        elif mean is None or std is None:
            mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
        if len(mean) != len(std) or not mean:
            raise ValueError(f"image_normalize: mean and std need the same number of values, got {mean} and {std}")
        if min(std) <= 0:
            raise ValueError(f"image_normalize: std values must be positive, got {std}")
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        self.timm_model = timm_model

    @staticmethod
    def timm_statistics(model_name: str) -> tuple[list[float], list[float]]:
        """``(mean, std)`` that timm resolves for a model (built without pretrained weights)."""
        import timm
        import timm.data

        try:
            model = timm.create_model(model_name, pretrained=False)
        except RuntimeError as exc:  # timm's "Unknown model"
            raise ValueError(f"image_normalize: timm does not know the model '{model_name}' ({exc})") from exc
        config = timm.data.resolve_data_config({}, model=model)
        return [float(v) for v in config["mean"]], [float(v) for v in config["std"]]

    def setup(self, input_spec: ModalitySpec) -> ModalitySpec:
        if input_spec.kind in ("features", "waveform"):
            raise ValueError(f"image_normalize expects an 'image' input, got '{input_spec.kind}'; use 'normalize'")
        _expect_image(self.name, input_spec)
        if len(self.mean) > 1 and input_spec.channels is not None and input_spec.channels != len(self.mean):
            raise ValueError(
                f"image_normalize has {len(self.mean)} mean/std values but the images have"
                f" {input_spec.channels} channels"
            )
        return input_spec

    def __call__(self, value: Tensor, generator: torch.Generator) -> Tensor:
        channels = value.shape[0]
        if len(self.mean) > 1 and channels != len(self.mean):
            raise ValueError(f"image_normalize: an image has {channels} channels, expected {len(self.mean)}")
        mean = self.mean * channels if len(self.mean) == 1 else self.mean
        std = self.std * channels if len(self.std) == 1 else self.std
        return TF.normalize(value, mean, std)
