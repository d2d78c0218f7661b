"""The standard clip: which frames, at what times, with what audio; frames decoded by decord.

decord decodes the frames because it seeks and batch-decodes by index (``get_batch``) and can
decode on the GPU where it was built with CUDA (the PyPI wheel is CPU-only). The pinned wheel
(0.6.0) applies the display-matrix rotation itself (measured: 90/180/270); the frame shape is
checked against the rotation PyAV reports and the frames are turned here if a decord build
returns them unrotated.

Variable frame rate: the step rule uses the average frame rate (frames / duration) and the
frame indices count decoded frames, as the seed did; ``frame_times`` are decord's
presentation timestamps of the chosen frames, so later stages can align audio by time rather
than assume 25 fps. Times are measured from the first video frame, the same origin as the
audio (sample 0 is the first frame's presentation time).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import decord
import numpy as np

from tqscore.layout import SAMPLE_RATE, T
from tqscore.media.audio import decode_audio, fit_length
from tqscore.media.errors import MediaError
from tqscore.media.probe import Probe, probe
from tqscore.media.sampling import sample_indices

log = logging.getLogger(__name__)

DECODE_DEVICES = ("cpu", "cuda", "auto")
_VFR_TOLERANCE = 0.1  # relative spread of frame durations above which a clip counts as VFR


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
    _reader: decord.VideoReader | None = field(default=None, repr=False, compare=False)
    _turn: int = field(default=0, repr=False, compare=False)  # extra np.rot90 turns decord left undone

    @property
    def n_valid(self) -> int:
        return len(self.frame_indices)

    def iter_frames(self, chunk: int = 32) -> Iterator[np.ndarray]:
        """The selected frames in order, uint8 RGB ``(k, H, W, 3)``, at most ``chunk`` at a time."""
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        if self._reader is None:
            raise ValueError(f"{self.info.path}: clip is closed")
        for start in range(0, self.n_valid, chunk):
            indices = self.frame_indices[start : start + chunk].tolist()
            try:
                batch = self._reader.get_batch(indices).asnumpy()
            except decord.DECORDError as exc:
                raise MediaError(self.info.path, f"truncated or corrupt: {_decord_reason(exc)}") from None
            if self._turn:
                batch = np.ascontiguousarray(np.rot90(batch, self._turn, axes=(1, 2)))
            yield batch

    def close(self) -> None:
        """Release the decoder (file handle and buffers); the metadata and audio stay."""
        self._reader = None

    def __enter__(self) -> StandardClip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _decord_reason(exc: Exception) -> str:
    # decord prefixes messages with "[time] /path/to/source.cc:line: "; the rest is the reason.
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return "decord: " + re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", text)


@lru_cache(maxsize=1)
def decord_cuda_available() -> bool:
    """Whether this decord was built with CUDA and sees a GPU (the PyPI wheel is CPU-only)."""
    built = decord.get_global_func("device_api.gpu", True) is not None
    return built and bool(decord.gpu(0).exist)


@lru_cache(maxsize=1)
def _warn_cpu_fallback() -> None:
    log.warning("decord has no CUDA support in this install (the PyPI wheel is CPU-only); decoding on the CPU")


def decord_context(decode_device: str):
    """decord's decode context for "cpu", "cuda" (must exist) or "auto" (GPU when available)."""
    if decode_device not in DECODE_DEVICES:
        raise ValueError(f"decode_device must be one of {DECODE_DEVICES}, got {decode_device!r}")
    if decode_device == "cpu":
        return decord.cpu(0)
    if decord_cuda_available():
        return decord.gpu(0)
    if decode_device == "cuda":
        raise RuntimeError(
            "decode_device='cuda' but decord has no CUDA support (the PyPI wheel is CPU-only; "
            "build decord with -DUSE_CUDA=1) or no GPU is visible; use 'cpu' or 'auto'"
        )
    _warn_cpu_fallback()
    return decord.cpu(0)


def _is_vfr(starts: np.ndarray) -> bool:
    if len(starts) < 3:
        return False
    steps = np.diff(starts)
    median = float(np.median(steps))
    return median > 0 and float(steps.max() - steps.min()) > max(0.002, _VFR_TOLERANCE * median)


def _displayed_turn(path: Path, reader: decord.VideoReader, pr: Probe) -> tuple[int, int, int]:
    """(height, width, extra turns) so frames come out in display orientation."""
    h, w = (pr.coded_width, pr.coded_height) if pr.rotation in (90, 270) else (pr.coded_height, pr.coded_width)
    got = tuple(reader[0].shape[:2])
    if got == (h, w):
        return h, w, 0
    if pr.rotation in (90, 270) and got == (w, h):  # a decord build that ignores the display matrix
        return h, w, pr.rotation // 90
    raise MediaError(path, f"decord decodes {got[1]}x{got[0]} frames but the stream is {w}x{h}")


def open_clip(path: str | os.PathLike, *, decode_device: str = "cpu") -> StandardClip:
    """Turn a video file into the seed's standard clip (SPEC item 1). Frames decode lazily.

    Raises MediaError for empty, unreadable, truncated, corrupt or non-video files, and
    RuntimeError when ``decode_device="cuda"`` is asked of a decord without CUDA.
    """
    path = Path(path)
    ctx = decord_context(decode_device)
    pr = probe(path)
    try:
        reader = decord.VideoReader(str(path), ctx=ctx)
        n = len(reader)
        stamps = reader.get_frame_timestamp(np.arange(n)) if n else np.zeros((0, 2))
    except decord.DECORDError as exc:
        raise MediaError(path, f"truncated or corrupt: {_decord_reason(exc)}") from None
    if n == 0:
        raise MediaError(path, "truncated or corrupt: decord finds no frames")
    height, width, turn = _displayed_turn(path, reader, pr)
    # decord returns float32 seconds; microseconds are exact enough and keep 4.08 from reading 4.0799999
    stamps = np.round(stamps.astype(np.float64), 6)
    starts = stamps[:, 0]
    duration = float(stamps[-1, 1] - starts[0])
    vfr = _is_vfr(starts)
    avg_fps = float(reader.get_avg_fps())
    if vfr or not math.isfinite(avg_fps) or avg_fps <= 0:
        avg_fps = n / duration
    if not duration > 0:
        duration = n / avg_fps
    indices = sample_indices(n, avg_fps)
    mask = np.zeros(T, dtype=np.uint8)
    mask[: len(indices)] = 1
    audio, has_audio, audio_duration = decode_audio(path, start_s=pr.video_start_s)
    info = ClipInfo(
        path=str(path),
        width=width,
        height=height,
        fps=avg_fps,
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
        _reader=reader,
        _turn=turn,
    )
