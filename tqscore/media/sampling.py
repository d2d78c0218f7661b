"""The seed's frame sampling rule (docs/method.md §1) and the frames of the dense signal pass."""

from __future__ import annotations

import numpy as np

from tqscore.layout import FPS, T


def frame_step(fps: float) -> int:
    # Python's round (half to even) as the seed used it: round(0.5) == 0, hence the max.
    return max(1, round(fps / FPS))


def sample_indices(n_frames: int, fps: float) -> np.ndarray:
    """Source frame indices of the standard clip: every step-th frame, then T of them uniformly.

    Returns int64 indices in increasing order, at most ``T`` of them; fewer when the clip is
    short (the caller pads and masks the rest).
    """
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    kept = np.arange(0, n_frames, frame_step(fps), dtype=np.int64)
    if len(kept) > T:
        kept = kept[np.round(np.linspace(0, len(kept) - 1, T)).astype(np.int64)]
    return kept


# Seconds from the start of a clip that the training-free signals read frame by frame. Face Mesh
# runs on every one of those frames (about 5-10 ms each on one core), so the cap bounds a
# worker's time and memory on a long file at about 1500-1800 frames. 60 s is long enough for
# the slowest statistics to settle: people blink 15-20 times a minute (Bentivoglio et al.,
# Movement Disorders 1997), and the sync estimator averages 4-s windows, 57 of them in 60 s.
# The generated clips of ../shared/corpus are 3-26 s, so the cap only touches long recordings.
SIGNAL_SPAN_S = 60.0


def signal_indices(frame_starts: np.ndarray, fps: float, span_s: float = SIGNAL_SPAN_S) -> np.ndarray:
    """Source frame indices of the dense signal pass: every step-th frame (the standard clip's
    step, so the standard frames inside the span are among them) that starts within the first
    ``span_s`` seconds. int64, increasing."""
    starts = np.asarray(frame_starts, np.float64)
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    kept = np.arange(0, len(starts), frame_step(fps), dtype=np.int64)
    return kept[starts[kept] - starts[0] < span_s]
