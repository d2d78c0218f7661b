"""The first frames of one real shared clip and their Face Mesh landmarks, for the signal tests
that need a real face (head pose, expression, picture quality) next to hand-built inputs."""

from __future__ import annotations

from functools import lru_cache

import av
import numpy as np

from tqscore.features.landmarks import FaceMeshTracker
from tqscore.testing import MEDIA

CLIP = MEDIA / "real" / "WDA_AlexandriaOcasioCortez_000.mp4"


@lru_cache(maxsize=2)
def real_face(n_frames: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frames uint8 (n, H, W, 3) RGB, landmarks (n, 468, 3), found (n,), times (n,) seconds)."""
    frames, times = [], []
    with av.open(str(CLIP)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time))
            if len(frames) == n_frames:
                break
    frames = np.stack(frames)
    with FaceMeshTracker() as tracker:
        landmarks, found = tracker.process(frames)
    return frames, landmarks, found, np.asarray(times)
