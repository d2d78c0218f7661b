"""The seed's frame sampling rule (SPEC item 1)."""

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
