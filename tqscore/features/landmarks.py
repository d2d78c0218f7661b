"""MediaPipe Face Mesh landmarks: 468 x 3 points per frame (docs/method.md §4).

MediaPipe 0.10.21 is the last wheel that bundles the Face Mesh model (``mp.solutions``), so no
weights need downloading; it runs on the CPU at a few milliseconds per frame. The tracker runs
in video mode (``static_image_mode=False``): after the first detection it follows the face from
frame to frame, which is both faster and steadier than detecting on every frame. One tracker
per clip, because tracking state must not leak from one clip into the next.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

import numpy as np

from tqscore.layout import N_LANDMARKS

# MediaPipe's C++ graph and TFLite write INFO/WARNING lines straight to file descriptor 2 when a
# graph starts (XNNPACK delegate, feedback manager); environment variables do not reach them.
_STDERR_LOCK = threading.Lock()
# A non-square frame's first face adds one more line (landmark_projection_calculator), once per process.
_first_face_seen = False


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send fd 2 to /dev/null while a graph starts; Python exceptions still propagate."""
    with _STDERR_LOCK:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


@dataclass(frozen=True)
class FaceMeshConfig:
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5


class FaceMeshTracker:
    """Face Mesh over the frames of ONE clip, in order. Use as a context manager.

    ``process(frames)`` may be called repeatedly with consecutive chunks; tracking carries over
    between chunks of the same clip.
    """

    def __init__(self, config: FaceMeshConfig = FaceMeshConfig()):
        self.config = config
        self._mesh = None

    def __enter__(self) -> FaceMeshTracker:
        import mediapipe as mp

        with _quiet_native_stderr():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False,
                max_num_faces=1,
                refine_landmarks=False,
                min_detection_confidence=self.config.min_detection_confidence,
                min_tracking_confidence=self.config.min_tracking_confidence,
            )
            # The graph's threads log on the first frame; run one blank frame while muted. A
            # blank frame has no face, so the tracker state afterwards is "detect anew".
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))
        return self

    def __exit__(self, *exc) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def process(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """frames uint8 (k, H, W, 3) RGB -> landmarks float32 (k, 468, 3), face_found bool (k,)."""
        if self._mesh is None:
            raise RuntimeError("FaceMeshTracker must be used inside a 'with' block")
        k = len(frames)
        landmarks = np.zeros((k, N_LANDMARKS, 3), np.float32)
        found = np.zeros(k, bool)
        global _first_face_seen
        for i, frame in enumerate(frames):
            if _first_face_seen:
                result = self._mesh.process(np.ascontiguousarray(frame))
            else:
                with _quiet_native_stderr():
                    result = self._mesh.process(np.ascontiguousarray(frame))
            if result.multi_face_landmarks:
                _first_face_seen = True
                points = result.multi_face_landmarks[0].landmark
                landmarks[i] = [(p.x, p.y, p.z) for p in points]
                found[i] = True
        return landmarks, found


def face_mesh(frames: np.ndarray, config: FaceMeshConfig = FaceMeshConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of one clip's frames (all in memory); see ``FaceMeshTracker`` for chunked use."""
    with FaceMeshTracker(config) as tracker:
        return tracker.process(frames)
