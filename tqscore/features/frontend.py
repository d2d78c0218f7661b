"""The CPU front end of one clip: decode, Face Mesh, AUs and crops in ONE pass, for the model's
standard clip and the signals' dense frames alike.

The model reads the 150-frame standard clip (docs/method.md §1); the training-free signals read the
dense pass, every frame at the step rule's rate over the first ``SIGNAL_SPAN_S`` seconds (a
blink or a lip movement lasts a few frames, and sync needs consecutive frames). The standard
frames inside that span are dense frames too, so the front end decodes the sorted union of both
sets once and runs ONE Face Mesh tracker over it, in order: tracking then sees consecutive
frames, which is what its video mode is made for (a standard frame's landmarks come from that
tracking, hence layout version 2). Crops and AUs are made for the standard frames only, and
the crops only when asked (``model_inputs``): a signals-only run has no model to feed them.

Frames are decoded chunk by chunk, and every per-frame product is made from the chunk while it
is in memory, so a clip never holds its frames (a chunk is let go before the next is decoded,
and the one frame the next chunk's first pair needs is copied out of it): the dense pass keeps
landmarks, one number per
consecutive frame pair (the frozen-frame test's picture difference) and whatever the frame observers summarise
(``tqscore.signals.frame_observers``: accumulators that see each chunk of dense frames).
``streams_from_frontend`` turns the standard products into the layout's four (T, width) streams.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import numpy as np

from tqscore.features.aus import compute_aus
from tqscore.features.crops import CROP_SIZE, CropConfig, CropTracker, crop_square, normalize
from tqscore.features.landmarks import FaceMeshConfig, FaceMeshTracker
from tqscore.layout import FACE_MASK, FEATURE_DTYPE, FPS, FRAME_MASK, MASK_DTYPE, N_LANDMARKS, T
from tqscore.media import StandardClip, open_clip

THUMB_SIZE = 64  # side of the grey face thumbnails the frozen-frame test compares (tqscore.signals.face)
# Decoded frames held per chunk, at most: 32 frames of a 1080x1920 clip are 200 MB, and with them
# the front end peaked at 1.76 GB RSS on demo1_video; chunks of 8 (50 MB) peaked at 0.98 GB
# (run_frontend alone, 2026-12-01), with identical outputs and no time difference this loaded
# machine could resolve (decode and Face Mesh work frame by frame). 512x512 clips keep 32.
CHUNK_BYTES = 64 * 2**20
SYNCNET_RUN_S = 6.0  # seconds of consecutive 224x224 crops kept for SyncNet (syncnet_frames.MAX_SECONDS)


@dataclass
class SignalFrames:
    """Per-frame products of the dense pass; m = len(times) rows each."""

    times: np.ndarray  # float64 (m,) seconds from the first frame
    landmarks: np.ndarray  # float32 (m, 468, 3)
    face_found: np.ndarray  # bool (m,)
    # float32 (m - 1,): mean |grey difference| of each dense frame's 64x64 face thumbnail and the
    # previous dense frame's, both cut at the frame's own box (tracked over the dense frames): one
    # box for both, so Face Mesh's jitter on a held picture does not move the crop between them.
    pair_mad: np.ndarray
    fps: float  # rate of the dense frames
    span_s: float  # seconds of the clip they cover
    observers: list = field(default_factory=list)  # frame observers, fed every dense chunk
    # 224x224 RGB crops of the dense frames of the first SYNCNET_RUN_S seconds when asked for and
    # the dense rate is 25 fps (SyncNet's 5-frame windows must span 0.2 s); else None.
    run_crops: np.ndarray | None = None


@dataclass
class Frontend:
    """Per-frame products of one clip; n = clip.n_valid rows each (no padding yet)."""

    clip: StandardClip  # closed: metadata, frame times, mask and audio, no decoder
    landmarks: np.ndarray  # float32 (n, 468, 3)
    face_found: np.ndarray  # bool (n,)
    aus: np.ndarray  # float32 (n, 17)
    # uint8 (n, 224, 224, 3) RGB and uint8 (n,) crops.CROP_FACE / CROP_HELD / CROP_CENTRE; None
    # when run_frontend was told the model inputs are not needed (model_inputs=False).
    crops: np.ndarray | None
    crop_kinds: np.ndarray | None
    signal: SignalFrames  # the dense pass the signals read
    # open, decode, facemesh_start (the graph's start and close), facemesh, crops, aus, observers
    timings_ms: dict[str, float] = field(default_factory=dict)


def run_frontend(
    path: str | os.PathLike,
    *,
    decode_device: str = "cpu",
    chunk: int = 32,
    face_mesh: FaceMeshConfig = FaceMeshConfig(),
    crop: CropConfig = CropConfig(),
    observers: Sequence | None = None,
    syncnet_run: bool = False,
    model_inputs: bool = True,
) -> Frontend:
    """Decode ``path`` and compute its per-frame features. Raises MediaError for bad files.

    ``chunk``: frames decoded at a time, at most (fewer where they would exceed ``CHUNK_BYTES``).
    ``observers``: objects with ``update(frames, landmarks, found)`` fed each chunk of dense
    frames (uint8 (k, H, W, 3) RGB); default ``tqscore.signals.frame_observers(width, height)``.
    ``syncnet_run``: keep the 224x224 crops of the dense frames of the first 6 s when the dense
    rate is 25 fps, so SyncNet needs no second decode.
    ``model_inputs``: make the standard frames' 224x224 crops (the model's visual input, and
    SyncNet's fallback run); False leaves ``crops`` and ``crop_kinds`` None and saves about
    1 ms a standard frame and the frames' copies (docs/signals.md, "Speed and memory").
    """
    timings = dict.fromkeys(("open", "decode", "facemesh_start", "facemesh", "crops", "aus", "observers"), 0.0)
    with _timed(timings, "open"):
        clip = open_clip(path, decode_device=decode_device)
    if observers is None:
        from tqscore.signals import frame_observers

        observers = frame_observers(clip.info.width, clip.info.height)
    n = clip.n_valid
    union = np.union1d(clip.frame_indices, clip.signal_indices)
    is_standard = np.isin(union, clip.frame_indices)
    is_dense = np.isin(union, clip.signal_indices)
    m = len(clip.signal_indices)
    keep_run = syncnet_run and abs(clip.signal_fps - FPS) < 1e-3
    n_run = int(np.sum(clip.signal_times < SYNCNET_RUN_S - 1e-9)) if keep_run else 0

    landmarks = np.zeros((n, N_LANDMARKS, 3), np.float32)
    found = np.zeros(n, bool)
    crops = np.zeros((n, CROP_SIZE, CROP_SIZE, 3), np.uint8) if model_inputs else None
    dense_landmarks = np.zeros((m, N_LANDMARKS, 3), np.float32)
    dense_found = np.zeros(m, bool)
    pair_mad = np.zeros(max(m - 1, 0), np.float32)
    previous = None  # the last dense frame seen (RGB), across chunks
    run_crops = np.zeros((n_run, CROP_SIZE, CROP_SIZE, 3), np.uint8) if keep_run else None
    cropper = CropTracker(clip.info.width, clip.info.height, crop)
    dense_boxes = CropTracker(clip.info.width, clip.info.height, crop)
    with clip, _timed_context(timings, "facemesh_start", FaceMeshTracker(face_mesh)) as tracker:
        frame_bytes = clip.info.width * clip.info.height * 3
        frames_iter = clip.iter_frames_at(union, chunk=max(1, min(chunk, CHUNK_BYTES // frame_bytes)))
        pos = row = dense_row = 0
        while True:
            with _timed(timings, "decode"):
                frames = next(frames_iter, None)
            if frames is None:
                break
            k = len(frames)
            std, dense = is_standard[pos : pos + k], is_dense[pos : pos + k]
            with _timed(timings, "facemesh"):
                chunk_landmarks, chunk_found = tracker.process(frames)
            rows = slice(row, row + int(std.sum()))
            landmarks[rows], found[rows] = chunk_landmarks[std], chunk_found[std]
            if model_inputs:
                with _timed(timings, "crops"):
                    crops[rows] = cropper.crop(frames[std], landmarks[rows], found[rows])
            if dense.any():
                drows = slice(dense_row, dense_row + int(dense.sum()))
                dense_frames = frames if dense.all() else frames[dense]
                dense_landmarks[drows], dense_found[drows] = chunk_landmarks[dense], chunk_found[dense]
                with _timed(timings, "crops"):
                    for i, frame in zip(range(drows.start, drows.stop), dense_frames):
                        box = dense_boxes.next_box(dense_landmarks[i], bool(dense_found[i]))
                        if previous is not None:
                            pair_mad[i - 1] = np.abs(_thumb(frame, box).astype(np.int16) - _thumb(previous, box)).mean()
                        previous = frame
                        if i < n_run:
                            run_crops[i] = crop_square(frame, box)
                    # A copy, not a view: a view would keep this whole chunk alive while the
                    # next one is decoded (one 6-MB frame at 1080p instead of up to 64 MiB).
                    previous = previous.copy()
                with _timed(timings, "observers"):
                    for observer in observers:
                        observer.update(dense_frames, dense_landmarks[drows], dense_found[drows])
                dense_row = drows.stop
                del dense_frames
            row, pos = rows.stop, pos + k
            del frames  # before the next chunk is decoded, so two chunks are never held at once
    with _timed(timings, "aus"):
        aus = compute_aus(landmarks, found, aspect=clip.info.width / clip.info.height)
    return Frontend(
        clip=clip,
        landmarks=landmarks,
        face_found=found,
        aus=aus,
        crops=crops,
        crop_kinds=np.asarray(cropper.kinds, np.uint8) if model_inputs else None,
        signal=SignalFrames(
            times=np.asarray(clip.signal_times, np.float64),
            landmarks=dense_landmarks,
            face_found=dense_found,
            pair_mad=pair_mad,
            fps=clip.signal_fps,
            span_s=clip.signal_span_s,
            observers=list(observers),
            run_crops=run_crops,
        ),
        timings_ms={k: round(v * 1000, 3) for k, v in timings.items()},
    )


def _thumb(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The 64 x 64 grey thumbnail of ``box`` (cx, cy, side) in an RGB frame, for the frozen-frame
    test: only the box's pixels are turned grey (a 1080p frame's full conversion would cost more
    than the crop) and area-averaged once to 64 x 64 (zeros outside the frame, as crop_square)."""
    cx, cy, side = (float(v) for v in box)
    height, width = frame.shape[:2]
    x0, y0 = max(int(np.floor(cx - side / 2)), 0), max(int(np.floor(cy - side / 2)), 0)
    x1, y1 = min(int(np.ceil(cx + side / 2)) + 1, width), min(int(np.ceil(cy + side / 2)) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((THUMB_SIZE, THUMB_SIZE), np.uint8)
    grey = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    return crop_square(grey, np.array([cx - x0, cy - y0, side]), THUMB_SIZE)


@contextmanager
def _timed(timings: dict[str, float], key: str):
    """Add the block's wall time (seconds) to ``timings[key]``."""
    tick = time.perf_counter()
    try:
        yield
    finally:
        timings[key] += time.perf_counter() - tick


@contextmanager
def _timed_context(timings: dict[str, float], key: str, manager):
    """``with manager``, its entry and exit timed under ``timings[key]``: Face Mesh's graph start
    and close are part of what Face Mesh costs a clip (20-200 ms measured; 0.7-2 s for a process's
    first graph, which ``runtime.analyse.worker_init`` pays), not time between the stages."""
    with _timed(timings, key):
        value = manager.__enter__()
    try:
        yield value
    finally:
        with _timed(timings, key):
            manager.__exit__(None, None, None)


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
