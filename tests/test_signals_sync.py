"""Training-free sync estimator on the real clips: known shifts recovered, own audio beats a stranger's."""

from __future__ import annotations

import numpy as np
import pytest

from tqscore.media import load_audio
from tqscore.signals.geometry import LIP_PAIRS
from tqscore.signals.sync import (SyncConfig, _windows, estimate_sync, first_canonical_correlations, open_loudness_corr,
                                  sync_score)

from conftest import MEDIA, REAL_CLIPS

FRONTAL_REAL = [p for p in REAL_CLIPS if p.name.startswith("WDA_")]


def shifted(audio: np.ndarray, k: int) -> np.ndarray:
    """Audio delayed by k frames of 25 fps (k > 0: the sound comes later), same length."""
    n = k * 640
    return np.concatenate([np.zeros(n, np.float32), audio])[: len(audio)] if n >= 0 else np.concatenate(
        [audio[-n:], np.zeros(-n, np.float32)])


def estimate(fe, audio):
    clip = fe.clip
    return estimate_sync(fe.landmarks, fe.face_found, clip.frame_times, audio, fps=25.0,
                         aspect=clip.info.width / clip.info.height)


@pytest.fixture(scope="module")
def frontends(frontend_of):
    assert len(FRONTAL_REAL) >= 2
    return {p.name: frontend_of(p) for p in FRONTAL_REAL}


@pytest.mark.parametrize("k", [-4, 4])
def test_recovers_a_known_shift_on_real_clips(frontends, k):
    for name, fe in frontends.items():
        base = estimate(fe, fe.clip.audio).offset_frames
        moved = estimate(fe, shifted(fe.clip.audio, k)).offset_frames
        assert abs(moved - base - k) <= 1, (name, base, moved)


def test_confidence_is_higher_with_own_audio_than_with_another_utterance(frontends):
    fe = frontends["WDA_AlexandriaOcasioCortez_000.mp4"]
    own = estimate(fe, fe.clip.audio)
    for wav in ("RD_Radio31_000.wav", "demo1_audio.wav"):
        other = np.resize(load_audio(MEDIA / "audio" / wav)[0], len(fe.clip.audio)).astype(np.float32)
        assert own.confidence > estimate(fe, other).confidence, wav
    assert 0.0 < own.confidence < 1.0
    assert own.curve.shape == (31,)


def test_no_basis_gives_none(frontends):
    fe = next(iter(frontends.values()))
    clip = fe.clip
    assert estimate_sync(fe.landmarks, fe.face_found, clip.frame_times, np.zeros(0, np.float32)) is None
    assert estimate_sync(fe.landmarks, fe.face_found, clip.frame_times, np.zeros_like(clip.audio)) is None
    no_face = np.zeros_like(fe.face_found)
    assert estimate_sync(fe.landmarks, no_face, clip.frame_times, clip.audio) is None
    # under 3 s of face: another utterance scores as well as the clip's own audio, so no estimate
    short = clip.frame_times < 2.5
    assert estimate_sync(fe.landmarks[short], fe.face_found[short], clip.frame_times[short],
                         clip.audio[: int(2.5 * 16000)]) is None


@pytest.mark.parametrize("seconds", [2.0, 3.0, 4.0, 5.0, 5.48, 20.0])
def test_windows_read_every_frame(seconds):
    """Every frame is in a window, windows start at most ``hop_s`` apart and span at most
    ``window_s``; a clip no longer than one window is one window. (The former windows, 4 s every
    1 s from the start, left the last second of a 5-s clip unread.)"""
    cfg = SyncConfig()
    times = np.arange(round(seconds * 25)) / 25.0
    masks = _windows(times, 25.0, cfg)
    assert np.any(masks, axis=0).all()
    if seconds <= cfg.window_s:
        assert len(masks) == 1
        return
    starts = np.array([times[m][0] for m in masks])
    assert starts[0] == times[0] and np.diff(starts).max() <= cfg.hop_s + 1 / 25.0 + 1e-9  # frame-quantised
    assert all(times[m][-1] + 1 / 25.0 - times[m][0] <= cfg.window_s + 1e-9 for m in masks)
    assert masks[-1][-1]


def test_sync_score_is_the_spec_sigmoid():
    assert sync_score(0.15) == pytest.approx(2.5)  # c_norm = 0.5
    assert sync_score(0.30) == pytest.approx(5 / (1 + np.exp(-5)))
    assert sync_score(0.0) == pytest.approx(5 / (1 + np.exp(5)))
    assert sync_score(-1.0) == sync_score(0.0) and sync_score(9.0) == sync_score(0.30)
    assert sync_score(0.1) < sync_score(0.2)


def test_batched_canonical_correlation_matches_the_eigenvalue_form():
    """Each offset's value is sqrt of the top eigenvalue of Cxx^-1 Cxy Cyy^-1 Cyx (ridge on both
    diagonals), computed one offset at a time; a y that is x plus noise correlates more."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    ys = np.stack([rng.normal(size=(100, 6)), np.c_[x, rng.normal(size=(100, 3))] + rng.normal(size=(100, 6))])
    got = first_canonical_correlations(x, ys, 0.1)
    for y, value in zip(ys, got):
        zx, zy = ((a - a.mean(0)) / a.std(0) for a in (x, y))
        cxx, cyy, cxy = zx.T @ zx / 100 + 0.1 * np.eye(3), zy.T @ zy / 100 + 0.1 * np.eye(6), zx.T @ zy / 100
        top = np.linalg.eigvals(np.linalg.solve(cxx, cxy) @ np.linalg.solve(cyy, cxy.T)).real.max()
        assert value == pytest.approx(np.sqrt(top), rel=1e-6)
    assert got[1] > got[0] + 0.3


def _syllables(n_frames: int, rng) -> np.ndarray:
    """A 0..1 syllable envelope per 25-fps frame: bursts of 3-6 frames at random 4-8-frame gaps."""
    env = np.zeros(n_frames)
    t = 0
    while t < n_frames:
        length = int(rng.integers(3, 7))
        env[t : t + length] = np.sin(np.linspace(0, np.pi, length + 2)[1:-1])[: n_frames - t]
        t += length + int(rng.integers(4, 9))
    return env


def test_open_loudness_corr_follows_syllable_onsets():
    """A mouth that opens with each syllable of its audio agrees with it and not with another
    utterance's syllables; a mouth that never moves gives no value."""
    rng = np.random.default_rng(1)
    n = 250
    times = np.arange(n) / 25.0
    env = _syllables(n, rng)
    lm = np.zeros((n, 468, 3), np.float32)
    lm[:, :, :2] = 0.5
    lm[:, 33, 0], lm[:, 263, 0] = 0.4, 0.6
    for upper, lower in LIP_PAIRS:
        lm[:, lower, 1] = 0.5 + 0.002 + 0.03 * env
    found, speech = np.ones(n, bool), np.ones(n, bool)

    def voiced(envelope):  # noise whose loudness follows the envelope, frame by frame
        gain = np.repeat(envelope, 640) + 1e-3
        return (0.3 * gain * rng.standard_normal(n * 640)).astype(np.float32)

    own = open_loudness_corr(lm, found, times, voiced(env), speech, 0)
    other = open_loudness_corr(lm, found, times, voiced(_syllables(n, rng)), speech, 0)
    assert own > 0.6 and abs(other) < 0.25
    still = np.repeat(lm[:1], n, 0)
    assert open_loudness_corr(still, found, times, voiced(env), speech, 0) is None


def test_confidence_from_under_min_span_of_speech_is_no_lip_sync_evidence():
    """The reference scorer reads sync_confidence only from at least ``min_span_s`` of speech, the
    span below which own and foreign audio score alike; from more, a weak confidence costs points."""
    from tqscore.model.reference import MIN_CONFIDENCE_SPEECH_S, ReferenceScorer
    from tqscore.signals.reference import Band

    assert MIN_CONFIDENCE_SPEECH_S == SyncConfig().min_span_s
    scorer = ReferenceScorer(band=lambda n: Band(-3, 4, 1, 5) if n == "sync_offset_frames" else Band(0.1, 0.3, 0.2, 5))
    row = {"face_present_ratio": 1.0, "has_audio": True, "speech_ratio": 0.1, "sync_offset_frames": 1,
           "mouth_motion_speech": 0.2}

    def lip(speech_s, confidence):
        return scorer.score({**row, "speech_s": speech_s, "sync_confidence": confidence}).values["lip_sync"]

    assert lip(0.7, 0.02) == lip(0.7, 0.2) == lip(0.7, None)
    assert lip(3.0, 0.02) < lip(3.0, 0.2)
