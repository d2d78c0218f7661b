"""Picture-quality signals on a real clip's frames and on degraded copies made here."""

from __future__ import annotations

from itertools import pairwise

import av
import cv2
import numpy as np
import pytest
from tqscore.testing.degradations import clean, compression
from tqscore.testing.real_face import CLIP, real_face

from tqscore.signals.picture import (
    PICTURE_COLUMNS,
    PictureStats,
    mouth_polygon,
    noise_sigma,
)


def _stats(frames, landmarks, found, chunk: int = 16) -> dict:
    stats = PictureStats(frames.shape[2], frames.shape[1])
    for k in range(0, len(frames), chunk):
        stats.update(frames[k:k + chunk], landmarks[k:k + chunk], found[k:k + chunk])
    return stats.result()


def _clip(n: int = 24):
    frames, landmarks, found, _ = real_face()
    return frames[:n], landmarks[:n], found[:n]


def _face_width(frames, landmarks) -> float:
    h, w = frames.shape[1:3]
    extent = landmarks[..., :2].max(1) - landmarks[..., :2].min(1)
    return float(np.median((extent * [w, h]).max(1)))


def test_real_clip_values_and_chunking_does_not_matter():
    frames, landmarks, found = _clip()
    row = _stats(frames, landmarks, found)
    assert all(row[c] is not None and np.isfinite(row[c]) for c in PICTURE_COLUMNS)
    assert row == pytest.approx(_stats(frames, landmarks, found, chunk=5))
    assert _stats(frames, landmarks, np.zeros(len(frames), bool)) == dict.fromkeys(PICTURE_COLUMNS)


def _face_blurred(frames, landmarks, sigma: float) -> np.ndarray:
    """The face (hull of the 468 points) blurred, the background left sharp, as tqscore.testing.degradations.face_blur."""
    h, w = frames.shape[1:3]
    out = []
    for f, lm in zip(frames, landmarks):
        mask = np.zeros((h, w), np.float32)
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lm[:, :2] * [w, h]).astype(np.int32)), 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), 3)[..., None]
        out.append((mask * cv2.GaussianBlur(f, (0, 0), sigma) + (1 - mask) * f + 0.5).astype(np.uint8))
    return np.stack(out)


def test_sharpness_falls_strictly_with_blur_width():
    frames, landmarks, found = _clip(6)
    width = _face_width(frames, landmarks)
    values = [_stats(frames, landmarks, found)["face_sharpness"]]
    for pct in (1, 2, 4):  # Gaussian sigma in % of the face width, as tqscore.testing.degradations.face_blur
        values.append(_stats(_face_blurred(frames, landmarks, pct / 100 * width), landmarks, found)["face_sharpness"])
    assert all(b < 0.9 * a for a, b in pairwise(values)), values


def test_mouth_blur_lowers_the_ratio_step_by_step_and_leaves_the_face():
    frames, landmarks, found = _clip(6)
    width = _face_width(frames, landmarks)
    h, w = frames.shape[1:3]
    clean_row = _stats(frames, landmarks, found)
    ratios = [clean_row["mouth_face_sharpness_ratio"]]
    for pct in (1, 2, 4):
        blurred = frames.copy()
        for f, lm in zip(blurred, landmarks):
            region = mouth_polygon(lm[:, :2] * [w, h])
            (x0, y0), (x1, y1) = region.min(0).astype(int) - 4, region.max(0).astype(int) + 4
            f[y0:y1, x0:x1] = cv2.GaussianBlur(f[y0:y1, x0:x1], (0, 0), pct / 100 * width)
        row = _stats(blurred, landmarks, found)
        ratios.append(row["mouth_face_sharpness_ratio"])
        assert row["face_sharpness"] == pytest.approx(clean_row["face_sharpness"], rel=0.1)  # the rest of the face is intact
    assert all(b < 0.9 * a for a, b in pairwise(ratios)), ratios


def _decoded(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_h264_compression_raises_blockiness_with_the_crf(tmp_path):
    _, landmarks, found, _ = real_face()
    values = []
    for path in [clean(CLIP, tmp_path, seconds=0.4)] + [compression(CLIP, tmp_path, crf, seconds=0.4) for crf in (35, 43, 51)]:
        decoded = _decoded(path)  # the same pictures, so the source's landmarks still fit
        n = len(decoded)
        values.append(_stats(decoded, landmarks[:n], found[:n])["blockiness"])
    assert all(b > a for a, b in pairwise(values)), values


def test_low_quality_jpeg_raises_blockiness_on_the_grid_only():
    frames, landmarks, found = _clip(8)
    clean_value = _stats(frames, landmarks, found)["blockiness"]
    jpeg = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 10])[1], cv2.IMREAD_UNCHANGED)
                     for f in frames])
    assert _stats(jpeg, landmarks, found)["blockiness"] > clean_value + 0.3
    shifted = np.roll(jpeg, 4, axis=2)  # the same blocks off the frame's grid are not measured as such
    assert _stats(shifted, landmarks, found)["blockiness"] < _stats(jpeg, landmarks, found)["blockiness"]


def test_noise_estimate_reads_the_added_noise():
    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(96.0), np.arange(128.0)) + 20  # a linear ramp: the operator cancels it
    assert noise_sigma(ramp.astype(np.uint8)) == pytest.approx(0, abs=1e-6)
    noisy = np.clip(ramp + rng.normal(0, 6, ramp.shape) + 0.5, 0, 255).astype(np.uint8)
    assert noise_sigma(noisy) == pytest.approx(6, rel=0.1)

    frames, landmarks, found = _clip(6)
    values = [_stats(frames, landmarks, found)["face_noise"]]
    for sigma in (4, 8, 16):
        grain = rng.normal(0, sigma, frames.shape[:3] + (1,))
        values.append(_stats(np.clip(frames + grain + 0.5, 0, 255).astype(np.uint8), landmarks, found)["face_noise"])
        assert values[-1] == pytest.approx(np.hypot(values[0], sigma), rel=0.15)
    assert all(b > a for a, b in pairwise(values)), values


def test_brightness_flicker_raises_temporal_flicker_and_a_still_image_gives_zero():
    frames, landmarks, found = _clip()
    still = np.repeat(frames[:1], len(frames), 0)
    assert _stats(still, np.repeat(landmarks[:1], len(frames), 0), found)["temporal_flicker"] == pytest.approx(0, abs=1e-6)
    clean_value = _stats(frames, landmarks, found)["temporal_flicker"]
    pulse = np.where(np.arange(len(frames)) % 2 == 0, 6, -6)[:, None, None, None]
    flicker = np.clip(frames.astype(np.int16) + pulse, 0, 255).astype(np.uint8)
    assert _stats(flicker, landmarks, found)["temporal_flicker"] > clean_value + 5
    ramp = np.clip(frames.astype(np.int16) + np.arange(len(frames))[:, None, None, None], 0, 255).astype(np.uint8)
    assert _stats(ramp, landmarks, found)["temporal_flicker"] < clean_value + 0.5  # a slow fade is not flicker
