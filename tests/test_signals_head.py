"""Head pose and head-motion signals on rotated copies of a real face and on a real clip."""

from __future__ import annotations

import numpy as np
import pytest
from tqscore.testing.real_face import real_face

from tqscore.signals.head import (
    HEAD_COLUMNS,
    STILL_DPS,
    _symmetry_frames,
    frontalize,
    head_motion_signals,
    head_pose,
    rotation_from_euler_deg,
)

ASPECT = 16 / 9


def _canonical() -> np.ndarray:
    """A real face (frame 0 of a shared clip) with its pose removed and turned into its own
    symmetry frame, so that rotating it by R is a head whose true pose is R."""
    _, landmarks, found, _ = real_face()
    shape, _ = frontalize(landmarks[:1], 1.0, found[:1])
    shape = shape[0] - shape[0].mean(0)
    return shape @ _symmetry_frames(shape[None])[0]


def _landmarks(rotations, centres=None, iod=0.2, aspect=ASPECT) -> np.ndarray:
    """Face Mesh-style landmarks (x, z fractions of the width, y of the height) of the canonical
    face turned by each rotation, ``iod`` frame heights between the eyes, centred at ``centres``."""
    shape = _canonical()
    n = len(rotations)
    centres = np.tile([0.5 * aspect, 0.5, 0.0], (n, 1)) if centres is None else centres
    pts = np.einsum("nij,mj->nmi", np.asarray(rotations), shape) * iod + centres[:, None]
    return (pts / np.array([aspect, 1.0, aspect])).astype(np.float32)


def test_rotated_canonical_face_recovers_the_angles():
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.uniform(-35, 35, 40), rng.uniform(-20, 20, 40), rng.uniform(-20, 20, 40)])
    truth[0] = 0
    lm = _landmarks([rotation_from_euler_deg(*a) for a in truth])
    assert np.abs(head_pose(lm, ASPECT) - truth).max() < 0.01
    # with Face Mesh-like noise (0.5 % of the inter-ocular distance per point) still within ~1 deg
    noisy = lm + rng.normal(0, 0.005 * 0.2, lm.shape).astype(np.float32) / np.array([ASPECT, 1, ASPECT], np.float32)
    assert np.abs(head_pose(noisy, ASPECT) - truth).max() < 1.5
    # the aspect ratio matters: reading the same landmarks as square frames distorts the angles
    assert np.abs(head_pose(lm, 1.0) - truth).max() > 3


def test_still_head_is_all_still_and_has_no_range():
    n = 50
    row = head_motion_signals(_landmarks([np.eye(3)] * n), np.ones(n, bool), np.arange(n) / 25.0, ASPECT)
    assert row["head_still_ratio"] == 1.0
    for name in ("head_yaw_range_deg", "head_pitch_range_deg", "head_roll_range_deg",
                 "head_rotation_speed_dps", "head_translation_iod"):
        assert row[name] == pytest.approx(0.0, abs=1e-3), name


def test_rotation_speed_translation_and_still_share():
    n = 100
    times = np.arange(n) / 25.0
    yaw = np.where(np.arange(n) < 50, 20.0 * times, 20.0 * times[49])  # 20 deg/s for 2 s, then still
    centres = np.tile([0.5 * ASPECT, 0.5, 0.0], (n, 1))
    centres[:, 0] += np.linspace(0, 0.5 * 0.2, n)  # the face moves by half an inter-ocular distance
    lm = _landmarks([rotation_from_euler_deg(y, 0, 0) for y in yaw], centres)
    row = head_motion_signals(lm, np.ones(n, bool), times, ASPECT)
    assert row["head_yaw_range_deg"] == pytest.approx(np.subtract(*np.percentile(yaw, [95, 5])), abs=0.01)
    # lag pairs of 5 frames: 45 inside the turn at 20 deg/s, 5 straddling its end, 45 still
    assert row["head_still_ratio"] == pytest.approx(45 / 95, abs=0.02)
    fast = head_motion_signals(lm[:50], np.ones(50, bool), times[:50], ASPECT)
    assert fast["head_rotation_speed_dps"] == pytest.approx(20.0, rel=1e-3)
    shifted = head_motion_signals(_landmarks([np.eye(3)] * n, centres), np.ones(n, bool), times, ASPECT)
    assert shifted["head_translation_iod"] == pytest.approx(0.9 * 0.5, rel=1e-3)  # 5th-95th of a ramp
    assert shifted["head_still_ratio"] == 1.0  # moving without turning is not rotation
    # 50 fps: the same motion gives the same speed
    lm50 = _landmarks([rotation_from_euler_deg(10.0 * i / 25.0, 0, 0) for i in range(100)])
    assert head_motion_signals(lm50, np.ones(100, bool), np.arange(100) / 50.0, ASPECT)[
        "head_rotation_speed_dps"] == pytest.approx(20.0, rel=1e-3)


def test_no_face_or_too_few_frames_gives_nulls():
    n = 50
    lm = _landmarks([np.eye(3)] * n)
    assert head_motion_signals(lm, np.zeros(n, bool), np.arange(n) / 25.0, ASPECT) == dict.fromkeys(HEAD_COLUMNS)
    assert head_motion_signals(lm[:10], np.ones(10, bool), np.arange(10) / 25.0, ASPECT) == dict.fromkeys(HEAD_COLUMNS)
    assert np.isnan(head_pose(lm, ASPECT, np.zeros(n, bool))).all()


def test_real_clip_moves_and_its_frozen_copy_does_not():
    frames, landmarks, found, times = real_face()
    aspect = frames.shape[2] / frames.shape[1]
    row = head_motion_signals(landmarks, found, times, aspect)
    assert all(np.isfinite(v) for v in row.values())
    assert row["head_rotation_speed_dps"] > 2 * STILL_DPS and row["head_still_ratio"] < 0.5
    frozen = head_motion_signals(np.repeat(landmarks[:1], len(landmarks), 0), found, times, aspect)
    assert frozen["head_still_ratio"] == 1.0 and frozen["head_yaw_range_deg"] < 0.01
