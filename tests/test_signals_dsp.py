"""MFCC and mel front ends against their reference packages (python_speech_features, librosa).

The golden numbers were computed with python_speech_features 0.6 and librosa 0.11 on the shared
speech file; both packages are in the ``dev`` extra, so CI also compares every value live.
"""

from __future__ import annotations

import numpy as np
import pytest

from tqscore.media import load_audio
from tqscore.signals.dsp import band_energy_track, melspectrogram_db, mfcc, speech_frames

from conftest import MEDIA

# python_speech_features.mfcc(RD_Radio31_000 mono * 32768, 16000), rows 0, 100, 400.
PSF_ROWS = {
    0: [12.925703, -17.666071, 6.492563, -22.182094, 20.817214, -14.802419, 3.744381, -15.371285,
        -4.491665, -14.721881, -9.549448, -3.966169, -18.167793],
    100: [21.177287, -32.833747, -3.017654, 1.886527, -5.538446, 2.466141, -21.99505, 10.626194,
          4.016937, -7.648698, 11.165358, 11.044044, 4.346068],
    400: [18.415827, 0.661781, -1.424719, 3.880422, 9.909822, -26.384082, -30.369958, -16.594728,
          -15.089217, 8.105081, 1.018483, -0.394004, -11.41398],
}
# (librosa.power_to_db(melspectrogram(first 1 s, n_fft=321, hop=160, n_mels=120), ref=max) + 40) / 40,
# frame 50, every 20th band.
LIBROSA_MEL_ROW50 = [-0.993612, -0.466889, -0.483614, -0.129058, -0.223042, -0.218891]


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    audio, has_audio = load_audio(MEDIA / "audio" / "RD_Radio31_000.wav")
    assert has_audio
    return audio


def test_mfcc_matches_python_speech_features(speech):
    ours = mfcc(speech.astype(np.float64) * 32768)
    assert ours.shape == (799, 13)
    for row, values in PSF_ROWS.items():
        np.testing.assert_allclose(ours[row], values, atol=1e-4)


def test_mfcc_matches_python_speech_features_live(speech):
    psf = pytest.importorskip("python_speech_features")
    ours = mfcc(speech.astype(np.float64) * 32768)
    np.testing.assert_allclose(ours, psf.mfcc(speech.astype(np.float64) * 32768, 16000), atol=1e-3)


def test_mel_matches_librosa(speech):
    seg = speech[:16000]
    ours = melspectrogram_db(seg)
    assert ours.shape == (100, 120)
    np.testing.assert_allclose(ours[50, ::20], LIBROSA_MEL_ROW50, atol=1e-4)


def test_mel_matches_librosa_live(speech):
    import librosa  # the dev extra's: a missing install fails here rather than skipping
    seg = speech[:16000]
    ours = melspectrogram_db(seg)
    ref = librosa.feature.melspectrogram(y=seg, sr=16000, n_fft=321, hop_length=160, n_mels=120)
    np.testing.assert_allclose(ours, ((librosa.power_to_db(ref, ref=np.max) + 40) / 40).T, atol=1e-4)


def test_band_energy_is_mean_square_power_of_the_band():
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    _, energy = band_energy_track(tone, ((800, 1200), (2000, 3000)))
    middle = energy[50:-50]
    np.testing.assert_allclose(middle[:, 0], 0.125, rtol=0.02)  # 0.5^2 / 2
    assert middle[:, 1].max() < 1e-4


def test_speech_frames_follow_the_talking(speech):
    times = np.arange(200) / 25.0
    audio = speech.copy()
    audio[: 3 * 16000] = 0.0  # first 3 s silent
    mask = speech_frames(audio, times, 25.0)
    assert not mask[:70].any()
    assert mask[80:].mean() > 0.6
