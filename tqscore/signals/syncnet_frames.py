"""SyncNet's own frames: a run of consecutive 25-fps face crops.

SyncNet compares 5 consecutive frames at 25 fps with the 0.2 s of audio they span. The
standard clip of a video longer than 6 s (or of a 30- or 50-fps video) holds sampled frames
instead, so for those clips the frames are decoded again on a 25-fps grid over the first
``MAX_SECONDS``: at each grid time the frame on screen then (what syncnet_python's
``ffmpeg -r 25`` conversion gives), followed by Face Mesh and the crop tracker of
``tqscore.features``, configured as ``run_frontend`` configures them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tqscore.layout import FPS, T

MAX_SECONDS = T / FPS  # 6 s: SyncNet scores as many frames as a standard clip holds


def is_25fps_run(frame_times: np.ndarray) -> bool:
    steps = np.diff(np.asarray(frame_times, np.float64))
    return len(steps) > 0 and bool(np.all(np.abs(steps - 1.0 / FPS) < 2e-3))


def grid_indices(frame_starts: np.ndarray, duration_s: float, max_seconds: float = MAX_SECONDS):
    """(source frame index, grid time) for a 25-fps grid from the first frame: the last frame
    that starts at or before each grid time."""
    starts = np.asarray(frame_starts, np.float64) - frame_starts[0]
    grid = np.arange(0.0, min(duration_s, max_seconds) - 1e-9, 1.0 / FPS)
    indices = np.searchsorted(starts, grid + 1e-6, side="right") - 1
    return np.clip(indices, 0, len(starts) - 1).astype(np.int64), grid


def consecutive_crops(path: str | Path, chunk: int = 32):
    """(crops uint8 (n, 224, 224, 3) RGB, times (n,), face_found (n,)) on the 25-fps grid.

    Raises MediaError for a file that cannot be decoded.
    """
    from tqscore.features.crops import CropTracker
    from tqscore.features.landmarks import FaceMeshTracker
    from tqscore.media import open_clip
    from tqscore.media.probe import probe

    starts = probe(Path(path)).frame_starts
    with open_clip(path) as clip:
        indices, times = grid_indices(starts[: clip.info.n_source_frames], clip.info.duration_s)
        run = dataclasses.replace(clip, frame_indices=indices, frame_times=times)
        cropper = CropTracker(clip.info.width, clip.info.height)
        crops, found = [], []
        with FaceMeshTracker() as tracker:
            for frames in run.iter_frames(chunk=chunk):
                landmarks, chunk_found = tracker.process(frames)
                crops.append(cropper.crop(frames, landmarks, chunk_found))
                found.append(chunk_found)
    return np.concatenate(crops), times, np.concatenate(found)
