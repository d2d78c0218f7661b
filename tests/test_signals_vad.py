"""Silero VAD: speech on the shared speech, none on synthesised music, noise and silence; the
segment rules on hand-built probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from tqscore.testing import sounds
from tqscore.media import load_audio
from tqscore.signals.dsp import speech_frames
from tqscore.signals.vad import CHUNK, SileroVad, frame_mask, segments_from_probabilities, speech_seconds

from conftest import MEDIA

SECONDS = 6.0
FPS = 25.0


@pytest.fixture(scope="module")
def vad():
    return SileroVad()


@pytest.fixture(scope="module")
def speech():
    return {wav: load_audio(MEDIA / "audio" / wav)[0] for wav in ("RD_Radio31_000.wav", "demo1_audio.wav")}


def ratio(vad, audio) -> float:
    times = np.arange(int(len(audio) / 16000 * FPS)) / FPS
    return float(frame_mask(vad.segments(audio), times, FPS).mean())


def test_speech_is_speech_even_with_noise(vad, speech):
    for wav, audio in speech.items():
        assert ratio(vad, audio) > 0.8, wav
        assert ratio(vad, sounds.mix(audio, sounds.white(SECONDS), 10)) > 0.8, wav


@pytest.mark.parametrize("make", [
    lambda: sounds.chords(SECONDS), lambda: sounds.organ(SECONDS), lambda: sounds.white(SECONDS),
    lambda: sounds.coloured(SECONDS, 1), lambda: sounds.coloured(SECONDS, 2),
    lambda: np.zeros(int(SECONDS * 16000), np.float32),
], ids=["chords", "organ", "white", "pink", "brown", "silence"])
def test_music_noise_and_silence_are_not_speech(vad, make):
    audio = make()
    assert ratio(vad, audio) < 0.05
    if audio.any():  # the energy detector it replaces calls all of them speech
        times = np.arange(int(SECONDS * FPS)) / FPS
        assert speech_frames(audio, times, FPS).mean() > 0.9


def test_segments_follow_silero_rules():
    step = CHUNK / 16000  # 32 ms
    probs = np.zeros(100)
    probs[10:30] = 0.9  # 640 ms of speech
    probs[30:32] = 0.4  # above the 0.35 end threshold: still speech
    probs[34:40] = 0.9  # a 64-ms pause (< 100 ms) is closed
    probs[60:65] = 0.9  # 160 ms (< 250 ms): dropped
    segs = segments_from_probabilities(probs, 100 * step)
    np.testing.assert_allclose(segs, [[10 * step - 0.03, 40 * step + 0.03]])
    assert speech_seconds(segs) == pytest.approx(30 * step + 0.06)
    assert segments_from_probabilities(np.zeros(50), 50 * step).shape == (0, 2)
    assert speech_seconds(np.zeros((0, 2))) == 0.0


def test_frame_mask_uses_frame_centres():
    mask = frame_mask(np.array([[0.10, 0.30]]), np.arange(10) / 25.0, 25.0)
    # centres 0.02, 0.06, ..., 0.38: inside [0.10, 0.30) are 0.10 .. 0.26
    assert mask.tolist() == [False, False, True, True, True, True, True, False, False, False]
