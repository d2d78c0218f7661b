"""Face Mesh geometry the signals share: which points, and distances in face-size units.

Face Mesh x is a fraction of the frame width and y of the height; ``to_plane`` rescales x by
the aspect ratio so distances are isotropic, and dividing by the inter-ocular distance (outer
eye corners) makes them independent of face size and camera distance.
"""

from __future__ import annotations

import numpy as np

from tqscore.features.aus import MOUTH_CORNERS
from tqscore.features.aus import SCALE_PAIR as EYE_OUTER_CORNERS

# Inner-lip contour, clockwise from the left corner.
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LIP_PAIRS = ((82, 87), (13, 14), (312, 317), (81, 178), (311, 402))  # upper/lower inner-lip points


def to_plane(landmarks: np.ndarray, aspect: float) -> np.ndarray:
    """(n, 468, 2) x, y in units of the frame height; ``aspect`` = width / height."""
    return landmarks[..., :2].astype(np.float64) * np.array([aspect, 1.0])


def inter_ocular(pts: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pts[:, EYE_OUTER_CORNERS[0]] - pts[:, EYE_OUTER_CORNERS[1]], axis=1)


def mouth_features(landmarks: np.ndarray, face_found: np.ndarray, aspect: float) -> np.ndarray:
    """(n, 3): inner-lip area / IOD^2, mean opening of the five lip pairs / IOD, mouth width / IOD.

    NaN rows where there is no face.
    """
    pts = to_plane(landmarks, aspect)
    iod = inter_ocular(pts)
    x, y = pts[:, INNER_LIP, 0], pts[:, INNER_LIP, 1]
    area = 0.5 * np.abs(np.sum(x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y, 1))
    opening = np.mean([np.linalg.norm(pts[:, a] - pts[:, b], axis=1) for a, b in LIP_PAIRS], 0)
    width = np.linalg.norm(pts[:, MOUTH_CORNERS[0]] - pts[:, MOUTH_CORNERS[1]], axis=1)
    ok = np.asarray(face_found, bool) & (iod > 1e-6)
    safe = np.where(ok, iod, 1.0)
    feats = np.stack([area / safe**2, opening / safe, width / safe], 1)
    feats[~ok] = np.nan
    return feats


def distinct_instants(times: np.ndarray) -> np.ndarray:
    """Bool mask of the frames whose time is later than every frame before them: of frames
    stamped with one instant, the first.

    A motion rate needs time to pass between two pictures. Frame times repeat where a stream's
    timestamps restart (segments joined without re-timing, a resolution change mid-stream) or a
    packet is stored twice; a player shows one picture per instant, so the signals keep the first
    and leave the others out instead of dividing by a zero step.
    """
    t = np.asarray(times, np.float64)
    if not len(t):
        return np.zeros(0, bool)
    return np.concatenate(([True], t[1:] > np.maximum.accumulate(t)[:-1]))


def mean_abs_speed(values: np.ndarray, times: np.ndarray, pairs: np.ndarray) -> float | None:
    """Mean |rate of change| of per-frame ``values`` over the consecutive frame pairs ``pairs``
    selects (bool, one per pair): how far the lips travel per second. Pairs whose two frames
    share one time have no rate and are left out (``distinct_instants``); None when no pair is
    left.

    The mean of |speed|, not its RMS: a frame on which Face Mesh misplaces the lips (a ghost of
    another mouth, a half-occluded lip) is a jump out and back, and squared it outweighs many
    frames of articulation. Measured on the still-mouth degradation (a closed mouth pasted at
    1/3 opacity over MimicTalk's moving one, ``benchmarks/degradations.py``): the RMS reads 0.425
    IOD/s against 0.404 on the clean copy, wrongly higher; the mean reads 0.248 against 0.260
    (docs/signals.md, "Face and motion facts"). Single-frame tracking error is what
    ``landmark_jitter`` reports.
    """
    steps = np.diff(np.asarray(times, np.float64))
    use = np.asarray(pairs, bool) & (steps > 0)
    if not use.any():
        return None
    return float(np.mean(np.abs(np.diff(values))[use] / steps[use]))
