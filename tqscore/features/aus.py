"""The 17 distance-based action units of docs/method.md §5, computed from Face Mesh landmarks.

No extra model: each AU is a distance (or the inverse of one) between fixed Face Mesh points.
The seed does not name its indices; ``AU_TABLE`` below is the one place they are chosen.

Distances are measured on (x, y) only (Face Mesh's z is a noisy relative depth), with x
rescaled by the frame's aspect ratio so a unit is the same length along both axes, and divided
by the inter-ocular distance (outer eye corners 33 and 263). That makes the AUs independent of
the frame size and of how large the face is in the frame; the seed's inverse AUs (AU7, AU14,
AU15, AU23, AU28) would otherwise swing with face size alone. Then, as in the seed, each frame's
17 values are divided by (their maximum + 1e-6), so every value lies in [0, 1]. Frames without
a face give zeros.

Face Mesh indices (subject's right side first; the subject's right is the image's left):

    168 nose bridge (between the eyes)   1 nose tip
    107 / 336 inner brow ends            70 / 300 outer brow ends     105 / 334 brow middles
    159 / 386 upper eyelid middles       145 / 374 lower eyelid middles
    33 / 263 outer eye corners (scale)   129 / 358 nose wings (alae)
    61 / 291 mouth corners               0 / 17 upper / lower lip, outer edge
    13 / 14 upper / lower lip, inner edge
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-6
SCALE_PAIR = (33, 263)  # outer eye corners: the unit of length

NOSE_BRIDGE, NOSE_TIP = 168, 1
MOUTH_CORNERS = (61, 291)


@dataclass(frozen=True)
class AU:
    """One action unit: ``pairs`` are (i, j) landmark pairs whose distances are averaged.

    ``op`` turns that mean distance (or, for derived AUs, the raw value of ``of``) into the AU:
    "dist" keeps it, "inverse" takes 1 / (x + eps), "scale" multiplies by ``factor``.
    """

    name: str
    meaning: str
    op: str
    pairs: tuple[tuple[int, int], ...] = ()
    of: str = ""
    factor: float = 1.0


# THE table: docs/method.md §5's formulas with the chosen Face Mesh indices. Order = stream order.
AU_TABLE: tuple[AU, ...] = (
    AU("AU1", "inner brow raise: inner brow ends to the nose bridge", "dist", ((107, NOSE_BRIDGE), (336, NOSE_BRIDGE))),
    AU("AU2", "outer brow raise: outer brow ends to the nose bridge", "dist", ((70, NOSE_BRIDGE), (300, NOSE_BRIDGE))),
    AU("AU4", "brow lower: between the two brow middles", "dist", ((105, 334),)),
    AU("AU5", "upper lid raise: upper to lower eyelid, both eyes", "dist", ((159, 145), (386, 374))),
    AU("AU6", "cheek raise: lower eyelid to the same side's mouth corner", "dist", ((145, 61), (374, 291))),
    AU("AU7", "lid tighten: 1 / (AU5 + eps)", "inverse", of="AU5"),
    AU("AU9", "nose wrinkle: between the nose wings", "dist", ((129, 358),)),
    AU("AU10", "upper lip raise: upper lip (outer) to the nose tip", "dist", ((0, NOSE_TIP),)),
    AU("AU12", "lip corner pull: mouth corners to the nose tip", "dist", tuple((c, NOSE_TIP) for c in MOUTH_CORNERS)),
    AU("AU14", "dimple: 1 / (AU12 + eps)", "inverse", of="AU12"),
    AU("AU15", "lip corner depress: 0.8 x AU14", "scale", of="AU14", factor=0.8),
    AU("AU17", "chin raise: lower lip (outer) to the nose tip", "dist", ((17, NOSE_TIP),)),
    AU("AU20", "lip stretch: between the mouth corners", "dist", ((61, 291),)),
    AU("AU23", "lip tighten: 1 / (outer upper lip to outer lower lip + eps)", "inverse", pairs=((0, 17),)),
    AU("AU25", "lips part: inner upper lip to inner lower lip", "dist", ((13, 14),)),
    AU("AU26", "jaw drop: 1.2 x AU25", "scale", of="AU25", factor=1.2),
    AU("AU28", "lip suck: 1 / (AU20 + eps)", "inverse", of="AU20"),
)
AU_NAMES: tuple[str, ...] = tuple(au.name for au in AU_TABLE)


def _distance(points: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Mean distance over ``pairs`` for each frame: points (n, 468, 2) -> (n,)."""
    i, j = np.array(pairs).T
    return np.linalg.norm(points[:, i] - points[:, j], axis=-1).mean(axis=1)


def raw_aus(landmarks: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """The 17 AUs before the per-frame max normalisation: (n, 468, 3) -> float64 (n, 17).

    ``aspect`` is the frame's width / height (Face Mesh normalises x by width, y by height).
    Meant for frames with a face; ``compute_aus`` handles frames without one.
    """
    points = landmarks[..., :2].astype(np.float64) * np.array([aspect, 1.0])
    scale = _distance(points, (SCALE_PAIR,))
    values: dict[str, np.ndarray] = {}
    for au in AU_TABLE:
        base = _distance(points, au.pairs) / (scale + EPS) if au.pairs else values[au.of]
        if au.op == "dist":
            values[au.name] = base
        elif au.op == "inverse":
            values[au.name] = 1.0 / (base + EPS)
        elif au.op == "scale":
            values[au.name] = au.factor * base
        else:
            raise ValueError(f"unknown AU op {au.op!r} for {au.name}")
    return np.stack([values[name] for name in AU_NAMES], axis=1)


def compute_aus(landmarks: np.ndarray, face_found: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """AUs per frame, each frame divided by (its max + eps): float32 (n, 17) in [0, 1]."""
    out = np.zeros((len(landmarks), len(AU_TABLE)), np.float32)
    found = np.asarray(face_found, bool)
    if found.any():
        raw = raw_aus(landmarks[found], aspect)
        out[found] = raw / (raw.max(axis=1, keepdims=True) + EPS)
    return out
