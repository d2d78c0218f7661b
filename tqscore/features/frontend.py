"""The CPU front end of one clip: decode, Face Mesh, AUs and crops in ONE pass.

Frames are decoded once, chunk by chunk, and every per-frame product is made from the chunk
while it is in memory, so a clip never holds all its frames at once. The result carries no
frames, only what later stages need: the extract command and the runtime's worker processes
both call ``run_frontend`` and then feed its crops and audio to the backbones.
``streams_from_frontend`` turns that into the layout's four (T, width) streams and masks.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from tqscore.features.aus import compute_aus
from tqscore.features.crops import CROP_SIZE, CropConfig, CropTracker, normalize
from tqscore.features.landmarks import FaceMeshConfig, FaceMeshTracker
from tqscore.layout import FACE_MASK, FEATURE_DTYPE, FRAME_MASK, MASK_DTYPE, N_LANDMARKS, T
from tqscore.media import StandardClip, open_clip


@dataclass
class Frontend:
    """Per-frame products of one clip; n = clip.n_valid rows each (no padding yet)."""

    clip: StandardClip  # closed: metadata, frame times, mask and audio, no decoder
    landmarks: np.ndarray  # float32 (n, 468, 3)
    face_found: np.ndarray  # bool (n,)
    aus: np.ndarray  # float32 (n, 17)
    crops: np.ndarray  # uint8 (n, 224, 224, 3) RGB
    crop_kinds: np.ndarray  # uint8 (n,): crops.CROP_FACE / CROP_HELD / CROP_CENTRE
    timings_ms: dict[str, float] = field(default_factory=dict)  # open, decode, facemesh, crops, aus


def run_frontend(
    path: str | os.PathLike,
    *,
    decode_device: str = "cpu",
    chunk: int = 32,
    face_mesh: FaceMeshConfig = FaceMeshConfig(),
    crop: CropConfig = CropConfig(),
) -> Frontend:
    """Decode ``path`` and compute its per-frame features. Raises MediaError for bad files."""
    timings = dict.fromkeys(("open", "decode", "facemesh", "crops", "aus"), 0.0)
    with _timed(timings, "open"):
        clip = open_clip(path, decode_device=decode_device)
    n = clip.n_valid
    landmarks = np.zeros((n, N_LANDMARKS, 3), np.float32)
    found = np.zeros(n, bool)
    crops = np.zeros((n, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    cropper = CropTracker(clip.info.width, clip.info.height, crop)
    with clip, FaceMeshTracker(face_mesh) as tracker:
        frames_iter = clip.iter_frames(chunk=chunk)
        row = 0
        while True:
            with _timed(timings, "decode"):
                frames = next(frames_iter, None)
            if frames is None:
                break
            rows = slice(row, row + len(frames))
            with _timed(timings, "facemesh"):
                landmarks[rows], found[rows] = tracker.process(frames)
            with _timed(timings, "crops"):
                crops[rows] = cropper.crop(frames, landmarks[rows], found[rows])
            row += len(frames)
    with _timed(timings, "aus"):
        aus = compute_aus(landmarks, found, aspect=clip.info.width / clip.info.height)
    return Frontend(
        clip=clip,
        landmarks=landmarks,
        face_found=found,
        aus=aus,
        crops=crops,
        crop_kinds=np.asarray(cropper.kinds, np.uint8),
        timings_ms={k: round(v * 1000, 3) for k, v in timings.items()},
    )


@contextmanager
def _timed(timings: dict[str, float], key: str):
    """Add the block's wall time (seconds) to ``timings[key]``."""
    tick = time.perf_counter()
    try:
        yield
    finally:
        timings[key] += time.perf_counter() - tick


def pad_to_layout(values: np.ndarray, frame_mask: np.ndarray) -> np.ndarray:
    """(n_valid, width) rows placed at the mask's valid frames of a zero (T, width) array."""
    out = np.zeros((T, values.shape[1]), FEATURE_DTYPE)
    out[frame_mask.astype(bool)] = values
    return out


def streams_from_frontend(frontend: Frontend, visual_backbone, audio_backbone) -> dict[str, np.ndarray]:
    """The record's arrays: the four streams (T, width) float32 and the two (T,) uint8 masks.

    Backbone times are added to ``frontend.timings_ms`` under "resnet" and "hubert".
    """
    clip = frontend.clip
    n = clip.n_valid
    seconds = {"resnet": 0.0, "hubert": 0.0}
    with _timed(seconds, "resnet"):
        visual = visual_backbone(normalize(frontend.crops))
    with _timed(seconds, "hubert"):
        audio = audio_backbone.at_times(clip.audio, clip.frame_times)
    frontend.timings_ms.update({k: round(v * 1000, 3) for k, v in seconds.items()})
    mask = clip.frame_mask
    face_mask = np.zeros(T, MASK_DTYPE)
    face_mask[mask.astype(bool)] = frontend.face_found
    return {
        "visual": pad_to_layout(visual, mask),
        "audio": pad_to_layout(audio, mask),
        "landmarks": pad_to_layout(frontend.landmarks.reshape(n, N_LANDMARKS * 3), mask),
        "aus": pad_to_layout(frontend.aus, mask),
        FRAME_MASK: mask.astype(MASK_DTYPE),
        FACE_MASK: face_mask,
    }
