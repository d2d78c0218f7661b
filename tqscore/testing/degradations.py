"""Controlled degradations of a real clip, made at test time with PyAV: what a scorer must notice.

Each function takes a real clip and writes ONE degraded copy into a folder, at one severity
whose unit has a physical meaning (``DEGRADATIONS`` lists them with their default severities):

| name | severity | unit |
|---|---|---|
| ``face_blur`` | Gaussian sigma | % of the face width (the 468 Face Mesh points' extent) |
| ``mouth_blur`` | Gaussian sigma, mouth region only | % of the face width |
| ``compression`` | x264 CRF (veryfast preset, deblocking on) | x264 quantiser scale; +6 ~ half the bitrate |
| ``visual_noise`` | Gaussian sigma of brightness noise (the same on R, G, B) | grey levels (0-255) |
| ``freeze`` | share of frames held (runs of 5 frames, 200 ms at 25 fps) | fraction of frames |
| ``still_head`` | share of the clip (from its start) with a still head and a talking mouth | fraction |
| ``still_mouth`` | opacity of one closed-mouth frame's lower face pasted into every frame | fraction |
| ``audio_noise`` | SNR against the active speech level, white (0-8 kHz) or babble noise | dB |
| ``audio_shift`` | audio delay, positive = sound late (``sync_offset_frames``' sign) | frames of 40 ms |
| ``foreign_audio`` | share of the clip, from its start, whose audio is another utterance | fraction |

Severity 0 of every function (``clean``) is the same re-encode without the degradation, so a
comparison against it isolates the degradation from the re-encode. Outputs are Matroska with
H.264 (x264 CRF 12, near-transparent) and 16-bit PCM audio: AAC written through PyAV keeps its
1024 priming samples (``../shared/media/SOURCES.md``), which would shift every audio timing.
Audio-only degradations leave the video bit-identical to ``clean`` (x264 is deterministic), and
video-only ones leave the audio untouched. ``seconds=`` cuts the clip (keep tests fast),
``size=`` (width, height) rescales it. Face Mesh (``tqscore.features.landmarks``, the project's own
tracker) locates the face and mouth; OpenCV (a MediaPipe dependency) blurs, warps and blends.
The container plumbing comes from ``media_variants`` (not duplicated here). Nothing calls the
ffmpeg CLI: tests must run where only the pip dependencies exist.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from scipy.signal import resample_poly

from tqscore.features.landmarks import FaceMeshTracker
from tqscore.layout import FPS, SAMPLE_RATE
from tqscore.signals.geometry import mouth_features
from tqscore.testing import MEDIA
from tqscore.testing.media_variants import (
    _add_audio_stream,
    _source_audio,
    _source_frames,
    _write_audio,
)

SHARED_AUDIO = MEDIA / "audio"
FOREIGN_AUDIO = SHARED_AUDIO / "RD_Radio31_000.wav"  # an utterance none of the real clips carries

# Carrier: x264 CRF 12 is far below the CRF 17-18 x264's documentation calls visually lossless,
# so the clean copy adds no visible coding artefacts of its own; ultrafast keeps tests quick.
CARRIER_OPTIONS = {"preset": "ultrafast", "crf": "12"}
# Strong compression: veryfast keeps deblocking and CABAC on (ultrafast turns both off), as
# a real low-bitrate upload would have them.
COMPRESSION_PRESET = "veryfast"
HOLD_FRAMES = 5  # a freeze holds 5 frames: 200 ms at 25 fps, a visible stall
FRAME_S = 1.0 / FPS  # sync_offset_frames counts 40-ms frames whatever the clip's rate
CROSSFADE_S = 0.02  # 20 ms crossfade where the foreign audio starts, so no click marks the seam

# Face Mesh points (canonical mesh indices).
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
# Points that move with the skull, not with speech or expression: eye corners, nose bridge and
# tip, nostrils, forehead. A similarity fitted to them is the head's in-plane pose.
RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 98, 327, 10, 151, 9)
MOUTH_REGION_SCALE = 1.5  # the mouth region: outer-lip hull scaled 1.5x about its centre (lips + skin around)
# Lower face: the jaw line from jaw angle to jaw angle, the mid cheeks and the nose base. A still
# mouth must take the jaw with it: pasting only the lips region left 57 % of the lip-opening spread
# Face Mesh measures (it reads the opening from the moving jaw too), this region 13 % (AOC, 2 s);
# the face-oval points beside the ears would paste earrings and background onto the cheeks.
LOWER_FACE = (205, 425, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 327, 2, 98)
FEATHER = 0.03  # mask edges are softened with a Gaussian of 3 % of the face width: no hard seam


# --------------------------------------------------------------------------------------------
# Reading and writing


@dataclass(frozen=True)
class _Source:
    path: Path
    fps: Fraction
    seconds: float | None
    size: tuple[int, int] | None

    def frames(self) -> Iterator[np.ndarray]:
        """RGB uint8 frames of the cut, in order."""
        for t, frame in _source_frames(self.path, self.size):
            if self.seconds is not None and t >= self.seconds - 1e-6:
                break
            yield frame.to_ndarray(format="rgb24")

    def audio(self) -> tuple[np.ndarray, int, str]:
        track = _source_audio(self.path, self.seconds)
        if track is None:
            raise ValueError(f"{self.path}: no audio stream to degrade")
        return track


def _open_source(src: str | os.PathLike, seconds: float | None, size: tuple[int, int] | None) -> _Source:
    src = Path(src)
    with av.open(str(src)) as probe:
        if not probe.streams.video:
            raise ValueError(f"{src}: no video stream")
        fps = Fraction(probe.streams.video[0].average_rate)
    return _Source(src, fps, seconds, tuple(size) if size else None)


def _write(
    source: _Source,
    dst: Path,
    frames: Iterator[np.ndarray],
    audio: tuple[np.ndarray, int, str] | None,
    video_options: dict[str, str] = CARRIER_OPTIONS,
) -> Path:
    """H.264 at the source's frame rate + 16-bit PCM audio (``audio`` None: the source's own)."""
    if audio is None:
        audio = _source_audio(source.path, source.seconds)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=source.fps, options=dict(video_options))
        vs.pix_fmt = "yuv420p"
        vs.codec_context.time_base = 1 / source.fps
        audio_stream = _add_audio_stream(out, audio[1], audio[2], ".mkv") if audio is not None else None
        for i, rgb in enumerate(frames):
            if i == 0:
                vs.height, vs.width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: vs.height, : vs.width]), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, 1 / source.fps
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if audio is not None:
            _write_audio(out, audio_stream, np.clip(audio[0], -1.0, 1.0).astype(np.float32))
    return dst


def _target(src: Path, out_dir: str | os.PathLike, name: str, severity: float) -> Path:
    return Path(out_dir) / f"{src.stem}__{name}_{severity:g}.mkv"


# --------------------------------------------------------------------------------------------
# Face geometry


@dataclass
class _Faces:
    """Per-frame Face Mesh points in pixels (missing faces filled from the nearest found frame)."""

    points: np.ndarray  # float64 (n, 468, 2) pixels
    found: np.ndarray  # bool (n,)
    face_width: float  # median extent of the points over the clip, pixels
    kept: np.ndarray | None  # RGB frame asked for with ``keep``
    kept_index: int


@dataclass(frozen=True)
class _Track:
    """One Face Mesh pass over a cut: the points and both frames ``_faces`` can keep."""

    points: np.ndarray
    found: np.ndarray
    face_width: float
    first: tuple[np.ndarray, int]  # the first frame with a face, and its index
    closed: tuple[np.ndarray, int]  # the frame with the least open mouth, and its index


def _faces(source: _Source, keep: str | None = None) -> _Faces:
    """Face Mesh over the cut; ``keep="closed"`` keeps the frame with the least open mouth,
    ``keep="first"`` the first frame with a face."""
    stat = source.path.stat()
    track = _track(source, stat.st_size, stat.st_mtime_ns)
    kept, kept_index = {"first": track.first, "closed": track.closed}.get(keep, (None, -1))
    return _Faces(track.points, track.found, track.face_width, kept, kept_index)


@functools.lru_cache(maxsize=4)
def _track(source: _Source, size_bytes: int, mtime_ns: int) -> _Track:
    """Cached per cut and file version: the degradations of one clip (and every severity of each)
    share one Face Mesh pass, the costliest step of making them. Its arrays are read-only."""
    points, found, first, closed, best = [], [], (None, -1), (None, -1), np.inf
    with FaceMeshTracker() as tracker:
        for i, rgb in enumerate(source.frames()):
            landmarks, ok = tracker.process(rgb[None])
            h, w = rgb.shape[:2]
            points.append(landmarks[0, :, :2].astype(np.float64) * (w, h))
            found.append(bool(ok[0]))
            if ok[0]:
                opening = mouth_features(landmarks, ok, w / h)[0, 1]
                if opening < best:
                    best, closed = opening, (rgb.copy(), i)
                if first[0] is None:
                    first = (rgb.copy(), i)
    found_arr = np.asarray(found, bool)
    if not found_arr.any():
        raise ValueError(f"{source.path}: Face Mesh found no face, so the face cannot be degraded")
    pts = np.stack(points)
    idx = np.flatnonzero(found_arr)
    nearest = idx[np.abs(np.arange(len(pts))[:, None] - idx[None]).argmin(axis=1)]
    pts = pts[nearest]
    extent = pts.max(axis=1) - pts.min(axis=1)
    for array in (pts, found_arr, first[0], closed[0]):
        array.setflags(write=False)
    return _Track(pts, found_arr, float(np.median(extent.max(axis=1))), first, closed)


def _hull_mask(shape: tuple[int, int], polygon: np.ndarray, feather_px: float) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(polygon).astype(np.int32)), 1.0)
    if feather_px > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather_px)
    return mask[..., None]


def _mouth_polygon(points: np.ndarray) -> np.ndarray:
    lips = points[list(LIPS_OUTER)]
    centre = lips.mean(axis=0)
    return centre + MOUTH_REGION_SCALE * (lips - centre)


def _lower_face_polygon(points: np.ndarray) -> np.ndarray:
    return points[list(LOWER_FACE)]


def _blur_region(rgb: np.ndarray, polygon: np.ndarray, sigma: float, feather_px: float) -> np.ndarray:
    """``rgb`` with the (feathered) polygon replaced by its Gaussian blur; only the box is blurred."""
    h, w = rgb.shape[:2]
    pad = int(np.ceil(3 * max(sigma, feather_px))) + 2
    x0, y0 = np.maximum(np.floor(polygon.min(axis=0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(polygon.max(axis=0)).astype(int) + pad, (w, h))
    if x1 <= x0 or y1 <= y0:
        return rgb
    box = rgb[y0:y1, x0:x1].astype(np.float32)
    blurred = cv2.GaussianBlur(box, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    mask = _hull_mask(box.shape[:2], polygon - (x0, y0), feather_px)
    out = rgb.copy()
    out[y0:y1, x0:x1] = np.clip(mask * blurred + (1 - mask) * box + 0.5, 0, 255).astype(np.uint8)
    return out


def _similarity(src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, translation) taking src to dst."""
    matrix, _ = cv2.estimateAffinePartial2D(src_pts.astype(np.float32), dst_pts.astype(np.float32), method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("no similarity fits the face points")
    return matrix


# --------------------------------------------------------------------------------------------
# Video degradations


def clean(src: str | os.PathLike, out_dir: str | os.PathLike, *, seconds: float | None = None,
          size: tuple[int, int] | None = None) -> Path:
    """The reference copy: the same re-encode as every degradation, without one."""
    source = _open_source(src, seconds, size)
    return _write(source, _target(source.path, out_dir, "clean", 0), source.frames(), None)


def face_blur(src, out_dir, sigma_pct: float, *, seconds=None, size=None) -> Path:
    """The face (hull of the 468 points, feathered) blurred with sigma = ``sigma_pct`` % of its width."""
    return _region_blur(src, out_dir, sigma_pct, seconds, size, "face_blur", lambda p: p)


def mouth_blur(src, out_dir, sigma_pct: float, *, seconds=None, size=None) -> Path:
    """Only the mouth region (outer lips scaled 1.5x) blurred; sigma in % of the FACE width,
    so it is comparable with ``face_blur`` (the classic inpainting artefact: a soft mouth)."""
    return _region_blur(src, out_dir, sigma_pct, seconds, size, "mouth_blur", _mouth_polygon)


def _region_blur(src, out_dir, sigma_pct, seconds, size, name, region: Callable[[np.ndarray], np.ndarray]) -> Path:
    source = _open_source(src, seconds, size)
    dst = _target(source.path, out_dir, name, sigma_pct)
    if sigma_pct <= 0:
        return _write(source, dst, source.frames(), None)
    faces = _faces(source)
    sigma = sigma_pct / 100 * faces.face_width
    feather = FEATHER * faces.face_width
    frames = (_blur_region(rgb, region(faces.points[i]), sigma, feather) for i, rgb in enumerate(source.frames()))
    return _write(source, dst, frames, None)


def compression(src, out_dir, crf: float, *, seconds=None, size=None) -> Path:
    """Re-encoded with x264 at constant rate factor ``crf`` (0 = the clean carrier; 51 = x264's worst)."""
    source = _open_source(src, seconds, size)
    dst = _target(source.path, out_dir, "compression", crf)
    options = CARRIER_OPTIONS if crf <= 0 else {"preset": COMPRESSION_PRESET, "crf": f"{crf:g}"}
    return _write(source, dst, source.frames(), None, options)


def visual_noise(src, out_dir, sigma: float, *, seconds=None, size=None, seed: int = 0) -> Path:
    """Gaussian noise of ``sigma`` grey levels, independent per pixel and frame, the same on R, G
    and B: brightness (luma) noise, which 4:2:0 video keeps at full resolution (independent
    per-channel noise would mostly be chroma, which the 4:2:0 subsampling averages away)."""
    source = _open_source(src, seconds, size)
    rng = np.random.default_rng(seed)

    def frames():
        for rgb in source.frames():
            grain = rng.normal(0.0, sigma, rgb.shape[:2] + (1,)).astype(np.float32)
            noisy = rgb.astype(np.float32) + grain
            yield np.clip(noisy + 0.5, 0, 255).astype(np.uint8)

    return _write(source, _target(source.path, out_dir, "visual_noise", sigma), frames(), None)


def held_mask(n_frames: int, share: float, hold: int = HOLD_FRAMES) -> np.ndarray:
    """Which frames repeat the one before: the last ``hold`` of every ``hold / share`` frames."""
    if share <= 0:
        return np.zeros(n_frames, bool)
    period = max(int(round(hold / share)), hold + 1)
    return (np.arange(n_frames) % period) >= period - hold


def freeze(src, out_dir, share: float, *, seconds=None, size=None) -> Path:
    """Frame holds: ``share`` of the frames repeat the previous picture (audio runs on)."""
    source = _open_source(src, seconds, size)

    def frames():
        shown = None
        for i, rgb in enumerate(source.frames()):
            shown = shown if shown is not None and held_mask(i + 1, share)[i] else rgb
            yield shown

    return _write(source, _target(source.path, out_dir, "freeze", share), frames(), None)


def still_head(src, out_dir, share: float, *, seconds=None, size=None) -> Path:
    """For the first ``share`` of the clip the head stands still: the first face frame, with each
    frame's lower face (mouth and jaw) aligned onto it by a similarity on the rigid points and
    pasted in, so the mouth keeps talking (what image-driven generators produce). The rest of
    the clip is as recorded. A 2-D warp of every frame to the first pose cannot undo yaw or
    pitch; pasting onto one still frame stops every rotation."""
    source = _open_source(src, seconds, size)
    dst = _target(source.path, out_dir, "still_head", share)
    if share <= 0:
        return _write(source, dst, source.frames(), None)
    faces = _faces(source, keep="first")
    still, k = faces.kept, faces.kept_index
    still_until = int(round(share * len(faces.points)))
    feather = FEATHER * faces.face_width

    def frames():
        for i, rgb in enumerate(source.frames()):
            yield _paste(still, rgb, faces.points[i], faces.points[k], 1.0, feather) if i < still_until else rgb

    return _write(source, dst, frames(), None)


def _paste(onto: np.ndarray, source: np.ndarray, source_points: np.ndarray, onto_points: np.ndarray,
           opacity: float, feather: float) -> np.ndarray:
    """``source``'s lower face, aligned by a similarity on the rigid points, blended into ``onto``."""
    matrix = _similarity(source_points[list(RIGID)], onto_points[list(RIGID)])
    h, w = onto.shape[:2]
    moved = cv2.warpAffine(source, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    region = _lower_face_polygon(source_points) @ matrix[:, :2].T + matrix[:, 2]
    mask = opacity * _hull_mask((h, w), region, feather)
    return np.clip(mask * moved + (1 - mask) * onto + 0.5, 0, 255).astype(np.uint8)


def still_mouth(src, out_dir, opacity: float, *, seconds=None, size=None) -> Path:
    """The lower face (mouth and jaw) of the clip's most closed-mouth frame, aligned to each frame's face by a
    similarity on the rigid points, pasted with ``opacity`` into every frame; the audio keeps
    speaking. Opacity 1 = a mouth that never moves."""
    source = _open_source(src, seconds, size)
    dst = _target(source.path, out_dir, "still_mouth", opacity)
    if opacity <= 0:
        return _write(source, dst, source.frames(), None)
    faces = _faces(source, keep="closed")
    still, k = faces.kept, faces.kept_index
    feather = FEATHER * faces.face_width

    def frames():
        for i, rgb in enumerate(source.frames()):
            yield _paste(rgb, still, faces.points[k], faces.points[i], opacity, feather)

    return _write(source, dst, frames(), None)


# --------------------------------------------------------------------------------------------
# Audio degradations


def active_speech_power(mono: np.ndarray, sample_rate: int) -> float:
    """Mean power of the 20-ms frames that carry speech: level within 30 dB of the loudest 5 %
    and above -55 dBFS (the project's energy speech rule, ``tqscore.signals.dsp``), a simple form
    of ITU-T P.56's active speech level."""
    hop = int(round(0.02 * sample_rate))
    n = len(mono) // hop
    if n == 0:
        return 0.0
    power = (mono[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1)
    level = 10 * np.log10(power + 1e-12)
    active = (level > np.percentile(level, 95) - 30) & (level > -55)
    return float(power[active].mean()) if active.any() else 0.0


def _to_rate(x: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    g = np.gcd(rate_from, rate_to)
    return resample_poly(x, rate_to // g, rate_from // g, axis=-1).astype(np.float32)


def read_wav(path: Path) -> np.ndarray:
    """A wav's audio as 16 kHz mono float32."""
    track = _source_audio(path, None)
    return _to_rate(track[0].mean(axis=0), track[1], SAMPLE_RATE)


def _babble(n: int, rng: np.random.Generator) -> np.ndarray:
    """Speech babble at 16 kHz: every shared utterance, looped from a random start, at equal level, summed."""
    voices = []
    for path in sorted(SHARED_AUDIO.glob("*.wav")):
        voice = read_wav(path)
        voice = voice / np.sqrt(active_speech_power(voice, SAMPLE_RATE) + 1e-12)
        voices.append(np.roll(np.resize(voice, n), int(rng.integers(0, n))))
    return np.sum(voices, axis=0)


def audio_noise(src, out_dir, snr_db: float, *, kind: str = "white", seconds=None, size=None, seed: int = 0) -> Path:
    """Noise added at ``snr_db`` dB below the clip's active speech level, as the scorer hears it:
    both powers are measured on 16 kHz mono (the rate tqscore reads), the noise is generated at
    16 kHz (white = flat 0-8 kHz) and the same noise is added to every channel, so the downmix
    has exactly this SNR. A mix that would clip is scaled down as a whole (the SNR is kept)."""
    if kind not in ("white", "babble"):
        raise ValueError(f"noise kind must be 'white' or 'babble', got {kind!r}")
    source = _open_source(src, seconds, size)
    samples, sample_rate, layout = source.audio()
    speech = active_speech_power(_to_rate(samples.mean(axis=0), sample_rate, SAMPLE_RATE), SAMPLE_RATE)
    if speech <= 0:
        raise ValueError(f"{source.path}: the audio is silent, so there is no speech level to set an SNR against")
    n16 = int(np.ceil(samples.shape[1] * SAMPLE_RATE / sample_rate))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(n16) if kind == "white" else _babble(n16, rng)
    noise *= np.sqrt(speech / 10 ** (snr_db / 10) / np.mean(noise**2))
    mix = samples + _to_rate(noise, SAMPLE_RATE, sample_rate)[: samples.shape[1]]
    mix /= max(1.0, float(np.abs(mix).max()) / 0.99)
    dst = _target(source.path, out_dir, f"audio_noise_{kind}", snr_db)
    return _write(source, dst, source.frames(), (mix.astype(np.float32), sample_rate, layout))


def audio_shift(src, out_dir, frames: float, *, seconds=None, size=None) -> Path:
    """Audio delayed by ``frames`` x 40 ms (negative: advanced); zeros fill the gap and the length stays."""
    source = _open_source(src, seconds, size)
    samples, sample_rate, layout = source.audio()
    shift = int(round(frames * FRAME_S * sample_rate))
    shifted = np.zeros_like(samples)
    if shift >= 0:
        shifted[:, shift:] = samples[:, : samples.shape[1] - shift]
    else:
        shifted[:, :shift] = samples[:, -shift:]
    dst = _target(source.path, out_dir, "audio_shift", frames)
    return _write(source, dst, source.frames(), (shifted, sample_rate, layout))


def foreign_audio(src, out_dir, share: float, *, seconds=None, size=None, other: Path = FOREIGN_AUDIO) -> Path:
    """The first ``share`` of the clip's audio replaced by another utterance (``other``, from its
    start), matched to the clip's active speech level, with a 20-ms crossfade at the seam."""
    source = _open_source(src, seconds, size)
    samples, sample_rate, layout = source.audio()
    n = samples.shape[1]
    cut = int(round(share * n))
    foreign16 = read_wav(Path(other))
    own16 = _to_rate(samples.mean(axis=0), sample_rate, SAMPLE_RATE)
    gain = np.sqrt(active_speech_power(own16, SAMPLE_RATE) / (active_speech_power(foreign16, SAMPLE_RATE) + 1e-12))
    foreign = np.resize(_to_rate(foreign16 * gain, SAMPLE_RATE, sample_rate), n)
    weight = np.zeros(n, np.float32)
    weight[:cut] = 1.0
    fade = min(int(round(CROSSFADE_S * sample_rate)), cut, n - cut)
    if fade > 0:
        weight[cut - fade // 2 : cut - fade // 2 + fade] = np.linspace(1.0, 0.0, fade, dtype=np.float32)
    mix = weight * foreign[None] + (1 - weight) * samples
    dst = _target(source.path, out_dir, "foreign_audio", share)
    return _write(source, dst, source.frames(), (mix.astype(np.float32), sample_rate, layout))


# --------------------------------------------------------------------------------------------
# The table benchmarks and tests iterate over


@dataclass(frozen=True)
class Degradation:
    name: str
    make: Callable[..., Path]  # make(src, out_dir, severity, seconds=, size=) -> Path
    severities: tuple[float, ...]  # mildest first
    unit: str
    modality: str  # "video" | "audio": which stream it changes (the other stays as in clean)


DEGRADATIONS: dict[str, Degradation] = {
    d.name: d
    for d in (
        # 1-4 % of the face width: at 200 px (the WDA faces) sigma 2-8 px, from "soft" to "smeared".
        Degradation("face_blur", face_blur, (1.0, 2.0, 4.0), "sigma, % of face width", "video"),
        Degradation("mouth_blur", mouth_blur, (1.0, 2.0, 4.0), "sigma, % of face width", "video"),
        # CRF 35 is a low-bitrate web encode, 43 visibly blocky, 51 x264's coarsest quantiser.
        Degradation("compression", compression, (35.0, 43.0, 51.0), "x264 CRF", "video"),
        # 4 grey levels is a noisy webcam, 16 heavy sensor noise (8-bit video).
        Degradation("visual_noise", visual_noise, (4.0, 8.0, 16.0), "sigma, grey levels", "video"),
        Degradation("freeze", freeze, (0.1, 0.25, 0.5), "share of frames held", "video"),
        Degradation("still_head", still_head, (1 / 3, 2 / 3, 1.0), "share of the clip with a still head", "video"),
        Degradation("still_mouth", still_mouth, (1 / 3, 2 / 3, 1.0), "opacity of a pasted closed mouth", "video"),
        # The brief's levels: 20 dB is audible noise, 0 dB noise as loud as the speech.
        Degradation("audio_noise", audio_noise, (20.0, 10.0, 0.0), "SNR dB (white, 0-8 kHz)", "audio"),
        # 3, 6, 10 frames = 120, 240, 400 ms late: ITU-R BT.1359-1 puts detectability at 125 ms late.
        Degradation("audio_shift", audio_shift, (3.0, 6.0, 10.0), "frames of 40 ms, sound late", "audio"),
        Degradation("foreign_audio", foreign_audio, (1 / 3, 2 / 3, 1.0), "share of the audio replaced", "audio"),
    )
}
