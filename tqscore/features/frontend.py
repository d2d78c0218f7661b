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
landmarks, one number per consecutive frame pair (the frozen-frame test's picture difference)
and whatever the frame observers summarise (``tqscore.signals.frame_observers``: accumulators
that see each chunk of dense frames). The standard and the dense products are two small
accumulators (``_StandardPass``, ``_DensePass``) fed the same chunks and the same landmarks.
``streams_from_frontend`` turns the standard products into the layout's four (T, width) streams.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from tqscore.features.aus import compute_aus
from tqscore.features.crops import CROP_SIZE, CropConfig, CropTracker, crop_square, normalize
from tqscore.features.landmarks import FaceMeshConfig, FaceMeshTracker
from tqscore.layout import FACE_MASK, FEATURE_DTYPE, FPS, FRAME_MASK, MASK_DTYPE, N_LANDMARKS, T
from tqscore.media import StandardClip, open_clip

THUMB_SIZE = 64  # side of the grey face thumbnails the frozen-frame test compares (tqscore.signals.face)
# Bytes of decoded frames held per chunk, at most. Measured with run_frontend alone on
# demo1_video (1080x1920): chunks of 32 frames (200 MB) peak at 1.76 GB RSS, chunks of 8 (50 MB)
# at 0.98 GB, with identical outputs and no measurable time difference (decode and Face Mesh work
# frame by frame). 512x512 clips keep chunks of 32.
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


@dataclass(frozen=True)
class FrontendOptions:
    """How ``run_frontend`` decodes and what it makes besides the signals' dense pass."""

    decode_device: str = "cpu"  # "cpu", "cuda" or "auto" (tqscore.media.open_clip)
    chunk: int = 32  # frames decoded at a time, at most (fewer where they would exceed CHUNK_BYTES)
    face_mesh: FaceMeshConfig = FaceMeshConfig()
    crop: CropConfig = CropConfig()
    # Keep the 224x224 crops of the dense frames of the first SYNCNET_RUN_S seconds when the
    # dense rate is 25 fps, so SyncNet needs no second decode.
    syncnet_run: bool = False
    # Make the standard frames' 224x224 crops (the model's visual input, and SyncNet's fallback
    # run); False leaves ``crops`` and ``crop_kinds`` None and saves about 1 ms a standard frame
    # and the frames' copies (docs/signals.md, "Cost").
    model_inputs: bool = True


def run_frontend(path: str | os.PathLike, options: FrontendOptions | None = None, *,
                 observers: Sequence | None = None, **overrides) -> Frontend:
    """Decode ``path`` and compute its per-frame features. Raises MediaError for bad files.

    ``options`` (default ``FrontendOptions()``), with any of its fields overridden by keyword
    (``run_frontend(path, model_inputs=False)``). ``observers``: objects with
    ``update(frames, landmarks, found)`` fed each chunk of dense frames (uint8 (k, H, W, 3) RGB);
    default ``tqscore.signals.frame_observers(width, height)``.
    """
    options = replace(options or FrontendOptions(), **overrides)
    timings = dict.fromkeys(("open", "decode", "facemesh_start", "facemesh", "crops", "aus", "observers"), 0.0)
    with _timed(timings, "open"):
        clip = open_clip(path, decode_device=options.decode_device)
    if observers is None:
        from tqscore.signals import frame_observers

        observers = frame_observers(clip.info.width, clip.info.height)
    standard = _StandardPass(clip, options)
    dense = _DensePass(clip, options, list(observers))
    union = np.union1d(clip.frame_indices, clip.signal_indices)
    is_standard, is_dense = np.isin(union, clip.frame_indices), np.isin(union, clip.signal_indices)
    frame_bytes = clip.info.width * clip.info.height * 3
    with clip, _timed_context(timings, "facemesh_start", FaceMeshTracker(options.face_mesh)) as tracker:
        frames_iter = clip.iter_frames_at(union, chunk=max(1, min(options.chunk, CHUNK_BYTES // frame_bytes)))
        pos = 0
        while True:
            with _timed(timings, "decode"):
                frames = next(frames_iter, None)
            if frames is None:
                break
            with _timed(timings, "facemesh"):
                landmarks, found = tracker.process(frames)
            chunk = slice(pos, pos + len(frames))
            standard.add(frames, landmarks, found, is_standard[chunk], timings)
            dense.add(frames, landmarks, found, is_dense[chunk], timings)
            pos = chunk.stop
            del frames  # before the next chunk is decoded, so two chunks are never held at once
    with _timed(timings, "aus"):
        aus = compute_aus(standard.landmarks, standard.found, aspect=clip.info.width / clip.info.height)
    return Frontend(
        clip=clip,
        landmarks=standard.landmarks,
        face_found=standard.found,
        aus=aus,
        crops=standard.crops,
        crop_kinds=np.asarray(standard.cropper.kinds, np.uint8) if options.model_inputs else None,
        signal=dense.result(clip),
        timings_ms={k: round(v * 1000, 3) for k, v in timings.items()},
    )


class _StandardPass:
    """The standard frames' landmarks and (when ``model_inputs``) crops, filled chunk by chunk."""

    def __init__(self, clip: StandardClip, options: FrontendOptions):
        n = clip.n_valid
        self.landmarks = np.zeros((n, N_LANDMARKS, 3), np.float32)
        self.found = np.zeros(n, bool)
        self.crops = np.zeros((n, CROP_SIZE, CROP_SIZE, 3), np.uint8) if options.model_inputs else None
        self.cropper = CropTracker(clip.info.width, clip.info.height, options.crop)
        self.row = 0

    def add(self, frames: np.ndarray, landmarks: np.ndarray, found: np.ndarray, mine: np.ndarray,
            timings: dict[str, float]) -> None:
        """One decoded chunk; ``mine`` marks its standard frames."""
        rows = slice(self.row, self.row + int(mine.sum()))
        self.landmarks[rows], self.found[rows] = landmarks[mine], found[mine]
        if self.crops is not None:
            with _timed(timings, "crops"):
                self.crops[rows] = self.cropper.crop(frames[mine], self.landmarks[rows], self.found[rows])
        self.row = rows.stop


class _DensePass:
    """The dense frames' products, filled chunk by chunk: landmarks, the frozen-frame test's
    picture difference of each consecutive pair, SyncNet's run of crops, and the observers."""

    def __init__(self, clip: StandardClip, options: FrontendOptions, observers: list):
        m = len(clip.signal_indices)
        keep_run = options.syncnet_run and abs(clip.signal_fps - FPS) < 1e-3
        self.n_run = int(np.sum(clip.signal_times < SYNCNET_RUN_S - 1e-9)) if keep_run else 0
        self.run_crops = np.zeros((self.n_run, CROP_SIZE, CROP_SIZE, 3), np.uint8) if keep_run else None
        self.landmarks = np.zeros((m, N_LANDMARKS, 3), np.float32)
        self.found = np.zeros(m, bool)
        self.pair_mad = np.zeros(max(m - 1, 0), np.float32)
        self.boxes = CropTracker(clip.info.width, clip.info.height, options.crop)
        self.observers = observers
        self.previous = None  # the last dense frame seen (RGB), across chunks
        self.row = 0

    def add(self, frames: np.ndarray, landmarks: np.ndarray, found: np.ndarray, mine: np.ndarray,
            timings: dict[str, float]) -> None:
        """One decoded chunk; ``mine`` marks its dense frames."""
        if not mine.any():
            return
        rows = slice(self.row, self.row + int(mine.sum()))
        dense_frames = frames if mine.all() else frames[mine]
        self.landmarks[rows], self.found[rows] = landmarks[mine], found[mine]
        with _timed(timings, "crops"):
            self._pairs_and_run(dense_frames, rows)
        with _timed(timings, "observers"):
            for observer in self.observers:
                observer.update(dense_frames, self.landmarks[rows], self.found[rows])
        self.row = rows.stop

    def _pairs_and_run(self, dense_frames: np.ndarray, rows: slice) -> None:
        for i, frame in zip(range(rows.start, rows.stop), dense_frames):
            box = self.boxes.next_box(self.landmarks[i], bool(self.found[i]))
            if self.previous is not None:
                self.pair_mad[i - 1] = np.abs(_thumb(frame, box).astype(np.int16) - _thumb(self.previous, box)).mean()
            self.previous = frame
            if i < self.n_run:
                self.run_crops[i] = crop_square(frame, box)
        # A copy, not a view: a view would keep this whole chunk alive while the next one is
        # decoded (one 6-MB frame at 1080p instead of up to 64 MiB).
        self.previous = self.previous.copy()

    def result(self, clip: StandardClip) -> SignalFrames:
        return SignalFrames(
            times=np.asarray(clip.signal_times, np.float64),
            landmarks=self.landmarks,
            face_found=self.found,
            pair_mad=self.pair_mad,
            fps=clip.signal_fps,
            span_s=clip.signal_span_s,
            observers=self.observers,
            run_crops=self.run_crops,
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
