"""Checks a file with PyAV before any frame decoder sees it, and reads the frame timeline.

decord (the frame decoder) aborts or hangs on some broken inputs and reports neither the
rotation nor the codec, so every file is first opened, demuxed and partly decoded with PyAV,
which raises ordinary Python exceptions. Each failure becomes a :class:`MediaError` whose cause
says what kind of file it is: empty, unreadable, not a video, truncated or corrupt. The same
pass collects each frame's presentation time from the packets, the one timeline every frame
decoder indexes (decord's ``get_frame_timestamp`` reads the same packets and agrees).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from tqscore.media.errors import MediaError

_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
# Leading bytes of the containers a talking-face video comes in; a file that starts like one of
# these but does not open is truncated or corrupt, anything else that does not open is not a video.
_MAGICS: tuple[tuple[int, bytes], ...] = (
    *((4, box) for box in _MP4_BOXES),
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"), (0, b"FLV"), (0, b"OggS"), (0, b"\x00\x00\x01\xba"),  # AVI, FLV, Ogg, MPEG-PS
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF / WMV
)
_MIN_PRESENT = 0.9  # share of the header's duration that must be present; less means truncated
# FFmpeg opens a single picture through an image demuxer ("png_pipe", "jpeg_pipe", ... or
# "image2"); renamed to .mp4 it would otherwise pass as a one-frame video.
_IMAGE_DEMUXERS = ("image2",)


@dataclass(frozen=True)
class Probe:
    coded_width: int
    coded_height: int
    rotation: int  # counter-clockwise degrees to turn the coded picture for display: 0/90/180/270
    video_codec: str
    frame_starts: np.ndarray  # float64 (n,) presentation time of each frame, ascending, seconds
    frame_ends: np.ndarray  # float64 (n,) when each frame stops being shown
    video_start_s: float  # presentation time of the first decoded frame
    average_rate: float  # the container's average frame rate; 0.0 when it has none
    has_audio: bool

    @property
    def n_frames(self) -> int:
        return len(self.frame_starts)


def check_readable(path: Path) -> None:
    """Raise MediaError for a missing, empty or unreadable file, before any decoder sees it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError(path, "file not found") from None
    except PermissionError:
        raise MediaError(path, "permission denied") from None
    if not path.is_file():
        raise MediaError(path, "not a file")
    if size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise MediaError(path, "permission denied") from None


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(16)


def _mp4_boxes(path: Path) -> list[bytes]:
    """Types of the top-level ISO-BMFF boxes, up to the first one the file cuts short."""
    boxes, size_left = [], path.stat().st_size
    with open(path, "rb") as f:
        while size_left >= 8:
            head = f.read(8)
            size, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if size == 1:  # a 64-bit size follows the type
                size = int.from_bytes(f.read(8), "big")
                f.seek(-8, 1)
            elif size == 0:  # the box runs to the end of the file
                size = size_left
            f.seek(-8, 1)
            if size < 8 or size > size_left:
                break
            boxes.append(kind)
            f.seek(size, 1)
            size_left -= size
    return boxes


def _looks_like_video(path: Path) -> bool:
    head = _head(path)
    return any(head[off : off + len(magic)] == magic for off, magic in _MAGICS)


def _open_failure(path: Path, exc: Exception) -> MediaError:
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == errno.EACCES:
        return MediaError(path, "permission denied")
    reason = getattr(exc, "strerror", None) or str(exc)
    head = _head(path)
    if not _looks_like_video(path):
        return MediaError(path, f"not a video: {reason}")
    if head[4:8] in _MP4_BOXES and b"moov" not in _mp4_boxes(path):
        return MediaError(path, f"truncated or corrupt: the MP4 index (moov box) is missing or cut off ({reason})")
    return MediaError(path, f"truncated or corrupt: {reason}")


def _timeline(stamps: list[tuple[int, int]], time_base, average_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame start and end times (seconds, rounded to microseconds) from packet (pts, duration)."""
    pts = np.array(stamps, dtype=np.int64).reshape(-1, 2)
    pts = pts[np.argsort(pts[:, 0], kind="stable")]
    starts = pts[:, 0] * float(time_base)
    ends = starts + pts[:, 1] * float(time_base)
    gaps = np.append(np.diff(starts), 1.0 / average_rate if average_rate > 0 else 0.0)
    ends = np.where(pts[:, 1] > 0, ends, starts + gaps)  # packets without a duration last until the next
    return np.round(starts, 6), np.round(ends, 6)


def _rotation(frame: av.VideoFrame) -> int:
    return int(round(frame.rotation / 90.0)) % 4 * 90


def probe(path: str | os.PathLike) -> Probe:
    """Open, demux every packet and decode the first frame; raise MediaError on failure."""
    path = Path(path)
    check_readable(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError) as exc:
        raise _open_failure(path, exc) from None
    with container:
        stream = _video_stream(path, container)
        try:
            packets = _demux(container, stream)
        except av.FFmpegError as exc:
            raise MediaError(path, f"truncated or corrupt: {exc.strerror or exc}") from None
        _check_complete(path, container, stream, packets)
        average_rate = float(stream.average_rate) if stream.average_rate else 0.0
        starts, ends = _timeline(packets.stamps, stream.time_base, average_rate)
        return Probe(
            coded_width=packets.first.width,
            coded_height=packets.first.height,
            rotation=_rotation(packets.first),
            video_codec=stream.codec_context.codec.canonical_name,  # "av1", not the decoder "libdav1d"
            frame_starts=starts,
            frame_ends=ends,
            video_start_s=float(packets.first.time or 0.0),
            average_rate=average_rate,
            has_audio=bool(container.streams.audio),
        )


def _video_stream(path: Path, container):
    """The first video stream; MediaError for a still image or a file without video."""
    demuxer = container.format.name
    if demuxer.endswith("_pipe") or demuxer in _IMAGE_DEMUXERS:
        picture = demuxer.removesuffix("_pipe")
        raise MediaError(path, f"is a still image ({picture}), not a video")
    if not container.streams.video:
        if not container.streams and _looks_like_video(path):
            raise MediaError(path, f"truncated or corrupt: the {demuxer} header lists no streams")
        kinds = " and ".join(sorted({s.type for s in container.streams}))
        raise MediaError(path, f"no video stream: the file holds {kinds} only ({demuxer}); if it should "
                         "be a video, its header is corrupt")
    return container.streams.video[0]


@dataclass
class _Packets:
    """What one demux pass finds: each shown frame's packet (pts, duration), the frames an edit
    list keeps off screen, the first decoded frame and where the data ends (seconds)."""

    stamps: list[tuple[int, int]] = field(default_factory=list)
    hidden: int = 0
    first: av.VideoFrame | None = None
    end_s: float = 0.0


def _demux(container, stream) -> _Packets:
    """Every packet of the video stream and the first audio stream; decodes only the first frame."""
    found = _Packets()
    for packet in container.demux(stream, *container.streams.audio[:1]):
        when = packet.pts if packet.pts is not None else packet.dts
        if packet.size == 0 or when is None:  # demux() ends each stream with an empty packet
            continue
        found.end_s = max(found.end_s, float((when + (packet.duration or 0)) * packet.time_base))
        if packet.stream.type != "video":
            continue
        if found.first is None:  # hidden packets too: later frames are predicted from them
            found.first = next(iter(stream.decode(packet)), None)
        # An MP4 edit list can start the picture after the first coded frames (pre-roll):
        # FFmpeg flags their packets "discard", and both decoders (decord's FFmpeg 4.1 and
        # PyAV's) decode them without showing them. Counted as frames, they put every frame's
        # time late by their number and ask for frames past the end (echomimic_v3's clip: 2 such
        # packets at -80 and -40 ms).
        if packet.is_discard:
            found.hidden += 1
            continue
        found.stamps.append((when, packet.duration or 0))
    if found.first is None:
        found.first = next(iter(stream.decode(None)), None)
    return found


def _check_complete(path: Path, container, stream, packets: _Packets) -> None:
    """MediaError when no frame decodes or the data stops short of what the header lists."""
    if packets.first is None:
        raise MediaError(path, f"truncated or corrupt: no decodable video frame in {len(packets.stamps)} packets")
    if stream.frames and len(packets.stamps) + packets.hidden < stream.frames:
        raise MediaError(
            path, f"truncated or corrupt: {len(packets.stamps)} of the {stream.frames} frames the header lists are present"
        )
    header_s = container.duration / av.time_base if container.duration else 0.0
    if packets.end_s < _MIN_PRESENT * header_s - 0.5:
        raise MediaError(
            path, f"truncated or corrupt: data ends at {packets.end_s:.2f} s of the {header_s:.2f} s the header lists"
        )
