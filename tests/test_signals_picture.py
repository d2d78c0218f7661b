"""Picture-quality signals on a real clip's frames and on degraded copies made here."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from real_face import real_face

from tqscore.signals.picture import LIPS_OUTER, PICTURE_COLUMNS, PictureStats


def _stats(frames, landmarks, found, chunk: int = 16) -> dict:
    stats = PictureStats(frames.shape[2], frames.shape[1])
    for k in range(0, len(frames), chunk):
        stats.update(frames[k:k + chunk], landmarks[k:k + chunk], found[k:k + chunk])
    return stats.result()


def _clip(n: int = 24):
    frames, landmarks, found, _ = real_face()
    return frames[:n], landmarks[:n], found[:n]


def test_real_clip_values_and_chunking_does_not_matter():
    frames, landmarks, found = _clip()
    row = _stats(frames, landmarks, found)
    assert all(row[c] is not None and np.isfinite(row[c]) for c in PICTURE_COLUMNS)
    assert row == pytest.approx(_stats(frames, landmarks, found, chunk=5))
    assert _stats(frames, landmarks, np.zeros(len(frames), bool)) == dict.fromkeys(PICTURE_COLUMNS)


def test_blur_lowers_sharpness_and_mouth_blur_lowers_the_ratio():
    frames, landmarks, found = _clip()
    clean = _stats(frames, landmarks, found)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in frames])
    assert _stats(blurred, landmarks, found)["face_sharpness"] < 0.5 * clean["face_sharpness"]
    mouth_blurred = frames.copy()
    h, w = frames.shape[1:3]
    for f, lm in zip(mouth_blurred, landmarks):
        lips = lm[list(LIPS_OUTER), :2] * [w, h]
        (x0, y0), (x1, y1) = (lips.min(0) - 10).astype(int), (lips.max(0) + 10).astype(int)
        f[y0:y1, x0:x1] = cv2.GaussianBlur(f[y0:y1, x0:x1], (0, 0), 2.0)
    row = _stats(mouth_blurred, landmarks, found)
    assert row["mouth_face_sharpness_ratio"] < 0.7 * clean["mouth_face_sharpness_ratio"]
    assert row["face_sharpness"] > 0.7 * clean["face_sharpness"]  # the rest of the face is intact


def test_low_quality_jpeg_raises_blockiness():
    frames, landmarks, found = _clip(8)
    clean = _stats(frames, landmarks, found)["blockiness"]
    jpeg = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 10])[1], cv2.IMREAD_UNCHANGED)
                     for f in frames])
    assert _stats(jpeg, landmarks, found)["blockiness"] > clean + 0.3
    shifted = np.roll(jpeg, 4, axis=2)  # the same blocks off the frame's 8-px grid are not measured as such
    assert _stats(shifted, landmarks, found)["blockiness"] < _stats(jpeg, landmarks, found)["blockiness"]


def test_brightness_flicker_raises_temporal_flicker_and_a_still_image_gives_zero():
    frames, landmarks, found = _clip()
    still = np.repeat(frames[:1], len(frames), 0)
    assert _stats(still, np.repeat(landmarks[:1], len(frames), 0), found)["temporal_flicker"] == pytest.approx(0, abs=1e-6)
    clean = _stats(frames, landmarks, found)["temporal_flicker"]
    pulse = np.where(np.arange(len(frames)) % 2 == 0, 6, -6)[:, None, None, None]
    flicker = np.clip(frames.astype(np.int16) + pulse, 0, 255).astype(np.uint8)
    assert _stats(flicker, landmarks, found)["temporal_flicker"] > clean + 5
    ramp = np.clip(frames.astype(np.int16) + np.arange(len(frames))[:, None, None, None], 0, 255).astype(np.uint8)
    assert _stats(ramp, landmarks, found)["temporal_flicker"] < clean + 0.5  # a slow fade is not flicker
