"""The standard clip: which frames, at what times, with what audio (docs/method.md §1).

The frame timeline (times, count, average rate) comes from the PyAV probe, which also rejects
bad files before a frame decoder sees them; frames decode lazily, chunk by chunk, through
NVDEC (PyNvVideoCodec) where they decode on the GPU and PyAV on the CPU (``backend="auto"``,
the default).

Why not decord on the CPU too: its reader pushes packets to its decoding thread faster than it
takes frames back, so the frames a caller has not asked for yet pile up in its queue while the
caller works on a chunk (dmlc/decord#157 and #304): a 40-s 1080p clip peaked at 2441 MiB through
the front end with decord and 349 MiB with PyAV, which was also faster (12.2 s vs 16.2 s), and
a 60-s cap holds up to 9 GB of decoded 1080p frames (docs/media.md, "Frame backends"). Both
give the same frames (the 23 shared clips' signals-only rows were identical but for one 10-bit
HEVC, whose frames are 0.19 grey levels apart on average, and one edit-list clip the probe now
reads right).

Variable frame rate: the step rule uses the average frame rate (frames / duration) and the
frame indices count decoded frames, as the seed did; ``frame_times`` are the chosen frames'
presentation times, so later stages can align audio by time instead of assuming 25 fps. Times
count from the first frame, the same origin as the audio (sample 0 is the first frame's
presentation time).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import decord
import numpy as np

from tqscore.layout import FPS, SAMPLE_RATE, T
from tqscore.media import frames
from tqscore.media.audio import decode_audio, fit_length
from tqscore.media.errors import MediaError
from tqscore.media.probe import Probe, probe
from tqscore.media.sampling import SIGNAL_SPAN_S, frame_step, sample_indices, signal_indices

log = logging.getLogger(__name__)

_VFR_TOLERANCE = 0.1  # relative spread of frame durations above which a clip counts as VFR
_VFR_MIN_SPREAD_S = 0.002  # below this the spread is timestamp rounding (e.g. 33/34 ms in MKV)


@dataclass(frozen=True)
class ClipInfo:
    path: str
    width: int  # displayed size, after rotation
    height: int
    fps: float  # average source frame rate
    n_source_frames: int
    duration_s: float  # first frame's start to last frame's end
    rotation: int  # counter-clockwise degrees applied for display: 0, 90, 180 or 270
    video_codec: str
    variable_frame_rate: bool
    has_audio: bool
    audio_duration_s: float  # the source audio stream's length; 0.0 without audio


@dataclass
class StandardClip:
    info: ClipInfo
    frame_indices: np.ndarray  # int64 (n_valid,)
    frame_times: np.ndarray  # float64 (n_valid,) seconds from the first frame
    frame_mask: np.ndarray  # uint8 (T,)
    audio: np.ndarray  # float32, 16 kHz mono, round(duration_s * 16000) samples
    # The dense signal pass (sampling.signal_indices): consecutive frames at the step rule's rate
    # over the first SIGNAL_SPAN_S seconds; the standard frames inside that span are among them.
    signal_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    signal_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    signal_fps: float = FPS  # rate of the dense frames: fps / frame_step(fps)
    signal_span_s: float = 0.0  # seconds of the clip the dense pass covers: min(duration, SIGNAL_SPAN_S)
    _frames: object = field(default=None, repr=False, compare=False)  # DecordFrames, PyAVFrames or NvdecFrames

    @property
    def n_valid(self) -> int:
        return len(self.frame_indices)

    def iter_frames(self, chunk: int = 32) -> Iterator[np.ndarray]:
        """The selected frames in order, uint8 RGB ``(k, H, W, 3)``, at most ``chunk`` at a time."""
        return self.iter_frames_at(self.frame_indices, chunk)

    def iter_frames_at(self, frame_indices: np.ndarray, chunk: int = 32) -> Iterator[np.ndarray]:
        """The frames at increasing source ``frame_indices``, uint8 RGB ``(k, H, W, 3)``, at most
        ``chunk`` at a time (the front end decodes the standard and the dense frames in one go)."""
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        if self._frames is None:
            raise ValueError(f"{self.info.path}: clip is closed")
        for start in range(0, len(frame_indices), chunk):
            indices = frame_indices[start : start + chunk]
            batch = np.empty((len(indices), self.info.height, self.info.width, 3), dtype=np.uint8)
            for j, index in enumerate(indices.tolist()):
                batch[j] = self._frames.frame(index)
            yield batch

    def close(self) -> None:
        """Release the decoder (file handle and buffers); the metadata and audio stay."""
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    def __enter__(self) -> StandardClip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@lru_cache(maxsize=1)
def _warn_cpu_fallback() -> None:
    # DEBUG: the normal case on every CPU machine, not a problem to act on; a batch run says it
    # once, at INFO, from its main process instead of once per worker.
    log.debug("no GPU decoding here (PyNvVideoCodec and an NVIDIA GPU); decoding on the CPU")


def _is_vfr(starts: np.ndarray) -> bool:
    if len(starts) < 3:
        return False
    steps = np.diff(starts)
    median = float(np.median(steps))
    spread = float(steps.max() - steps.min())
    return median > 0 and spread > max(_VFR_MIN_SPREAD_S, _VFR_TOLERANCE * median)


def _displayed(pr: Probe) -> tuple[int, int]:
    """(height, width) as shown."""
    if pr.rotation in (90, 270):
        return pr.coded_width, pr.coded_height
    return pr.coded_height, pr.coded_width


def decodes_on_gpu(decode_device: str) -> bool:
    """Whether frames decode on the GPU: "cuda" (NVDEC must be there), or "auto" where it is."""
    if decode_device == "cpu":
        return False
    if decode_device == "cuda" or frames.gpu_decoding_available():
        return True
    _warn_cpu_fallback()
    return False


def _frame_source(path: Path, pr: Probe, decode_device: str, backend: str):
    gpu = decodes_on_gpu(decode_device)
    if backend == "auto":
        backend = frames.GPU_BACKEND if gpu else "pyav"
    if backend not in (*frames.BACKENDS, frames.GPU_BACKEND):
        raise ValueError(f"backend must be one of ('auto', *{frames.BACKENDS}, {frames.GPU_BACKEND!r}), got {backend!r}")
    if backend != frames.GPU_BACKEND:
        if decode_device == "cuda":
            raise ValueError(f"backend={backend!r} decodes on the CPU; use backend='nvdec' (or 'auto') for decode_device='cuda'")
        if backend == "pyav":
            return frames.PyAVFrames(path, pr.n_frames, pr.rotation)
        return _decord_frames(path, pr)
    return _nvdec_frames(path, pr, decode_device)


def _nvdec_frames(path: Path, pr: Probe, decode_device: str):
    from tqscore.media.nvdec import NvdecFrames

    if not frames.gpu_decoding_available():
        raise RuntimeError("decode_device='cuda' needs GPU decoding: PyNvVideoCodec (pip install PyNvVideoCodec) "
                           "and a usable NVIDIA GPU; use 'cpu' or 'auto'")
    try:
        source = NvdecFrames(path, _displayed(pr), pr.rotation)
    except MediaError as exc:
        if decode_device == "cuda":
            raise
        # The probe decoded this file with PyAV, so it is not broken: NVDEC lacks the codec or profile.
        log.warning("%s: NVDEC cannot decode this %s stream (%s); decoding it with PyAV", path, pr.video_codec, exc.cause)
        return frames.PyAVFrames(path, pr.n_frames, pr.rotation)
    return _checked_count(path, source, pr, "NVDEC")


def _decord_frames(path: Path, pr: Probe):
    try:
        source = frames.DecordFrames(path, decord.cpu(0), _displayed(pr), pr.rotation)
    except MediaError as exc:
        # The probe decoded this file with PyAV, so it is not broken: decord's FFmpeg 4.1 lacks
        # newer codecs (AV1, measured). PyAV decodes the same frames.
        log.warning(
            "%s: decord cannot decode this %s stream (%s); decoding it with PyAV", path, pr.video_codec, exc.cause
        )
        return frames.PyAVFrames(path, pr.n_frames, pr.rotation)
    return _checked_count(path, source, pr, "decord")


def _checked_count(path: Path, source, pr: Probe, name: str):
    if source.n_frames != pr.n_frames:
        log.warning("%s: %s indexes %d frames, the container %d; using the first %d",
                    path, name, source.n_frames, pr.n_frames, min(source.n_frames, pr.n_frames))
    return source


def open_clip(path: str | os.PathLike, *, decode_device: str = "cpu", backend: str = "auto") -> StandardClip:
    """Turn a video file into the seed's standard clip (docs/method.md §1). Frames decode lazily.

    ``backend``: "auto" (NVDEC on the GPU, PyAV on the CPU: see the module docstring), "decord",
    "pyav" (the CPU) or "nvdec" (the GPU).

    Raises MediaError for empty, unreadable, truncated, corrupt or non-video files, RuntimeError
    when ``decode_device="cuda"`` is asked where NVDEC cannot decode (no PyNvVideoCodec or no
    GPU), ValueError for an unknown ``decode_device`` or ``backend``.
    """
    path = Path(path)
    if decode_device not in frames.DECODE_DEVICES:
        raise ValueError(f"decode_device must be one of {frames.DECODE_DEVICES}, got {decode_device!r}")
    pr = probe(path)
    audio, has_audio, audio_duration = decode_audio(path, start_s=pr.video_start_s)
    source = _frame_source(path, pr, decode_device, backend)
    n = min(source.n_frames, pr.n_frames)
    starts = pr.frame_starts[:n]
    duration = float(pr.frame_ends[n - 1] - starts[0])
    if not duration > 0:  # every packet stamped alike (a broken muxer): fall back on the nominal rate
        duration = n / (pr.average_rate or FPS)
    vfr = _is_vfr(starts)
    fps = pr.average_rate if pr.average_rate > 0 and not vfr and n == pr.n_frames else n / duration
    indices = sample_indices(n, fps)
    dense = signal_indices(starts, fps)
    mask = np.zeros(T, dtype=np.uint8)
    mask[: len(indices)] = 1
    height, width = _displayed(pr)
    info = ClipInfo(
        path=str(path),
        width=width,
        height=height,
        fps=fps,
        n_source_frames=n,
        duration_s=duration,
        rotation=pr.rotation,
        video_codec=pr.video_codec,
        variable_frame_rate=vfr,
        has_audio=has_audio,
        audio_duration_s=audio_duration,
    )
    return StandardClip(
        info=info,
        frame_indices=indices,
        frame_times=starts[indices] - starts[0],
        frame_mask=mask,
        audio=fit_length(audio, int(round(duration * SAMPLE_RATE))),
        signal_indices=dense,
        signal_times=starts[dense] - starts[0],
        signal_fps=fps / frame_step(fps),
        signal_span_s=min(duration, SIGNAL_SPAN_S),
        _frames=source,
    )
