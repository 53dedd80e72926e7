"""Transforms: per-example steps from decoded data to model inputs (a plugin like any other)."""

from __future__ import annotations

from mmzoo.contracts.transform import Transform
from mmzoo.data.transforms.chain import TransformChain
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import Registrar

__all__ = ["Transform", "TransformChain"]


@hookimpl
def mmzoo_register_transforms(registrar: Registrar) -> None:
    from mmzoo.data.transforms import audio, image, text

    # audio: waveform (T,) -> waveform, or -> features (T', F)
    registrar.add("resample", audio.Resample, example={"sample_rate": 8000})
    registrar.add("pre_emphasis", audio.PreEmphasis, example={"coefficient": 0.97})
    registrar.add("frame", audio.Frame, example={"frame_ms": 25.0, "hop_ms": 10.0, "window": "hann"})
    registrar.add("log_mel", audio.LogMel, example={"n_mels": 40})
    registrar.add("mfcc", audio.Mfcc, example={"n_mfcc": 13, "n_mels": 40})
    registrar.add("normalize", audio.AudioNormalize, example={"mode": "auto"})
    registrar.add(
        "spec_augment",
        audio.SpecAugment,
        example={"time_masks": 2, "time_mask_max": 10, "freq_masks": 2, "freq_mask_max": 8},
    )
    registrar.add("add_noise", audio.AddNoise, example={"snr_db": [5.0, 20.0], "noise": "pink"})
    registrar.add("gain", audio.Gain, example={"min_db": -6.0, "max_db": 6.0})
    # image: (C, H, W) in [0, 1]
    registrar.add("resize", image.Resize, example={"size": 32})
    registrar.add("center_crop", image.CenterCrop, example={"size": 32})
    registrar.add("random_resized_crop", image.RandomResizedCrop, example={"size": [32, 24]})
    registrar.add("horizontal_flip", image.HorizontalFlip, example={"p": 0.5})
    registrar.add("rand_augment", image.RandAugment, example={"num_ops": 2, "magnitude": 9})
    registrar.add("image_normalize", image.ImageNormalize, example={})
    # text: str -> tokens (T,)
    registrar.add("tokenize", text.Tokenize, example={"tokenizer": "wordpiece", "vocab_size": 200})
