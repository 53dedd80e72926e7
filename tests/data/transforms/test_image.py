"""Image transforms: sizes, crops, flips, RandAugment and normalization."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import ModalitySpec
from mmzoo.data.transforms.image import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CenterCrop,
    HorizontalFlip,
    ImageNormalize,
    RandAugment,
    RandomResizedCrop,
    Resize,
)

SPEC = ModalitySpec(kind="image", channels=3, image_size=(64, 48))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def image(seed: int = 0, size: tuple[int, int] = (64, 48)) -> torch.Tensor:
    return torch.rand(3, *size, generator=gen(seed))


# -- resize and crops ----------------------------------------------------------------------------


def test_resize_shorter_side_keeps_the_aspect_ratio():
    transform = Resize(size=32)
    spec = transform.setup(SPEC)
    out = transform(image(), gen())
    assert out.shape == (3, 42, 32)  # 64 x 48 -> shorter side 32, longer int(32 * 64 / 48)
    assert spec.image_size == (42, 32) and spec.channels == 3
    assert transform(image(size=(30, 90)), gen()).shape == (3, 32, 96)
    assert transform.setup(ModalitySpec(kind="image", channels=3)).image_size is None
    constant = torch.full((3, 64, 48), 0.25)
    torch.testing.assert_close(transform(constant, gen()), torch.full((3, 42, 32), 0.25))


def test_resize_to_height_and_width():
    transform = Resize(size=[20, 30])
    assert transform.setup(ModalitySpec(kind="image", channels=1)).image_size == (20, 30)
    assert transform(torch.rand(1, 64, 48), gen()).shape == (1, 20, 30)
    # a left/right split image stays split
    halves = torch.zeros(1, 64, 48)
    halves[..., 24:] = 1.0
    out = transform(halves, gen())
    assert out[..., :13].max() < 0.01 and out[..., 17:].min() > 0.99
    with pytest.raises(ValueError, match="size"):
        Resize(size=[10])


def test_center_crop_takes_the_middle():
    transform = CenterCrop(size=32)
    assert transform.setup(SPEC).image_size == (32, 32)
    value = image()
    assert torch.equal(transform(value, gen()), value[:, 16:48, 8:40])
    rectangle = CenterCrop(size=[40, 20])
    assert rectangle.setup(SPEC).image_size == (40, 20)
    assert torch.equal(rectangle(value, gen()), value[:, 12:52, 14:34])


def test_random_resized_crop_boxes_follow_scale_and_ratio():
    transform = RandomResizedCrop(size=[32, 24], scale=[0.2, 0.6], ratio=[0.5, 2.0])
    assert transform.random and transform.setup(SPEC).image_size == (32, 24)
    boxes = set()
    for seed in range(30):
        top, left, height, width = transform.draw_box(64, 48, gen(seed))
        assert 0 <= top and top + height <= 64 and 0 <= left and left + width <= 48
        assert 0.15 <= height * width / (64 * 48) <= 0.65
        assert 0.45 <= width / height <= 2.2
        boxes.add((top, left, height, width))
    assert len(boxes) > 20
    value = image()
    out = transform(value, gen(3))
    assert out.shape == (3, 32, 24)
    assert torch.equal(transform(value, gen(3)), out)
    assert not torch.equal(transform(value, gen(4)), out)


def test_random_resized_crop_of_the_whole_image_is_a_resize():
    transform = RandomResizedCrop(size=[32, 24], scale=[1.0, 1.0], ratio=[0.75, 0.75])
    transform.setup(SPEC)
    value = image()
    assert transform.draw_box(64, 48, gen()) == (0, 0, 64, 48)
    resize = Resize(size=[32, 24])
    torch.testing.assert_close(transform(value, gen()), resize(value, gen()))
    # a box that can never fit falls back to the largest centred box within the ratio range
    wide = RandomResizedCrop(size=8, scale=[1.0, 1.0], ratio=[1.0, 1.0])
    assert wide.draw_box(10, 40, gen()) == (0, 15, 10, 10)


# -- flip and RandAugment ------------------------------------------------------------------------


def test_horizontal_flip_flips_with_probability_p():
    value = image()
    always = HorizontalFlip(p=1.0)
    assert always.random and always.setup(SPEC) == SPEC
    assert torch.equal(always(value, gen()), value.flip(-1))
    assert torch.equal(always(value, gen())[:, :, 0], value[:, :, -1])
    never = HorizontalFlip(p=0.0)
    assert torch.equal(never(value, gen()), value)
    half = HorizontalFlip(p=0.5)
    flips = 0
    for seed in range(200):
        out = half(value, gen(seed))
        if torch.equal(out, value.flip(-1)):
            flips += 1
        else:
            assert torch.equal(out, value)
    assert 70 <= flips <= 130


def test_rand_augment_is_seeded_by_the_generator_only():
    transform = RandAugment(num_ops=2, magnitude=9)
    assert transform.random and transform.setup(SPEC) == SPEC
    value = image()
    torch.manual_seed(0)
    state = torch.get_rng_state()
    out = transform(value, gen(1))
    assert torch.equal(torch.get_rng_state(), state)
    assert out.shape == value.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(transform(value, gen(1)), out)
    torch.manual_seed(99)  # the global RNG does not matter
    assert torch.equal(transform(value, gen(1)), out)
    assert len({transform(value, gen(s)).sum().item() for s in range(6)}) > 2


def test_rand_augment_without_ops_only_quantizes():
    transform = RandAugment(num_ops=0)
    value = image()
    out = transform(value, gen())
    torch.testing.assert_close(out, (value * 255).round() / 255)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        transform.setup(ModalitySpec(kind="image", channels=4))


# -- normalize -----------------------------------------------------------------------------------


def test_image_normalize_defaults_to_imagenet():
    transform = ImageNormalize()
    assert transform.setup(SPEC) == SPEC
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1).expand(3, 8, 8)
    torch.testing.assert_close(transform(mean.clone(), gen()), torch.zeros(3, 8, 8))
    ones = transform(torch.ones(3, 2, 2), gen())
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(ones[:, 0, 0], expected)


def test_image_normalize_matches_timm_config():
    import timm
    import timm.data

    transform = ImageNormalize(timm_model="resnet18")
    config = timm.data.resolve_data_config({}, model=timm.create_model("resnet18", pretrained=False))
    assert transform.mean == pytest.approx(list(config["mean"])) and transform.std == pytest.approx(list(config["std"]))
    value = image()
    expected = (value - torch.tensor(config["mean"]).view(3, 1, 1)) / torch.tensor(config["std"]).view(3, 1, 1)
    torch.testing.assert_close(transform(value, gen()), expected)
    # a model with other statistics (Inception-style 0.5 / 0.5)
    inception = ImageNormalize(timm_model="inception_v3")
    assert inception.mean == pytest.approx([0.5, 0.5, 0.5]) and inception.std == pytest.approx([0.5, 0.5, 0.5])


def test_image_normalize_options_are_checked():
    custom = ImageNormalize(mean=[0.5], std=[0.25])
    assert custom.setup(ModalitySpec(kind="image", channels=1)).channels == 1
    torch.testing.assert_close(custom(torch.ones(2, 1, 1), gen()), torch.full((2, 1, 1), 2.0))
    with pytest.raises(ValueError, match="both mean and std"):
        ImageNormalize(mean=[0.5])
    with pytest.raises(ValueError, match="not both"):
        ImageNormalize(mean=[0.5], std=[0.5], timm_model="resnet18")
    with pytest.raises(ValueError, match="timm does not know the model 'no_such_model'"):
        ImageNormalize(timm_model="no_such_model")
    with pytest.raises(ValueError, match="3 mean/std values but the images have 1 channels"):
        ImageNormalize().setup(ModalitySpec(kind="image", channels=1))
    with pytest.raises(ValueError, match="std values must be positive"):
        ImageNormalize(mean=[0.5], std=[0.0])


@pytest.mark.parametrize(
    "transform",
    [Resize(32), CenterCrop(32), RandomResizedCrop(32), HorizontalFlip(), RandAugment(), ImageNormalize()],
    ids=lambda t: t.name,
)
@pytest.mark.parametrize("kind", ["waveform", "features", "text"])
def test_image_transforms_reject_other_inputs(transform, kind):
    with pytest.raises(ValueError, match=rf"^{transform.name} expects an 'image' input.*got '{kind}'"):
        transform.setup(ModalitySpec(kind=kind, sample_rate=16000.0))
