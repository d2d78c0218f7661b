"""Make variants of a clip at test time with PyAV: re-encodes, cuts, bad files, shifted audio.

Tests must run where only the pip dependencies exist, so nothing here calls the ffmpeg CLI.
Keep variants short and small (``seconds=``, ``size=``) so encoding stays fast on CI.

Audio goes into ``.mp4`` as AAC and into ``.mkv`` as 16-bit PCM. AAC written through PyAV keeps
its 1024 priming samples on decode (+64 ms at 16 kHz, SOURCES.md), so anything that measures
audio timing or length exactly should write ``.mkv``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_VIDEO_OPTIONS = {
    "libx264": {"preset": "ultrafast"},
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=error"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
    "libsvtav1": {"preset": "12", "svtav1-params": "log-level=1"},
    "mpeg4": {},
}
_AUDIO_CODEC = {".mp4": ("aac", "fltp"), ".mkv": ("pcm_s16le", "s16")}
VFR_PATTERN = (0.5, 1.5, 1.0)  # frame durations in units of 1/fps, repeated: average rate == fps


def has_encoder(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        return False
    return True


def rate(fps: float | Fraction) -> Fraction:
    """Exact rate: 29.97 -> 30000/1001 (NTSC), 12.5 -> 25/2."""
    if isinstance(fps, Fraction):
        return fps
    ntsc = fps * 1001 / 1000
    if abs(ntsc - round(ntsc)) < 1e-3 and abs(fps - round(fps)) > 1e-3:
        return Fraction(round(ntsc) * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def _source_frames(src: Path, size: tuple[int, int] | None) -> Iterator[tuple[float, av.VideoFrame]]:
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            width, height = size or (frame.width // 2 * 2, frame.height // 2 * 2)
            yield float(frame.time), frame.reformat(width=width, height=height, format="yuv420p")


def _output_times(fps: Fraction, seconds: float, vfr: bool) -> list[float]:
    pattern = VFR_PATTERN if vfr else (1.0,)
    times, t, i = [], 0.0, 0
    while t < seconds - 1e-9:
        times.append(t)
        t += pattern[i % len(pattern)] / float(fps)
        i += 1
    return times


def _resampled(src: Path, times: Sequence[float], size) -> Iterator[tuple[float, av.VideoFrame]]:
    """For each output time the latest source frame shown at that time (frame-rate change)."""
    frames = _source_frames(src, size)
    current = next(frames)
    upcoming = next(frames, None)
    for t in times:
        while upcoming is not None and upcoming[0] <= t + 1e-6:
            current, upcoming = upcoming, next(frames, None)
        yield t, current[1]


def _source_audio(src: Path, seconds: float | None) -> tuple[np.ndarray, int, str] | None:
    """The source audio as float32 (channels, n) at its own rate, cut to ``seconds``."""
    with av.open(str(src)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        layout = "mono" if stream.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=stream.rate)
        chunks = [f.to_ndarray() for frame in container.decode(stream) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray() for f in resampler.resample(None)]
    samples = np.concatenate(chunks, axis=1)
    if seconds is not None:
        samples = samples[:, : int(round(seconds * stream.rate))]
    return samples.astype(np.float32), stream.rate, layout


def _add_audio_stream(container, sample_rate: int, layout: str, suffix: str):
    codec, fmt = _AUDIO_CODEC[suffix]
    stream = container.add_stream(codec, rate=sample_rate, layout=layout)
    stream.format = fmt
    return stream


def _write_audio(container, stream, samples: np.ndarray, first_pts: int = 0) -> None:
    """Encode (channels, n) float32 samples; the first one presented at ``first_pts`` samples."""
    sample_rate, layout, fmt = stream.rate, stream.layout.name, stream.format.name
    frame_size = stream.codec_context.frame_size or 1024
    resampler = av.AudioResampler(format=fmt, layout=layout, rate=sample_rate)
    for start in range(0, samples.shape[1], frame_size):
        block = np.ascontiguousarray(samples[:, start : start + frame_size])
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, first_pts + start, Fraction(1, sample_rate)
        for converted in resampler.resample(frame):
            container.mux(stream.encode(converted))
    container.mux(stream.encode(None))


def _check_suffix(dst: Path) -> None:
    if dst.suffix not in _AUDIO_CODEC:
        raise ValueError(f"{dst}: write .mp4 or .mkv")


def reencode(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    fps: float | Fraction | None = None,
    codec: str = "libx264",
    seconds: float | None = None,
    audio: bool = True,
    audio_seconds: float | None = None,
    size: tuple[int, int] | None = None,
    vfr: bool = False,
    rotation: int = 0,
    faststart: bool = False,
) -> Path:
    """Re-encode ``src`` (container from ``dst``'s suffix: .mp4 AAC, .mkv PCM).

    ``fps``: output frame rate (default: the source's), frames picked by time, so the motion
    keeps its speed. ``seconds``: cut the video (and the audio unless ``audio_seconds``) to
    that length. ``audio_seconds``: audio length, to make audio longer/shorter than the video.
    ``size``: (width, height). ``vfr``: frame durations cycle through ``VFR_PATTERN / fps``.
    ``rotation``: display-matrix rotation, counter-clockwise degrees. ``faststart``: index
    (moov) at the front, as web-optimised MP4s have.
    """
    src, dst = Path(src), Path(dst)
    _check_suffix(dst)
    with av.open(str(src)) as probe:
        stream = probe.streams.video[0]
        out_rate = rate(fps) if fps is not None else Fraction(stream.average_rate)
        length = float(seconds) if seconds is not None else float(probe.duration / av.time_base)
    times = _output_times(out_rate, length, vfr)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(dst), "w", options=options) as out:
        vs = out.add_stream(codec, rate=out_rate, options=dict(_VIDEO_OPTIONS.get(codec, {})))
        vs.pix_fmt = "yuv420p"
        time_base = Fraction(1, 90000) if vfr else 1 / out_rate
        vs.codec_context.time_base = time_base
        if rotation:
            vs.set_display_rotation(rotation)
        track = _source_audio(src, audio_seconds if audio_seconds is not None else seconds) if audio else None
        audio_stream = _add_audio_stream(out, *track[1:], dst.suffix) if track is not None else None
        for i, (t, frame) in enumerate(_resampled(src, times, size)):
            if i == 0:
                vs.width, vs.height = frame.width, frame.height
            out_frame = frame.reformat()  # a fresh frame: the source frame may be reused
            out_frame.pts = round(t / time_base) if vfr else i
            out_frame.time_base = time_base
            out.mux(vs.encode(out_frame))
        out.mux(vs.encode(None))
        if track is not None:
            _write_audio(out, audio_stream, track[0])
    return dst


def remux(src: str | os.PathLike, dst: str | os.PathLike, *, audio: bool = True) -> Path:
    """Copy the packets into a new container without re-encoding; ``audio=False`` drops audio."""
    src, dst = Path(src), Path(dst)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = [inp.streams.video[0]] + (list(inp.streams.audio[:1]) if audio else [])
        mapping = {s.index: out.add_stream_from_template(s) for s in streams}
        for packet in inp.demux(streams):
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
    return dst


def shift_audio(
    src: str | os.PathLike, dst: str | os.PathLike, frames: int, fps: float = 25.0, *, via: str = "samples"
) -> Path:
    """Copy of ``src`` as .mkv with its audio delayed by ``frames`` video frames (negative: advanced).

    The video packets are copied untouched; the audio is written as PCM (no AAC priming
    samples). ``via="samples"`` keeps the audio's length: zeros enter at one end, samples leave
    at the other. ``via="timestamps"`` (delays only) keeps the samples and starts the audio
    stream ``frames / fps`` seconds after the video, as a muxer with an audio offset does.
    """
    src, dst = Path(src), Path(dst)
    if dst.suffix != ".mkv":
        raise ValueError(f"{dst}: shifted audio goes into .mkv (PCM), see SOURCES.md")
    if via not in ("samples", "timestamps") or (via == "timestamps" and frames < 0):
        raise ValueError(f"via must be 'samples' or 'timestamps' (delays only), got {via!r} for {frames} frames")
    track = _source_audio(src, None)
    if track is None:
        raise ValueError(f"{src}: no audio stream to shift")
    samples, sample_rate, layout = track
    shift = int(round(frames / fps * sample_rate))
    shifted, first_pts = np.zeros_like(samples), 0
    if via == "timestamps":
        shifted, first_pts = samples, shift
    elif shift >= 0:
        shifted[:, shift:] = samples[:, : samples.shape[1] - shift]
    else:
        shifted[:, :shift] = samples[:, -shift:]
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        video = out.add_stream_from_template(inp.streams.video[0])
        audio = _add_audio_stream(out, sample_rate, layout, ".mkv")
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = video
            out.mux(packet)
        _write_audio(out, audio, shifted, first_pts)
    return dst


def truncate(src: str | os.PathLike, dst: str | os.PathLike, fraction: float = 0.3) -> Path:
    """The first ``fraction`` of ``src``'s bytes, as an interrupted download leaves it."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def zero_byte(dst: str | os.PathLike) -> Path:
    Path(dst).write_bytes(b"")
    return Path(dst)


def text_as_video(dst: str | os.PathLike) -> Path:
    """A text file with a video's name, as a mislabelled upload is."""
    Path(dst).write_text("This is not a video, just text saved with a .mp4 name.\n" * 20)
    return Path(dst)


NUMBER_BITS = 10  # frames numbered up to 1023
_BLOCK = 16


def numbered_clip(
    dst: str | os.PathLike, n_frames: int, fps: float | Fraction = 25, *, codec: str = "libx264", vfr: bool = False
) -> Path:
    """A silent clip whose frame i shows i in binary (white/black 16x16 blocks): see ``read_number``."""
    dst = Path(dst)
    out_rate = rate(fps)
    times = _output_times(out_rate, n_frames / float(out_rate), vfr)[:n_frames]
    time_base = Fraction(1, 90000) if vfr else 1 / out_rate
    with av.open(str(dst), "w") as out:
        vs = out.add_stream(codec, rate=out_rate, options=dict(_VIDEO_OPTIONS.get(codec, {})))
        vs.width, vs.height, vs.pix_fmt = NUMBER_BITS * _BLOCK, 2 * _BLOCK, "yuv420p"
        vs.codec_context.time_base = time_base
        for i, t in enumerate(times):
            bits = (i >> np.arange(NUMBER_BITS)) & 1
            row = np.repeat(bits * 255, _BLOCK).astype(np.uint8)
            image = np.repeat(np.broadcast_to(row, (2 * _BLOCK, row.size))[..., None], 3, axis=2)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = (round(t / time_base) if vfr else i), time_base
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return dst


def read_number(frame: np.ndarray) -> int:
    """The frame number ``numbered_clip`` drew on an RGB frame (H, W, 3)."""
    centres = frame[_BLOCK // 2, _BLOCK // 2 :: _BLOCK, :].mean(axis=1)[:NUMBER_BITS]
    return int(((centres > 127).astype(np.int64) << np.arange(NUMBER_BITS)).sum())


def corrupt_packets(
    src: str | os.PathLike, dst: str | os.PathLike, kind: str = "audio", fraction: float = 0.5, seed: int = 0
) -> Path:
    """Copy of ``src`` with the payload of ``fraction`` of its ``kind`` packets overwritten by noise.

    The container structure stays intact (bit errors, not truncation): what a flaky disk or a
    broken upload leaves. The first packet of the stream is kept so the stream still starts.
    """
    with av.open(str(src)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        spans = [(p.pos, p.size) for p in container.demux(stream) if p.size and p.pos is not None and p.pos >= 0]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.arange(1, len(spans)), size=int(round(fraction * (len(spans) - 1))), replace=False)
    data = bytearray(Path(src).read_bytes())
    for i in chosen:
        pos, size = spans[i]
        data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def _ts_segment(frames: Sequence[av.VideoFrame], size: tuple[int, int], first_pts: int, fps: int) -> bytes:
    """Frames as one H.264 MPEG-TS segment of ``size``; segments concatenate into one stream."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=fps, options=dict(_VIDEO_OPTIONS["libx264"]))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i, frame in enumerate(frames):
            frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            frame.pts, frame.time_base = first_pts + i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def resolution_change(
    src: str | os.PathLike, dst: str | os.PathLike, seconds: float = 2.0, *, restart_timestamps: bool = False
) -> Path:
    """``seconds`` of ``src`` at 256x256, then as much again at 160x120, in one 25-fps H.264
    stream (two MPEG-TS segments joined byte for byte, as a stream spliced from two sources is).

    ``restart_timestamps``: the second segment's timestamps start again at 0, so every frame
    time occurs twice (what joining two files without re-timing them gives).
    """
    fps, n = 25, int(seconds * 25)
    with av.open(str(src)) as container:
        frames = [f for _, f in zip(range(2 * n), container.decode(video=0))]
    first, second = _ts_segment(frames[:n], (256, 256), 0, fps), _ts_segment(
        frames[n:], (160, 120), 0 if restart_timestamps else n, fps)
    Path(dst).write_bytes(first + second)
    return Path(dst)
