"""Head pose (yaw, pitch, roll) per frame from Face Mesh, and the head-motion signals per clip.

Why this way: generated heads are mostly too still, and landmark shake does not say so
(``landmark_jitter`` in its documented direction agrees with people's head-motion ratings in
22 % of the rated pairs), so the clip needs the head's rotation and translation over time.

**Pose estimate.** Face Mesh gives 468 points with x a fraction of the frame width, y of the
height and z a relative depth "on roughly the same scale as x" (MediaPipe's Face Mesh
documentation), i.e. a weak-perspective 3-D face. Points are put into one isotropic unit
(frame heights: x and z times width / height). MediaPipe's canonical face model
(``canonical_face_model.obj``) is not in the mediapipe wheel, so the reference face is built from
the clip itself, which also makes it fit this person's face shape:

1. a face-fixed frame per frame from the symmetry of the rigid upper face: x = the summed
   vectors from the subject's right to left of ``SYMMETRIC_PAIRS``, y = the forehead-to-nose
   midline made orthogonal to x, z = x cross y (camera frame: x right, y down, z away from the
   camera, so a face looking into the camera has rotation identity);
2. every face frame's rigid points are turned into that frame, scaled to unit inter-ocular
   distance (outer eye corners 33 / 263, in 3-D so yaw does not shrink it) and the per-point
   median over frames is the clip's reference face;
3. each frame's rigid points are fitted to the reference by the least-squares similarity
   transform (Umeyama 1991, "Least-squares estimation of transformation parameters between two
   point patterns", IEEE TPAMI 13(4); Kabsch's rotation plus scale), which uses all
   ``RIGID_POINTS`` at once and so is steadier than step 1's few axes.

Only points that expression barely moves are fitted (forehead, nose, eye corners, temples):
lips, jaw, lids and brows would turn a smile or a blink into a head rotation. The angles are
the Euler decomposition R = Ry(yaw) Rx(pitch) Rz(roll) (turn, nod, tilt). Their zero is the
reference face's symmetry frame, not "looking at the camera" exactly; the signals use ranges and
speeds, which do not depend on where zero lies.

**Why the constants.** Ranges are 5th-95th percentiles: a Face Mesh re-detection or a single
wrong fit makes one extreme frame, which would be the whole min-max range. Speeds are measured
over ``SPEED_LAG_S`` rather than between consecutive frames, so the per-frame fit noise is not
multiplied by the frame rate (a 50-fps clip would otherwise look twice as restless as the same
motion at 25 fps). The still threshold ``STILL_DPS`` is the fit's noise floor on a frozen
picture (see the constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rigid upper face (MediaPipe Face Mesh indices): forehead, nose bridge and tip, outer and inner
# eye corners, temples and upper cheek edge. Chosen from the Face Mesh topology so that no lip,
# jaw, eyelid or eyebrow point is among them.
FOREHEAD = (10, 338, 297, 332, 109, 67, 103, 151, 9)
NOSE = (8, 168, 6, 197, 195, 5, 4, 1, 2, 98, 327, 129, 358)
EYE_CORNERS = (33, 133, 263, 362)
TEMPLES = (234, 454, 127, 356, 162, 389, 21, 251)
RIGID_POINTS: tuple[int, ...] = FOREHEAD + NOSE + EYE_CORNERS + TEMPLES
# (subject's right, subject's left): the right is the image's left on a frontal face.
SYMMETRIC_PAIRS = ((33, 263), (133, 362), (234, 454), (127, 356), (162, 389), (21, 251), (129, 358),
                   (98, 327), (109, 338), (67, 297), (103, 332))
MIDLINE_TOP = (10, 151, 9)
MIDLINE_BOTTOM = (6, 197, 195)
EYE_OUTER = (33, 263)

# 5th-95th percentile ranges (module docstring); below 20 face frames the 5th and 95th
# percentiles are interpolations of the two most extreme frames, so the range is not robust.
RANGE_PERCENTILES = (5.0, 95.0)
MIN_FACE_FRAMES = 20
# Rotation is measured between frames this far apart: 5 frames at 25 fps. Conversational head
# movements (nods, turns) last several tenths of a second, so 0.2 s still resolves them, while
# the fit noise enters the speed divided by 0.2 s instead of by one frame step.
SPEED_LAG_S = 0.2
# A lag pair may stretch to twice the lag when frames are missing (no face) before it is dropped.
MAX_LAG_S = 2 * SPEED_LAG_S
# deg/s: below this a head counts as still: the fit's noise floor. On frozen pictures (the first
# frame of each of the 7 shared real clips held 4 s, x264 CRF 23, with and without sensor noise of
# sigma 2 grey levels) the 95th percentile of the 0.2-s rotation speed was 0.35-2.13 deg/s (median
# 0.11-0.88); 2.5 is above all of them. Moving real heads have medians of 5-26 deg/s. Measured with
# `python benchmarks/head_noise_floor.py` (docs/signals.md, "Head motion").
STILL_DPS = 2.5


@dataclass(frozen=True)
class PoseFit:
    """Similarity transform per frame taking the reference face to the frame's points.

    ``points ~ scale * reference @ rotation.T + translation`` (units: frame heights; the
    reference has unit inter-ocular distance). Rows without a face hold NaN.
    """

    rotation: np.ndarray  # (n, 3, 3)
    scale: np.ndarray  # (n,): the frame's 3-D inter-ocular distance in frame heights
    translation: np.ndarray  # (n, 3): where the reference's origin (rigid-point centroid) lies
    reference: np.ndarray  # (len(RIGID_POINTS), 3)
    ok: np.ndarray  # (n,) bool: face found and fit valid


def to_space(landmarks: np.ndarray, aspect: float) -> np.ndarray:
    """(n, 468, 3) float64 points in frame heights: x and z (scaled like x) times width / height."""
    return np.asarray(landmarks, np.float64) * np.array([aspect, 1.0, aspect])


def _face_ok(points: np.ndarray, found: np.ndarray | None) -> np.ndarray:
    a, b = EYE_OUTER
    iod = np.linalg.norm(points[:, a] - points[:, b], axis=-1)
    ok = np.isfinite(points).all(axis=(1, 2)) & (iod > 1e-6)
    return ok if found is None else ok & np.asarray(found, bool)


def _symmetry_frames(points: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations whose columns are the face's x, y, z axes from its symmetry."""
    right = points[:, [r for r, _ in SYMMETRIC_PAIRS]]
    left = points[:, [l for _, l in SYMMETRIC_PAIRS]]
    x = (left - right).sum(axis=1)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = points[:, list(MIDLINE_BOTTOM)].mean(1) - points[:, list(MIDLINE_TOP)].mean(1)
    y -= (y * x).sum(-1, keepdims=True) * x
    y /= np.linalg.norm(y, axis=-1, keepdims=True)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def _umeyama(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched similarity fit target_i ~ s R source + t for source (m, 3), target (n, m, 3)."""
    src = source - source.mean(0)
    tgt_mean = target.mean(1)
    tgt = target - tgt_mean[:, None]
    cov = np.einsum("nmi,mj->nij", tgt, src) / len(source)
    u, sing, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    sign = np.ones((len(target), 3))
    sign[:, 2] = d
    rotation = (u * sign[:, None, :]) @ vt
    scale = (sing * sign).sum(-1) / (src**2).sum(-1).mean()
    translation = tgt_mean - scale[:, None] * np.einsum("nij,j->ni", rotation, source.mean(0))
    return rotation, scale, translation


def fit_pose(landmarks: np.ndarray, aspect: float, found: np.ndarray | None = None) -> PoseFit:
    """Fit every face frame of one clip to the clip's own reference face (module docstring)."""
    points = to_space(landmarks, aspect)
    n = len(points)
    ok = _face_ok(points, found) if n else np.zeros(0, bool)
    rotation = np.full((n, 3, 3), np.nan)
    scale = np.full(n, np.nan)
    translation = np.full((n, 3), np.nan)
    rigid = points[:, list(RIGID_POINTS)]
    if not ok.any():
        return PoseFit(rotation, scale, translation, np.full((len(RIGID_POINTS), 3), np.nan), ok)
    good = rigid[ok]
    axes = _symmetry_frames(points[ok])
    a, b = RIGID_POINTS.index(EYE_OUTER[0]), RIGID_POINTS.index(EYE_OUTER[1])
    iod = np.linalg.norm(good[:, a] - good[:, b], axis=-1)
    centred = good - good.mean(1, keepdims=True)
    aligned = np.einsum("nmi,nij->nmj", centred, axes) / iod[:, None, None]
    reference = np.median(aligned, axis=0)
    reference -= reference.mean(0)
    reference /= np.linalg.norm(reference[a] - reference[b])
    rotation[ok], scale[ok], translation[ok] = _umeyama(reference, good)
    return PoseFit(rotation, scale, translation, reference, ok)


def euler_deg(rotation: np.ndarray) -> np.ndarray:
    """(n, 3, 3) -> (n, 3) yaw, pitch, roll in degrees for R = Ry(yaw) Rx(pitch) Rz(roll)."""
    yaw = np.arctan2(rotation[:, 0, 2], rotation[:, 2, 2])
    pitch = np.arcsin(np.clip(-rotation[:, 1, 2], -1.0, 1.0))
    roll = np.arctan2(rotation[:, 1, 0], rotation[:, 1, 1])
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


def rotation_from_euler_deg(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The inverse of ``euler_deg`` for one rotation: Ry(yaw) Rx(pitch) Rz(roll)."""
    a, b, c = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def head_pose(landmarks: np.ndarray, aspect: float, found: np.ndarray | None = None) -> np.ndarray:
    """(n, 3) yaw, pitch, roll in degrees per frame; NaN rows where there is no face."""
    return euler_deg(fit_pose(landmarks, aspect, found).rotation)


def frontalize(landmarks: np.ndarray, aspect: float, found: np.ndarray | None = None,
               fit: PoseFit | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All 468 points with the head's pose, position and size removed: (n, 468, 3) in
    inter-ocular distances in the reference face's frame, and the (n,) ok mask."""
    fit = fit_pose(landmarks, aspect, found) if fit is None else fit
    points = to_space(landmarks, aspect)
    out = np.full(points.shape, np.nan)
    ok = fit.ok
    local = points[ok] - fit.translation[ok][:, None]
    out[ok] = np.einsum("nmi,nij->nmj", local, fit.rotation[ok]) / fit.scale[ok][:, None, None]
    return out, ok


def lag_pairs(times: np.ndarray, ok: np.ndarray, lag_s: float = SPEED_LAG_S,
              max_lag_s: float = MAX_LAG_S) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j): j the first frame at least ``lag_s`` after i, both ok, at most
    ``max_lag_s`` apart."""
    t = np.asarray(times, np.float64)
    i = np.arange(len(t))
    j = np.searchsorted(t, t + lag_s - 1e-9)
    keep = j < len(t)
    i, j = i[keep], j[keep]
    keep = ok[i] & ok[j] & (t[j] - t[i] <= max_lag_s + 1e-9)
    return i[keep], j[keep]


def robust_range(values: np.ndarray) -> float:
    lo, hi = np.percentile(values, RANGE_PERCENTILES, axis=0)
    return float(np.linalg.norm(np.atleast_1d(hi - lo)))


def rotation_speeds_dps(fit: PoseFit, times: np.ndarray) -> np.ndarray:
    """Angular speed (deg/s) of the head over ``SPEED_LAG_S`` lag pairs."""
    i, j = lag_pairs(times, fit.ok)
    if not len(i):
        return np.zeros(0)
    relative = np.einsum("nji,njk->nik", fit.rotation[i], fit.rotation[j])
    cos = np.clip((np.trace(relative, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    dt = np.asarray(times, np.float64)[j] - np.asarray(times, np.float64)[i]
    return np.degrees(np.arccos(cos)) / dt


HEAD_COLUMNS = ("head_yaw_range_deg", "head_pitch_range_deg", "head_roll_range_deg",
                "head_rotation_speed_dps", "head_translation_iod", "head_still_ratio")


def head_motion_signals(landmarks: np.ndarray, found: np.ndarray, times: np.ndarray, aspect: float,
                        fit: PoseFit | None = None) -> dict:
    """The six head-motion columns of one clip (None without MIN_FACE_FRAMES face frames).
    ``fit``: the clip's ``fit_pose`` when the caller has it (compute_signals fits once for the
    head and expression signals)."""
    row: dict[str, float | None] = dict.fromkeys(HEAD_COLUMNS)
    fit = fit_pose(landmarks, aspect, found) if fit is None else fit
    if fit.ok.sum() < MIN_FACE_FRAMES:
        return row
    angles = euler_deg(fit.rotation[fit.ok])
    row["head_yaw_range_deg"] = robust_range(angles[:, 0])
    row["head_pitch_range_deg"] = robust_range(angles[:, 1])
    row["head_roll_range_deg"] = robust_range(angles[:, 2])
    row["head_translation_iod"] = robust_range(fit.translation[fit.ok, :2]) / float(np.median(fit.scale[fit.ok]))
    speeds = rotation_speeds_dps(fit, times)
    if len(speeds):
        row["head_rotation_speed_dps"] = float(np.median(speeds))
        row["head_still_ratio"] = float(np.mean(speeds < STILL_DPS))
    return row
