"""ResNet / HuBERT loaded by path (tiny random configs), audio alignment, and load errors."""

from __future__ import annotations

import numpy as np
import pytest

from tqscore.features.backbones import (
    HUBERT_FIELD,
    HUBERT_STRIDE,
    AudioBackbone,
    BackboneLoadError,
    VisualBackbone,
    hubert_windows,
    interpolate_steps,
    step_times,
)
from tqscore.layout import SAMPLE_RATE


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)


@pytest.fixture(scope="module")
def speech():
    t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)


def test_visual_backbone_by_path_shape_and_determinism(tiny_resnet_dir, images):
    backbone = VisualBackbone(str(tiny_resnet_dir), batch_size=2)
    first = backbone(images)
    assert first.shape == (3, 2048) and first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(first, backbone(images))
    # Batching must not change a crop's features (eval-mode batch norm).
    np.testing.assert_allclose(VisualBackbone(str(tiny_resnet_dir), batch_size=64)(images), first, rtol=1e-4, atol=1e-5)


def test_audio_backbone_by_path_shape_and_determinism(tiny_hubert_dir, speech):
    backbone = AudioBackbone(str(tiny_hubert_dir))
    times = np.arange(60) / 25.0
    first = backbone.at_times(speech, times)
    assert first.shape == (60, 768) and first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(first, AudioBackbone(str(tiny_hubert_dir)).at_times(speech, times))


def test_hubert_windows_keep_the_20ms_grid(tiny_hubert_dir, speech):
    whole = AudioBackbone(str(tiny_hubert_dir), window_s=30.0).hidden_states(speech)
    windowed = AudioBackbone(str(tiny_hubert_dir), window_s=1.0).hidden_states(speech)
    assert len(whole) == (len(speech) - HUBERT_FIELD) // HUBERT_STRIDE + 1 == len(windowed)
    # Away from window edges the two agree closely (the tiny model sees +-8 steps of context).
    np.testing.assert_allclose(windowed[15:35], whole[15:35], atol=5e-2)


def test_long_audio_windows_tile_the_track_on_one_grid():
    audio = np.arange(65 * SAMPLE_RATE, dtype=np.float32)
    windows = hubert_windows(audio, np.array([0.0, 70.0]), normalize=False, window_s=30.0)
    window = 30 * SAMPLE_RATE
    assert [len(w) for w in windows] == [window + 80, window + 80, int(np.ceil(70.04 * SAMPLE_RATE)) - 2 * window]
    assert windows[1][0] == window and windows[2][0] == 2 * window  # each starts on the 320-sample grid
    assert windows[2][-1] == 0  # silence appended up to the last frame time
    steps = sum((len(w) - HUBERT_FIELD) // HUBERT_STRIDE + 1 for w in windows)
    padded = len(np.concatenate([windows[0][:window], windows[1][:window], windows[2]]))
    assert steps == (padded - HUBERT_FIELD) // HUBERT_STRIDE + 1


def test_interpolation_is_linear_between_step_centres():
    hidden = np.stack([np.arange(10.0), 2 * np.arange(10.0)], axis=1)
    centres = step_times(10)
    assert centres[1] - centres[0] == pytest.approx(0.02)
    times = np.array([centres[3], (centres[3] + centres[4]) / 2, centres[0] - 1.0, centres[-1] + 1.0])
    out = interpolate_steps(hidden, times)
    np.testing.assert_allclose(out[:, 0], [3.0, 3.5, 0.0, 9.0], atol=1e-6)
    np.testing.assert_allclose(out[:, 1], 2 * out[:, 0], atol=1e-6)


def test_frames_after_short_audio_see_silence_not_the_last_step(tiny_hubert_dir, speech):
    backbone = AudioBackbone(str(tiny_hubert_dir))
    late = backbone.at_times(speech, np.array([2.4, 5.0, 6.0]))  # the audio is 2.5 s long
    # 5 s and 6 s both lie deep in the zero padding: the same silence vector, not a clamped
    # copy of the speech near the end.
    np.testing.assert_allclose(late[1], late[2], atol=2e-3)
    assert np.abs(late[1] - late[0]).max() > 1e-2


def test_missing_local_folder_names_it(tmp_path):
    with pytest.raises(BackboneLoadError, match="no model folder at .*nowhere.*--resnet"):
        VisualBackbone(str(tmp_path / "nowhere"))


def test_unreachable_hub_says_to_pass_a_local_folder(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as on a machine without access
    with pytest.raises(BackboneLoadError) as info:
        AudioBackbone("facebook/hubert-base-ls960")
    message = str(info.value)
    assert "facebook/hubert-base-ls960" in message and "--hubert" in message
    assert "hf download facebook/hubert-base-ls960 --revision refs/pr/2" in message


def test_pickled_weights_are_never_loaded(tmp_path, tiny_resnet_dir):
    import shutil

    shutil.copy(tiny_resnet_dir / "config.json", tmp_path / "config.json")
    (tmp_path / "pytorch_model.bin").write_bytes(b"a pickle tqscore must not open")
    with pytest.raises(BackboneLoadError, match="only pickled weights .*never loads.*--revision refs/pr/2"):
        VisualBackbone(str(tmp_path))


def test_wrong_width_model_is_refused(tmp_path):
    import torch
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 8, 16], depths=[1, 1, 1, 1])).save_pretrained(tmp_path)
    with pytest.raises(BackboneLoadError, match="16-d features; the layout needs 2048"):
        VisualBackbone(str(tmp_path))


def test_cuda_without_cuda_is_a_clear_error(tiny_resnet_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackboneLoadError, match="no CUDA device"):
        VisualBackbone(str(tiny_resnet_dir), device="cuda")
