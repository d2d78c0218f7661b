"""The 17 action units on a hand-built face whose every distance is known.

Coordinates are chosen so each distance is exact (axis-aligned or a 3-4-5 / 7-24-25 triangle);
the expected values below were worked out by hand from docs/method.md §5's formulas, in units of the
inter-ocular distance (0.4 here).
"""

from __future__ import annotations

import numpy as np
import pytest

from tqscore.features.aus import AU_NAMES, AU_TABLE, EPS, compute_aus, raw_aus
from tqscore.layout import N_LANDMARKS, STREAM_WIDTHS

POINTS = {
    33: (0.30, 0.50), 263: (0.70, 0.50),  # outer eye corners: 0.40 apart, the unit
    168: (0.50, 0.40),  # nose bridge
    1: (0.50, 0.60),  # nose tip
    107: (0.47, 0.36), 336: (0.53, 0.36),  # inner brows: (0.03, 0.04) from the bridge -> 0.05
    70: (0.26, 0.33), 300: (0.74, 0.33),  # outer brows: (0.24, 0.07) from the bridge -> 0.25
    105: (0.35, 0.33), 334: (0.65, 0.33),  # brow middles: 0.30 apart
    159: (0.34, 0.47), 145: (0.34, 0.52),  # right eye lids: 0.05
    386: (0.66, 0.47), 374: (0.66, 0.51),  # left eye lids: 0.04
    129: (0.44, 0.62), 358: (0.56, 0.62),  # nose wings: 0.12
    61: (0.34, 0.72), 291: (0.66, 0.72),  # mouth corners: (0.16, 0.12) from the nose tip -> 0.20
    0: (0.50, 0.68), 17: (0.50, 0.78),  # outer lips: 0.08 / 0.18 from the nose tip, 0.10 apart
    13: (0.50, 0.70), 14: (0.50, 0.73),  # inner lips: 0.03 apart
}
UNIT = 0.40
EXPECTED = {
    "AU1": 0.05 / UNIT,
    "AU2": 0.25 / UNIT,
    "AU4": 0.30 / UNIT,
    "AU5": (0.05 + 0.04) / 2 / UNIT,
    "AU6": (0.20 + 0.21) / 2 / UNIT,  # lower lids (y 0.52 / 0.51) to mouth corners (y 0.72)
    "AU7": 1 / ((0.05 + 0.04) / 2 / UNIT + EPS),
    "AU9": 0.12 / UNIT,
    "AU10": 0.08 / UNIT,
    "AU12": 0.20 / UNIT,
    "AU14": 1 / (0.20 / UNIT + EPS),
    "AU15": 0.8 / (0.20 / UNIT + EPS),
    "AU17": 0.18 / UNIT,
    "AU20": 0.32 / UNIT,
    "AU23": 1 / (0.10 / UNIT + EPS),
    "AU25": 0.03 / UNIT,
    "AU26": 1.2 * 0.03 / UNIT,
    "AU28": 1 / (0.32 / UNIT + EPS),
}


def hand_face(aspect: float = 1.0) -> np.ndarray:
    """(1, 468, 3) landmarks with POINTS set; x divided by ``aspect`` as Face Mesh would report it."""
    face = np.full((1, N_LANDMARKS, 3), 0.5, np.float32)
    for index, (x, y) in POINTS.items():
        face[0, index] = (x / aspect, y, 0.0)
    return face


def test_table_has_the_layouts_17_aus_in_spec_order():
    assert len(AU_TABLE) == STREAM_WIDTHS["aus"] == 17
    assert AU_NAMES == tuple(EXPECTED)


@pytest.mark.parametrize("name", AU_NAMES)
def test_each_au_on_hand_built_face(name):
    raw = raw_aus(hand_face())[0]
    assert raw[AU_NAMES.index(name)] == pytest.approx(EXPECTED[name], rel=1e-5)


@pytest.mark.parametrize("name", [au.name for au in AU_TABLE if au.pairs])
def test_moving_an_aus_points_apart_raises_a_distance_au_and_lowers_an_inverse_one(name):
    au = AU_TABLE[AU_NAMES.index(name)]
    face = hand_face()
    before = raw_aus(face)[0, AU_NAMES.index(name)]
    i, j = au.pairs[0]
    face[0, j, :2] += 1.5 * (face[0, j, :2] - face[0, i, :2])  # stretch the first pair's distance
    after = raw_aus(face)[0, AU_NAMES.index(name)]
    assert (after > before) if au.op == "dist" else (after < before)


def test_aspect_correction_and_scale_invariance():
    # A 2:1 frame reports x halved; with aspect=2 the AUs must equal the square-frame ones.
    np.testing.assert_allclose(raw_aus(hand_face(aspect=2.0), aspect=2.0), raw_aus(hand_face()), rtol=1e-5)
    # The same face at half the size (around the centre) gives the same AUs.
    small = hand_face()
    small[..., :2] = 0.5 + (small[..., :2] - 0.5) / 2
    np.testing.assert_allclose(raw_aus(small), raw_aus(hand_face()), rtol=1e-4)


def test_depth_is_ignored():
    face = hand_face()
    moved = face.copy()
    moved[..., 2] = np.random.default_rng(0).uniform(-0.2, 0.2, moved.shape[:2])
    np.testing.assert_array_equal(raw_aus(moved), raw_aus(face))


def test_per_frame_max_normalisation_and_no_face_zeros():
    faces = np.concatenate([hand_face(), np.zeros((1, N_LANDMARKS, 3), np.float32), hand_face()])
    found = np.array([True, False, True])
    aus = compute_aus(faces, found)
    raw = np.array([EXPECTED[n] for n in AU_NAMES])
    np.testing.assert_allclose(aus[0], raw / (raw.max() + EPS), rtol=1e-5)
    assert aus.dtype == np.float32 and aus.shape == (3, 17)
    assert not aus[1].any()
    assert aus[0].max() == pytest.approx(1.0, abs=1e-6) and aus.min() >= 0


def test_degenerate_face_stays_finite():
    # All points on one spot (a broken detection): distances 0, inverses 1/eps; still finite, in [0, 1].
    aus = compute_aus(np.full((1, N_LANDMARKS, 3), 0.5, np.float32), np.array([True]))
    assert np.isfinite(aus).all() and aus.min() >= 0 and aus.max() <= 1
