"""timm: any timm model, offline; token / feature-map sequences; rows without an image."""

from __future__ import annotations

import pytest
import timm
import torch

from mmzoo.contracts import ModalitySpec

from ._util import IMAGE, build, inputs

VIT = {
    "model_name": "vit_tiny_patch16_224",
    "model_kwargs": {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2},
}


def test_vit_sequence_is_its_tokens():
    encoder = build("timm", IMAGE, **VIT).eval()
    out = encoder(*inputs(IMAGE, [1, 1, 0]))
    assert encoder.dim == 32
    assert out.seq.shape == (3, 1 + 16, 32)  # [CLS] + 4 x 4 patches
    assert out.mask.tolist() == [[True] * 17, [True] * 17, [False] * 17]
    assert len(encoder.blocks()) == 2 and encoder.blocks()[0] is encoder.model.blocks[0]


def test_cnn_sequence_is_the_flattened_feature_map():
    spec = ModalitySpec(kind="image", channels=3, image_size=(64, 64))
    encoder = build("timm", spec, model_name="resnet10t").eval()
    values, mask = inputs(spec, [1, 0])
    out = encoder(values, mask)
    assert out.seq.shape == (2, 2 * 2, 512) and out.pooled.shape == (2, 512)
    features = encoder.model.forward_features(values[:1])
    torch.testing.assert_close(out.seq[0], features[0].flatten(1).T)
    torch.testing.assert_close(out.pooled[0], features[0].mean(dim=(1, 2)))
    model = encoder.model
    assert encoder.blocks() == [model.layer1, model.layer2, model.layer3, model.layer4]


def test_channels_last_features_and_a_wider_head():
    swin = build(
        "timm",
        IMAGE,
        model_name="swin_tiny_patch4_window7_224",
        model_kwargs={"img_size": 32, "window_size": 4, "depths": [1, 1], "embed_dim": 16, "num_heads": [1, 2]},
    ).eval()
    out = swin(*inputs(IMAGE, [1, 1]))
    assert out.seq.shape == (2, 4 * 4, 32)
    torch.testing.assert_close(out.pooled, out.seq.mean(dim=1), atol=1e-5, rtol=1e-4)
    mobile = build("timm", IMAGE, model_name="mobilenetv3_small_050").eval()
    out = mobile(*inputs(IMAGE, [1, 0]))
    assert mobile.dim == 1024 and out.seq.shape[-1] == 1024 and out.pooled.shape == (2, 1024)


def test_rows_without_images_never_reach_the_model_even_in_training():
    encoder = build("timm", IMAGE, model_name="resnet10t")  # batch norm in training mode
    values, mask = inputs(IMAGE, [1, 1, 0])
    out = encoder(values, mask)
    noisy = values.clone()
    noisy[2] = 1000 * torch.randn(noisy[2].shape)
    again = encoder(noisy, mask)
    torch.testing.assert_close(again.pooled, out.pooled)
    assert out.pooled[2].abs().sum() == 0 and out.seq[2].abs().sum() == 0


def test_a_batch_without_any_image():
    encoder = build("timm", IMAGE, **VIT)
    values, mask = inputs(IMAGE, [0, 0])
    out = encoder(values, mask)
    assert encoder.training  # the blank probe does not leave the model in eval mode
    assert out.seq.shape == (2, 17, 32) and not out.mask.any() and out.pooled.abs().sum() == 0


def test_checkpoint_path_loads_weights_saved_with_the_classifier(tmp_path):
    source = timm.create_model("resnet10t", pretrained=False, num_classes=7)
    torch.save(source.state_dict(), tmp_path / "resnet.pth")
    encoder = build(
        "timm",
        IMAGE,
        model_name="resnet10t",
        model_kwargs={"num_classes": 7},
        checkpoint_path=str(tmp_path / "resnet.pth"),
    ).eval()
    values, mask = inputs(IMAGE, [1])
    source.eval()
    expected = source.forward_head(source.forward_features(values), pre_logits=True)
    torch.testing.assert_close(encoder(values, mask).pooled, expected)
    assert not any("fc" in name for name, _ in encoder.model.named_parameters())
    with pytest.raises(RuntimeError):  # strict: a checkpoint of another shape is refused
        build("timm", IMAGE, model_name="resnet10t", checkpoint_path=str(tmp_path / "resnet.pth"))


def test_pretrained_is_never_requested():
    with pytest.raises(ValueError, match="checkpoint_path"):
        build("timm", IMAGE, model_name="resnet10t", model_kwargs={"pretrained": True})
