"""Audio as 16 kHz mono float32, decoded with PyAV.

PyAV rather than decord's AudioReader/AVReader: those leak memory on every clip opened
(https://github.com/dmlc/decord/issues/279), which a batch scorer over thousands of clips
cannot afford. FFmpeg's resampler (``av.AudioResampler``) changes the rate; the channels are
then averaged to mono.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from tqscore.layout import SAMPLE_RATE
from tqscore.media.errors import MediaError
from tqscore.media.probe import check_readable

_MAX_BAD_PACKETS = 0.05  # share of audio packets that may fail to decode (replaced by silence)


def _stream_start_s(stream) -> float:
    if stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def decode_audio(path: str | os.PathLike, start_s: float | None = None) -> tuple[np.ndarray, bool, float]:
    """The whole first audio stream, 16 kHz mono float32, placed on the video's timeline.

    Sample 0 is at ``start_s`` (default: the start of the first video stream, or 0 without
    one): audio that starts later is preceded by zeros, audio that starts earlier is cut, so
    audio and frames stay in sync. Returns ``(samples, has_audio, source_duration_s)``; no
    audio stream gives ``(empty, False, 0.0)``.
    """
    path = Path(path)
    check_readable(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(path, f"cannot open for audio: {getattr(exc, 'strerror', None) or exc}") from None
    with container:
        if not container.streams.audio:
            return np.zeros(0, dtype=np.float32), False, 0.0
        if start_s is None:
            start_s = _stream_start_s(container.streams.video[0]) if container.streams.video else 0.0
        samples, first_time = _decode_stream(path, container, container.streams.audio[0])
    source_duration = len(samples) / SAMPLE_RATE
    offset = int(round(((first_time if first_time is not None else start_s) - start_s) * SAMPLE_RATE))
    if offset > 0:
        samples = np.concatenate([np.zeros(offset, dtype=np.float32), samples])
    elif offset < 0:
        samples = samples[-offset:]
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False), True, source_duration


def _decode_stream(path: Path, container, stream) -> tuple[np.ndarray, float | None]:
    """16 kHz mono samples and the first frame's time; a few undecodable packets become silence.

    A player skips a damaged audio packet; so do we, but with silence of the packet's length in
    its place so the rest stays in sync. More than ``_MAX_BAD_PACKETS`` of them is a corrupt file.
    """
    # Channels are averaged here rather than by FFmpeg's mono downmix, which adds +3 dB
    # ((L + R) / sqrt(2)) and clips loud speech (measured on the SadTalker clips).
    resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    first_time, n_packets, bad = None, 0, 0
    try:
        for packet in container.demux(stream):
            n_packets += packet.size > 0
            try:
                frames = packet.decode()
            except av.InvalidDataError:
                bad += 1
                seconds = float((packet.duration or 0) * packet.time_base) if packet.time_base else 0.0
                chunks.append(np.zeros(int(round(seconds * SAMPLE_RATE)), dtype=np.float32))
                continue
            for frame in frames:
                if first_time is None and frame.time is not None:
                    first_time = float(frame.time)
                chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(None))
    except av.FFmpegError as exc:
        raise MediaError(path, f"truncated or corrupt audio: {exc.strerror or exc}") from None
    if bad > _MAX_BAD_PACKETS * max(n_packets, 1):
        raise MediaError(path, f"truncated or corrupt audio: {bad} of {n_packets} audio packets do not decode")
    return (np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)), first_time


def fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to exactly ``n`` samples."""
    if len(samples) >= n:
        return samples[:n]
    return np.concatenate([samples, np.zeros(n - len(samples), dtype=samples.dtype)])


def load_audio(path: str | os.PathLike, duration_s: float | None = None) -> tuple[np.ndarray, bool]:
    """16 kHz mono float32 in [-1, 1] and whether the file has an audio stream.

    With ``duration_s`` the result is cut or zero-padded to ``round(duration_s * 16000)``
    samples (all zeros without audio); without it, the whole stream (empty without audio).
    """
    samples, has_audio, _ = decode_audio(path)
    if duration_s is None:
        return samples, has_audio
    return fit_length(samples, int(round(duration_s * SAMPLE_RATE))), has_audio
