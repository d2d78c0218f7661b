"""Face crop boxes, hold-over of lost faces, crop cutting and ImageNet normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from tqscore.features.crops import (
    CROP_CENTRE,
    CROP_FACE,
    CROP_HELD,
    CropConfig,
    CropTracker,
    crop_square,
    landmark_box,
    normalize,
)
from tqscore.layout import N_LANDMARKS


def face_at(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Landmarks (468, 3) spread over the normalised box [x0, x1] x [y0, y1]."""
    t = np.linspace(0, 1, N_LANDMARKS)
    return np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t[::-1], np.zeros_like(t)], axis=1).astype(np.float32)


def test_landmark_box_is_square_with_margin_in_pixels():
    cx, cy, side = landmark_box(face_at(0.4, 0.3, 0.6, 0.7), width=100, height=200, margin=1.3)
    # pixels: x 40..60, y 60..140 -> centre (50, 100), longer side 80 -> 104
    assert (cx, cy) == pytest.approx((50, 100)) and side == pytest.approx(104)


def test_tracker_holds_the_last_box_then_falls_back_to_the_centre():
    config = CropConfig(margin=1.0, hold_frames=2, smoothing=0.0)
    tracker = CropTracker(200, 100, config)
    face = face_at(0.1, 0.2, 0.3, 0.6)  # x 20..60, y 20..60 -> (40, 40, 40)
    nothing = np.zeros((N_LANDMARKS, 3), np.float32)
    boxes = [tracker.next_box(face, True)] + [tracker.next_box(nothing, False) for _ in range(3)]
    assert tracker.kinds == [CROP_FACE, CROP_HELD, CROP_HELD, CROP_CENTRE]
    np.testing.assert_allclose(boxes[0], (40, 40, 40))
    np.testing.assert_allclose(boxes[1], boxes[0])
    np.testing.assert_allclose(boxes[2], boxes[0])
    np.testing.assert_allclose(boxes[3], (100, 50, 100))  # centre square of the 200x100 frame


def test_tracker_without_any_face_crops_the_centre():
    tracker = CropTracker(64, 48)
    for _ in range(5):
        tracker.next_box(np.zeros((N_LANDMARKS, 3), np.float32), False)
    assert tracker.kinds == [CROP_CENTRE] * 5


def test_tracker_smooths_consecutive_boxes():
    tracker = CropTracker(100, 100, CropConfig(margin=1.0, smoothing=0.5))
    tracker.next_box(face_at(0.2, 0.2, 0.4, 0.4), True)  # (30, 30, 20)
    box = tracker.next_box(face_at(0.4, 0.2, 0.6, 0.4), True)  # (50, 30, 20) -> halfway
    np.testing.assert_allclose(box, (40, 30, 20), atol=1e-4)


def test_crop_square_cuts_the_box_and_fills_outside_with_black():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[20:60, 120:160] = 200
    crop = crop_square(frame, np.array([140, 40, 40]), size=32)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert (crop == 200).all()
    # A box hanging over the left edge: its left half is outside the frame, so black.
    edge = crop_square(np.full((100, 100, 3), 90, np.uint8), np.array([0, 50, 40]), size=40)
    assert (edge[:, :18] == 0).all() and (edge[:, 22:] == 90).all()


def test_crop_of_frames_gives_uint8_224():
    frames = np.random.default_rng(0).integers(0, 255, (3, 120, 160, 3), dtype=np.uint8)
    faces = np.stack([face_at(0.3, 0.3, 0.6, 0.7)] * 3)
    crops = CropTracker(160, 120).crop(frames, faces, np.array([True, False, True]))
    assert crops.shape == (3, 224, 224, 3) and crops.dtype == np.uint8


def test_normalize_uses_imagenet_mean_and_std_channels_first():
    crops = np.zeros((1, 224, 224, 3), np.uint8)
    crops[..., 0] = 255
    x = normalize(crops)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32 and x.flags.c_contiguous
    assert x[0, 0, 5, 5] == pytest.approx((1 - 0.485) / 0.229, rel=1e-6)
    assert x[0, 1, 5, 5] == pytest.approx(-0.456 / 0.224, rel=1e-6)
    assert x[0, 2, 5, 5] == pytest.approx(-0.406 / 0.225, rel=1e-6)
