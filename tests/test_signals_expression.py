"""Expression dynamics on a real face made to blink, raise its brows and move its mouth."""

from __future__ import annotations

import numpy as np
import pytest
from tqscore.testing.real_face import real_face

from tqscore.signals.expression import EXPRESSION_COLUMNS, EYE_LEFT, EYE_RIGHT, expression_signals

FPS = 25.0
UPPER_LIDS = (EYE_RIGHT[1], EYE_RIGHT[2], EYE_LEFT[1], EYE_LEFT[2])
LOWER_LIDS = (EYE_RIGHT[5], EYE_RIGHT[4], EYE_LEFT[5], EYE_LEFT[4])
LOWER_INNER_LIP = (87, 14, 317, 178, 402)
BROWS = (70, 63, 105, 66, 107, 300, 293, 334, 296, 336)


def _still(n: int) -> tuple[np.ndarray, float]:
    frames, landmarks, found, _ = real_face()
    assert found[0]
    return np.repeat(landmarks[:1], n, 0).copy(), frames.shape[2] / frames.shape[1]


def _close_eyes(lm: np.ndarray, frames: np.ndarray, share: float) -> None:
    """Move the upper lids ``share`` of the way down to the lower lids on ``frames``."""
    for up, low in zip(UPPER_LIDS, LOWER_LIDS):
        lm[frames, up, 1] += share * (lm[frames, low, 1] - lm[frames, up, 1])


def test_blink_count_per_minute():
    n = 500  # 20 s at 25 fps
    lm, aspect = _still(n)
    starts = [40, 120, 200, 290, 360, 440]
    for s in starts:  # 4-frame blinks (160 ms), the lids 60 % closed at the deepest frame
        for k, share in enumerate((0.3, 0.6, 0.6, 0.3)):
            _close_eyes(lm, np.array([s + k]), share)
    rng = np.random.default_rng(0)
    lm[..., :2] += rng.normal(0, 0.0002, lm[..., :2].shape).astype(np.float32)  # ~0.2 % of the IOD
    row = expression_signals(lm, np.ones(n, bool), np.arange(n) / FPS, aspect, None)
    assert row["blink_rate_per_min"] == pytest.approx(len(starts) * 3.0)  # 6 blinks in 1/3 min
    assert row["mouth_motion_silence"] is None  # no audio
    # eyes closed halfway only (EAR still above 80 % of open) are not blinks
    shallow, _ = _still(n)
    _close_eyes(shallow, np.array(starts), 0.1)
    assert expression_signals(shallow, np.ones(n, bool), np.arange(n) / FPS, aspect, None)["blink_rate_per_min"] == 0


def test_still_face_has_no_brow_motion_or_variability():
    n = 100
    lm, aspect = _still(n)
    speech = np.zeros(n, bool)
    row = expression_signals(lm, np.ones(n, bool), np.arange(n) / FPS, aspect, speech)
    assert row["brow_motion"] == pytest.approx(0, abs=1e-9)
    assert row["expression_variability"] == pytest.approx(0, abs=1e-9)
    assert row["mouth_motion_silence"] == pytest.approx(0, abs=1e-9)
    assert row["mouth_open_range"] == pytest.approx(0, abs=1e-9)
    # brows raised and lowered by 0.05 IOD at 1 Hz move, and change the face's shape
    iod = np.linalg.norm((lm[0, 33, :2] - lm[0, 263, :2]) * [aspect, 1])
    raised = lm.copy()
    raised[:, BROWS, 1] -= (0.05 * iod * np.sin(2 * np.pi * np.arange(n) / FPS))[:, None]
    moving = expression_signals(raised, np.ones(n, bool), np.arange(n) / FPS, aspect, speech)
    assert moving["brow_motion"] > 0.1 and moving["expression_variability"] > 0.001


def test_mouth_moving_only_in_silence_raises_mouth_motion_silence():
    n = 200
    lm, aspect = _still(n)
    iod = np.linalg.norm((lm[0, 33, :2] - lm[0, 263, :2]) * [aspect, 1])
    times = np.arange(n) / FPS
    speech = times < 4.0  # first half speech, second half silence
    chew = (0.1 * iod * (1 + np.sin(2 * np.pi * 3 * times)))[:, None]  # 3-Hz opening of 0-0.2 IOD
    in_silence, in_speech = lm.copy(), lm.copy()
    in_silence[np.ix_(~speech, LOWER_INNER_LIP, [1])] += chew[~speech][:, :, None]
    in_speech[np.ix_(speech, LOWER_INNER_LIP, [1])] += chew[speech][:, :, None]
    loud = expression_signals(in_silence, np.ones(n, bool), times, aspect, speech)
    quiet = expression_signals(in_speech, np.ones(n, bool), times, aspect, speech)
    assert loud["mouth_motion_silence"] > 1.0  # ~ 0.1 IOD x 2 pi 3 Hz x 2 / pi (mean |speed|) ~ 1.2 IOD/s
    assert quiet["mouth_motion_silence"] < 0.01 * loud["mouth_motion_silence"]
    assert loud["mouth_open_range"] == pytest.approx(quiet["mouth_open_range"], rel=0.2)
    assert 0.1 < loud["mouth_open_range"] < 0.25


def test_no_face_gives_nulls_and_a_real_clip_gives_numbers():
    n = 50
    lm, aspect = _still(n)
    assert expression_signals(lm, np.zeros(n, bool), np.arange(n) / FPS, aspect, None) == dict.fromkeys(
        EXPRESSION_COLUMNS)
    frames, landmarks, found, times = real_face()
    row = expression_signals(landmarks, found, times, frames.shape[2] / frames.shape[1], np.ones(len(times), bool))
    assert row["blink_rate_per_min"] is None  # 2 s of face: too short to count blinks
    assert row["brow_motion"] > 0 and row["expression_variability"] > 0 and row["mouth_open_range"] > 0.02
    assert row["mouth_motion_silence"] is None  # speech everywhere: no silent frames
