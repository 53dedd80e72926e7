"""Audio transforms: what they compute, not only the shapes."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio

from mmzoo.contracts import ModalitySpec
from mmzoo.data.transforms.audio import (
    AddNoise,
    AudioNormalize,
    Frame,
    Gain,
    LogMel,
    Mfcc,
    PreEmphasis,
    Resample,
    SpecAugment,
)

RATE = 16000
WAVE = ModalitySpec(kind="waveform", sample_rate=float(RATE))
FEATURES = ModalitySpec(kind="features", feature_dim=40, sample_rate=100.0)


def tone(freq: float, seconds: float = 0.5, rate: int = RATE, amplitude: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float()


def noisy_tone(freq: float = 440.0, seed: int = 0) -> torch.Tensor:
    noise = torch.randn(RATE // 2, generator=torch.Generator().manual_seed(seed))
    return tone(freq) + 0.05 * noise


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def peak_frequency(wave: torch.Tensor, rate: float) -> float:
    spectrum = torch.fft.rfft(wave.double()).abs()
    return float(spectrum.argmax()) * rate / wave.shape[0]


def db(ratio: torch.Tensor | float) -> float:
    return 10 * math.log10(float(ratio))


# -- resample ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [8000, 22050])
def test_resample_changes_length_by_the_ratio_and_keeps_the_tone(target):
    transform = Resample(sample_rate=target)
    spec = transform.setup(WAVE)
    assert spec.kind == "waveform" and spec.sample_rate == target
    wave = tone(1000.0)
    out = transform(wave, gen())
    assert out.shape == (math.ceil(wave.shape[0] * target / RATE),)
    assert abs(peak_frequency(out, target) - 1000.0) <= 2 * target / out.shape[0]
    # amplitude survives (the tone is far below both Nyquist frequencies)
    assert out[200:-200].abs().max() == pytest.approx(0.5, abs=0.02)


def test_resample_to_the_same_rate_is_the_identity_and_needs_a_rate():
    transform = Resample(sample_rate=RATE)
    transform.setup(WAVE)
    wave = noisy_tone()
    assert torch.equal(transform(wave, gen()), wave)
    with pytest.raises(ValueError, match="resample needs the waveform's sample_rate"):
        Resample(8000).setup(ModalitySpec(kind="waveform"))


# -- pre-emphasis --------------------------------------------------------------------------------


def test_pre_emphasis_formula():
    transform = PreEmphasis(coefficient=0.9)
    assert transform.setup(WAVE) == WAVE
    wave = noisy_tone()
    out = transform(wave, gen())
    assert out[0] == wave[0]
    torch.testing.assert_close(out[1:], wave[1:] - 0.9 * wave[:-1])
    # a high-pass filter: low tones lose more than high tones
    low, high = tone(100.0), tone(6000.0)
    assert transform(low, gen()).pow(2).mean() < 0.1 * low.pow(2).mean()
    assert transform(high, gen()).pow(2).mean() > low.pow(2).mean()


# -- frame ---------------------------------------------------------------------------------------


def test_frame_cuts_windowed_frames_at_the_hop():
    transform = Frame(frame_ms=25.0, hop_ms=10.0, window="hann")
    spec = transform.setup(WAVE)
    assert spec.kind == "features" and spec.feature_dim == 400 and spec.sample_rate == pytest.approx(100.0)
    wave = noisy_tone()
    out = transform(wave, gen())
    assert out.shape == (1 + math.ceil((8000 - 400) / 160), 400)
    window = torch.hann_window(400)
    torch.testing.assert_close(out[3], wave[480:880] * window)
    # the last frame is zero-padded past the end
    last_start = (out.shape[0] - 1) * 160
    torch.testing.assert_close(out[-1, : 8000 - last_start], wave[last_start:] * window[: 8000 - last_start])
    assert out[-1, 8000 - last_start :].abs().max() == 0


def test_frame_rectangular_and_short_inputs():
    transform = Frame(frame_ms=2.0, hop_ms=1.0, window="rectangular")
    transform.setup(WAVE)
    wave = torch.arange(100, dtype=torch.float32)
    out = transform(wave, gen())
    assert out.shape == (1 + math.ceil((100 - 32) / 16), 32)
    assert torch.equal(out[2], wave[32:64])
    short = transform(torch.ones(5), gen())
    assert short.shape == (1, 32) and short[0, :5].eq(1).all() and short[0, 5:].eq(0).all()


# -- log-mel and MFCC ----------------------------------------------------------------------------


def test_log_mel_of_a_tone_peaks_in_its_band():
    transform = LogMel(n_mels=40, n_fft=400)
    spec = transform.setup(WAVE)
    assert spec == ModalitySpec(kind="features", feature_dim=40, sample_rate=100.0)
    out = transform(tone(1000.0), gen())
    assert out.shape == (1 + 8000 // 160, 40)
    fbanks = torchaudio.functional.melscale_fbanks(201, 0.0, RATE / 2, 40, RATE)  # (freqs, n_mels)
    band_of_1khz = int(fbanks[round(1000 / (RATE / 400))].argmax())
    assert int(out.mean(dim=0).argmax()) == band_of_1khz
    other = transform(tone(3000.0), gen())
    assert int(other.mean(dim=0).argmax()) > band_of_1khz + 5


def test_log_mel_is_the_log_of_power():
    transform = LogMel(n_mels=32)
    transform.setup(WAVE)
    wave = noisy_tone()
    louder = transform(2 * wave, gen()) - transform(wave, gen())
    torch.testing.assert_close(louder, torch.full_like(louder, math.log(4.0)), atol=1e-3, rtol=0)


def test_log_mel_options_are_checked():
    with pytest.raises(ValueError, match="longer than n_fft"):
        LogMel(n_fft=256, win_ms=25.0).setup(WAVE)
    with pytest.raises(ValueError, match="Nyquist"):
        LogMel(f_max=9000.0).setup(WAVE)
    with pytest.raises(ValueError, match="f_max"):
        LogMel(f_min=500.0, f_max=100.0)
    assert LogMel(hop_ms=20.0).setup(WAVE).sample_rate == pytest.approx(50.0)
    assert LogMel(n_mels=8).setup(ModalitySpec(kind="waveform", sample_rate=8000.0)).feature_dim == 8


def test_log_mel_pads_very_short_waveforms():
    transform = LogMel(n_mels=16)
    transform.setup(WAVE)
    out = transform(torch.zeros(10), gen())
    assert out.shape[1] == 16 and out.shape[0] >= 1 and torch.isfinite(out).all()


def test_mfcc_coefficient_zero_carries_the_level():
    transform = Mfcc(n_mfcc=13, n_mels=40)
    spec = transform.setup(WAVE)
    assert spec.kind == "features" and spec.feature_dim == 13 and spec.sample_rate == pytest.approx(100.0)
    wave = noisy_tone()
    quiet, loud = transform(wave, gen()), transform(2 * wave, gen())
    assert quiet.shape == (51, 13)
    # +6.02 dB in every mel band moves only c0, by 6.02 * sqrt(n_mels) with the orthonormal DCT
    shift = loud - quiet
    torch.testing.assert_close(
        shift[:, 0], torch.full_like(shift[:, 0], 20 * math.log10(2) * math.sqrt(40)), atol=0.01, rtol=0
    )
    assert shift[:, 1:].abs().max() < 1e-2
    with pytest.raises(ValueError, match="n_mfcc"):
        Mfcc(n_mfcc=50, n_mels=40)


# -- normalize -----------------------------------------------------------------------------------


def test_normalize_features_to_zero_mean_unit_variance():
    transform = AudioNormalize()
    assert transform.setup(FEATURES) == FEATURES
    features = 3.0 + 5.0 * torch.randn(50, 40, generator=gen())
    features[:, 7] = 2.5  # a constant column becomes zeros
    out = transform(features, gen())
    columns = torch.cat([torch.arange(7), torch.arange(8, 40)])
    torch.testing.assert_close(out[:, columns].mean(dim=0), torch.zeros(39), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, columns].std(dim=0, unbiased=False), torch.ones(39), atol=1e-5, rtol=0)
    assert out[:, 7].eq(0).all()


def test_normalize_waveform_peak_and_rms():
    wave = noisy_tone()
    peak = AudioNormalize()
    peak.setup(WAVE)
    assert peak(wave, gen()).abs().max() == pytest.approx(1.0)
    rms = AudioNormalize(mode="rms", target_db=-20.0)
    rms.setup(WAVE)
    out = rms(wave, gen())
    assert out.pow(2).mean().sqrt() == pytest.approx(0.1, rel=1e-5)
    torch.testing.assert_close(out / out.abs().max(), wave / wave.abs().max())  # only scaled
    assert rms(torch.zeros(100), gen()).eq(0).all()
    mean_var = AudioNormalize(mode="mean_var")
    mean_var.setup(WAVE)
    out = mean_var(wave + 1.0, gen())
    assert abs(float(out.mean())) < 1e-5 and float(out.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)


def test_normalize_rejects_waveform_modes_on_features_and_images():
    with pytest.raises(ValueError, match="mode 'peak' is for waveforms"):
        AudioNormalize(mode="peak").setup(FEATURES)
    with pytest.raises(ValueError, match="image_normalize"):
        AudioNormalize().setup(ModalitySpec(kind="image", channels=3))


# -- spec_augment --------------------------------------------------------------------------------


def test_spec_augment_zeroes_exactly_the_drawn_masks():
    transform = SpecAugment(time_masks=2, time_mask_max=10, freq_masks=2, freq_mask_max=8)
    assert transform.random and transform.setup(FEATURES) == FEATURES
    features = 1.0 + torch.rand(60, 40, generator=gen(1))  # no zeros of its own
    for seed in range(10):
        out = transform(features, gen(seed))
        time, freq = transform.draw_masks(60, 40, gen(seed))
        expected = torch.zeros(60, 40, dtype=torch.bool)
        for start, end in time:
            assert 0 <= start <= end <= 60 and end - start <= 10
            expected[start:end, :] = True
        for start, end in freq:
            assert 0 <= start <= end <= 40 and end - start <= 8
            expected[:, start:end] = True
        assert torch.equal(out == 0, expected)
        assert torch.equal(out[~expected], features[~expected])
        assert torch.equal(transform(features, gen(seed)), out)
    outputs = {tuple((transform(features, gen(s)) == 0).flatten().tolist()) for s in range(10)}
    assert len(outputs) > 5
    assert features.min() >= 1.0  # the input is untouched


def test_spec_augment_mean_fill_and_short_inputs():
    transform = SpecAugment(time_masks=1, time_mask_max=100, freq_masks=0, fill="mean")
    transform.setup(FEATURES)
    features = torch.rand(5, 40, generator=gen()) + 1.0
    for seed in range(5):
        out = transform(features, gen(seed))
        (start, end), *_ = transform.draw_masks(5, 40, gen(seed))[0]
        assert end <= 5
        torch.testing.assert_close(out[start:end], torch.full((end - start, 40), float(features.mean())))


# -- add_noise and gain --------------------------------------------------------------------------


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_add_noise_realizes_the_drawn_snr(colour):
    transform = AddNoise(snr_db=[0.0, 20.0], noise=colour)
    assert transform.random and transform.setup(WAVE) == WAVE
    wave = noisy_tone()
    drawn = []
    for seed in range(8):
        out = transform(wave, gen(seed))
        snr = transform.draw_snr(gen(seed))
        realized = db(wave.double().pow(2).sum() / (out.double() - wave.double()).pow(2).sum())
        assert 0.0 <= snr <= 20.0
        assert abs(realized - snr) < 0.1
        drawn.append(snr)
    assert max(drawn) - min(drawn) > 5.0


def test_pink_noise_has_more_power_at_low_frequencies():
    transform = AddNoise(noise="pink")
    noise = transform.make_noise(RATE, gen())
    power = torch.fft.rfft(noise.double()).abs().pow(2)  # 1 Hz bins
    low, high = power[100:200].mean(), power[4000:8000].mean()
    assert 10 < low / high < 100  # about 1/f: 6000 Hz / 150 Hz = 40
    white = AddNoise(noise="white").make_noise(RATE, gen())
    white_power = torch.fft.rfft(white.double()).abs().pow(2)
    assert 0.5 < white_power[100:200].mean() / white_power[4000:8000].mean() < 2


def test_add_noise_leaves_silence_alone_and_checks_its_range():
    transform = AddNoise()
    transform.setup(WAVE)
    assert transform(torch.zeros(100), gen()).eq(0).all()
    with pytest.raises(ValueError, match="snr_db"):
        AddNoise(snr_db=[20.0, 5.0])


def test_gain_changes_rms_by_the_drawn_db():
    transform = Gain(min_db=-10.0, max_db=10.0)
    assert transform.random and transform.setup(WAVE) == WAVE
    wave = noisy_tone()
    gains = []
    for seed in range(8):
        out = transform(wave, gen(seed))
        gain = transform.draw_gain_db(gen(seed))
        assert -10.0 <= gain <= 10.0
        assert 2 * db(out.pow(2).mean().sqrt() / wave.pow(2).mean().sqrt()) == pytest.approx(gain, abs=1e-3)
        gains.append(gain)
    assert max(gains) - min(gains) > 5.0
    with pytest.raises(ValueError, match="min_db"):
        Gain(min_db=3.0, max_db=1.0)


# -- contract details ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "transform",
    [Resample(8000), PreEmphasis(), Frame(), LogMel(), Mfcc(), AddNoise(), Gain()],
    ids=lambda t: t.name,
)
@pytest.mark.parametrize("kind", ["features", "text", "image"])
def test_waveform_transforms_reject_other_inputs(transform, kind):
    with pytest.raises(ValueError, match=rf"^{transform.name} expects a 'waveform' input .*got '{kind}'"):
        transform.setup(ModalitySpec(kind=kind, feature_dim=4, sample_rate=100.0))


def test_feature_transforms_reject_other_inputs():
    with pytest.raises(ValueError, match="spec_augment expects a 'features' input.*log_mel.*got 'waveform'"):
        SpecAugment().setup(WAVE)
    with pytest.raises(ValueError, match="normalize expects a 'features' or 'waveform' input, got 'text'"):
        AudioNormalize().setup(ModalitySpec(kind="text"))


def test_augmentations_leave_the_global_rng_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    features = torch.randn(30, 40, generator=gen())
    for transform, value in [(AddNoise(), noisy_tone()), (Gain(), noisy_tone()), (SpecAugment(), features)]:
        transform.setup(WAVE if value.dim() == 1 else FEATURES)
        transform(value, gen(5))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("transform", [Resample(8000), Frame(), LogMel(), Mfcc()], ids=lambda t: t.name)
def test_cache_key_follows_the_input_sample_rate(transform):
    transform.setup(WAVE)
    at_16k = transform.cache_key()
    transform.setup(ModalitySpec(kind="waveform", sample_rate=8000.0))
    assert transform.cache_key() != at_16k
    transform.setup(WAVE)
    assert transform.cache_key() == at_16k
    assert type(transform)().cache_key() != at_16k  # other options, other key
