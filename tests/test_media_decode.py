"""Decoding to the standard clip: the shared clips, variants made here with PyAV, bad files."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from scipy.signal import resample_poly

from tqscore.testing import media_variants as mv
from conftest import ALL_CLIPS, MEDIA
from tqscore.layout import SAMPLE_RATE, T
from tqscore.media import MediaError, load_audio, open_clip, sample_indices
from tqscore.media import frames as media_frames
from tqscore.media import video as media_video

# Facts about the shared clips, from SOURCES.md: codec, displayed width x height, frames at 25 fps.
SHARED = {
    "WDA_AlexandriaOcasioCortez_000.mp4": ("mpeg4", 512, 512, 200),
    "WDA_KatieHill_000.mp4": ("mpeg4", 512, 512, 200),
    "demo1_video.mp4": ("hevc", 1080, 1920, 250),
    "latentsync_demo1_out.mp4": ("h264", 480, 854, 102),
    "sadtalker_art2_radio31.mp4": ("h264", 256, 256, 200),
    "sadtalker_camera_radio31.mp4": ("h264", 256, 256, 200),
}
SOURCE = MEDIA / "generated" / "sadtalker_art2_radio31.mp4"  # 8 s, 256x256 H.264, AAC 16 kHz stereo
SMALL = (128, 128)
ONE_FRAME = SAMPLE_RATE // 25  # audio samples in one 25 fps frame


def assert_same_audio(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to the 16-bit PCM round trip (which also clips the few source peaks above 1.0)."""
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 1e-4 and np.abs(a - b).max() < 5e-3


def expected_count(n_frames: int, fps: float) -> int:
    return min(T, len(range(0, n_frames, max(1, round(fps / 25)))))


def check_standard(clip, *, chunk: int = 32) -> int:
    """Invariants every standard clip keeps; returns the number of frames iterated."""
    info = clip.info
    n_valid = len(clip.frame_indices)
    assert clip.frame_indices.dtype == np.int64 and clip.frame_times.dtype == np.float64
    assert clip.frame_mask.dtype == np.uint8 and clip.frame_mask.shape == (T,)
    assert clip.frame_mask[:n_valid].all() and not clip.frame_mask[n_valid:].any()
    assert n_valid == expected_count(info.n_source_frames, info.fps)
    np.testing.assert_array_equal(clip.frame_indices, sample_indices(info.n_source_frames, info.fps))
    assert np.all(np.diff(clip.frame_times) > 0) and clip.frame_times[0] == 0.0
    assert clip.audio.dtype == np.float32 and clip.audio.ndim == 1
    assert len(clip.audio) == round(info.duration_s * SAMPLE_RATE)
    assert np.abs(clip.audio).max(initial=0.0) <= 1.0
    seen = 0
    for batch in clip.iter_frames(chunk=chunk):
        assert batch.dtype == np.uint8 and batch.shape[1:] == (info.height, info.width, 3)
        assert 1 <= len(batch) <= chunk
        seen += len(batch)
    assert seen == n_valid
    return seen


# --- the sampling rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_frames", "fps", "expected"),
    [
        (10, 25.0, list(range(10))),
        (10, 50.0, [0, 2, 4, 6, 8]),
        (10, 12.5, list(range(10))),  # round(0.5) == 0 -> step 1
        (10, 37.5, [0, 2, 4, 6, 8]),  # round(1.5) == 2
        (10, 62.5, [0, 2, 4, 6, 8]),  # round(2.5) == 2 (half to even, as the seed's Python)
        (10, 75.0, [0, 3, 6, 9]),
        (0, 25.0, []),
    ],
)
def test_sample_indices_step_rule(n_frames, fps, expected):
    got = sample_indices(n_frames, fps)
    assert got.dtype == np.int64
    assert got.tolist() == expected


def test_sample_indices_uniform_down_to_T():
    got = sample_indices(400, 50.0)  # every 2nd frame leaves 200, then 150 of those uniformly
    kept = np.arange(0, 400, 2)
    assert got.tolist() == kept[np.round(np.linspace(0, 199, T)).astype(int)].tolist()
    assert len(got) == T and got[0] == 0 and got[-1] == 398 and np.all(np.diff(got) > 0)
    assert sample_indices(T, 25.0).tolist() == list(range(T))


# --- the shared clips ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_CLIPS, ids=lambda p: p.name)
def test_shared_clip(path: Path):
    codec, width, height, n_frames = SHARED[path.name]
    with open_clip(path) as clip:
        info = clip.info
        assert (info.video_codec, info.width, info.height, info.n_source_frames) == (codec, width, height, n_frames)
        assert info.fps == 25.0 and not info.variable_frame_rate and info.rotation == 0
        assert info.duration_s == pytest.approx(n_frames / 25.0, abs=1e-6)
        assert info.has_audio and abs(info.audio_duration_s - info.duration_s) < 0.1
        assert len(clip.audio) == n_frames * ONE_FRAME
        assert np.sqrt(np.mean(clip.audio**2)) > 0.01  # speech, not silence
        assert check_standard(clip) == min(T, n_frames)
        with open_clip(path, backend="pyav") as other:
            assert other.info == info
            np.testing.assert_array_equal(other.frame_indices, clip.frame_indices)
            np.testing.assert_array_equal(other.audio, clip.audio)
            assert_same_frames(clip, other)


def assert_same_frames(a, b, limit: int = 48, chunk: int = 16) -> None:
    """Two clips yield the same first ``limit`` pictures (up to two FFmpegs' RGB conversion)."""
    n = 0
    for x, y in zip(a.iter_frames(chunk), b.iter_frames(chunk), strict=True):
        assert x.shape == y.shape
        assert np.abs(x.astype(np.int16) - y).mean(axis=(1, 2, 3)).max() < 2.0
        n += len(x)
        if n >= limit:
            break
    assert n == min(limit, a.n_valid)


def test_audio_matches_reference_downmix_and_resample():
    """16 kHz mono equals the channel mean (resampled by SciPy for 44.1 kHz sources)."""
    for path, rate in ((SOURCE, 16000), (MEDIA / "real" / "demo1_video.mp4", 44100)):
        with av.open(str(path)) as container:
            stereo = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
        reference = stereo.mean(axis=0)
        if rate != SAMPLE_RATE:
            reference = resample_poly(reference, 160, 441)
        audio, has_audio = load_audio(path)
        assert has_audio
        assert abs(len(audio) - len(reference)) <= 2
        n = min(len(audio), len(reference))
        assert np.corrcoef(audio[:n], reference[:n])[0, 1] > 0.999
        assert np.std(audio[:n]) == pytest.approx(np.std(reference[:n]), rel=0.01)  # no +3 dB downmix


def test_load_audio_wav_and_duration():
    audio, has_audio = load_audio(MEDIA / "audio" / "demo1_audio.wav")
    assert has_audio and audio.dtype == np.float32 and len(audio) == 153600  # 9.60 s
    cut, _ = load_audio(MEDIA / "audio" / "demo1_audio.wav", duration_s=4.0)
    padded, _ = load_audio(MEDIA / "audio" / "demo1_audio.wav", duration_s=10.0)
    np.testing.assert_array_equal(cut, audio[:64000])
    assert len(padded) == 160000 and not padded[153600:].any()


def test_frames_are_the_selected_source_frames():
    """decord's batch is the frames PyAV decodes at those indices (same pixels, same order)."""
    with av.open(str(SOURCE)) as container:
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    clip = open_clip(SOURCE)
    frames = np.concatenate(list(clip.iter_frames(chunk=50)))
    diffs = [np.abs(frames[k].astype(int) - reference[i]).mean() for k, i in enumerate(clip.frame_indices)]
    assert max(diffs) < 2.0


# --- variants made with PyAV ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def variants(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media-variants")


def make(variants: Path, name: str, **kwargs) -> Path:
    path = variants / name
    if not path.exists():
        mv.reencode(SOURCE, path, size=kwargs.pop("size", SMALL), **kwargs)
    return path


@pytest.mark.parametrize(
    ("name", "kwargs", "fps", "n_frames"),
    [
        ("fps30.mp4", dict(fps=30, seconds=8), 30.0, 240),  # step 1, 240 -> 150 uniformly
        ("fps2997.mp4", dict(fps=29.97, seconds=3), 30000 / 1001, 90),
        ("fps50.mp4", dict(fps=50, seconds=8), 50.0, 400),  # step 2 -> 200 -> 150
        ("fps12_5.mp4", dict(fps=12.5, seconds=3), 12.5, 38),  # round(0.5) == 0 -> step 1
        ("fps25_cut2s.mp4", dict(seconds=2), 25.0, 50),  # shorter than 6 s: 100 padded frames
    ],
)
def test_frame_rates(variants, name, kwargs, fps, n_frames):
    clip = open_clip(make(variants, name, **kwargs))
    assert clip.info.fps == pytest.approx(fps, rel=1e-6)
    assert clip.info.n_source_frames == n_frames and not clip.info.variable_frame_rate
    assert clip.info.duration_s == pytest.approx(n_frames / fps, abs=1e-3)
    check_standard(clip)
    np.testing.assert_allclose(clip.frame_times, clip.frame_indices / fps, atol=1e-3)


@pytest.mark.parametrize("codec", ["libx264", "libx265", "mpeg4", "libvpx-vp9"])
def test_codecs(variants, codec):
    if not mv.has_encoder(codec):
        pytest.skip(f"this PyAV wheel has no {codec} encoder")
    path = make(variants, f"{codec}{'.mkv' if codec == 'libvpx-vp9' else '.mp4'}", codec=codec, seconds=3)
    clip = open_clip(path)
    assert clip.info.video_codec == {"libx264": "h264", "libx265": "hevc", "libvpx-vp9": "vp9"}.get(codec, codec)
    assert clip.info.n_source_frames == 75 and clip.info.has_audio
    check_standard(clip)
    numbered = mv.numbered_clip(variants / f"numbered-{path.name}", 90, 30, codec=codec)
    for backend in media_frames.BACKENDS:
        shown = [mv.read_number(f) for batch in open_clip(numbered, backend=backend).iter_frames() for f in batch]
        assert shown == list(range(90)), backend




def test_codec_decord_lacks_falls_back_to_pyav(variants, caplog):
    """decord's FFmpeg 4.1 has no AV1 decoder; the probe proved PyAV can decode the file."""
    if not mv.has_encoder("libsvtav1"):
        pytest.skip("this PyAV wheel has no libsvtav1 encoder")
    path = mv.numbered_clip(variants / "av1.mp4", 30, 25, codec="libsvtav1")
    with caplog.at_level(logging.WARNING, logger="tqscore.media.video"):
        clip = open_clip(path, backend="decord")
    assert "decord cannot decode this av1 stream" in caplog.text
    assert clip.info.video_codec == "av1"
    assert [mv.read_number(f) for batch in clip.iter_frames() for f in batch] == list(range(30))


@pytest.mark.parametrize("backend", media_frames.BACKENDS)
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate(variants, suffix, backend):
    """Frame times come from the container, not from an assumed rate."""
    path = variants / f"vfr{suffix}"
    if not path.exists():
        mv.numbered_clip(path, 120, 25, vfr=True)
    clip = open_clip(path, backend=backend)
    assert clip.info.variable_frame_rate and clip.info.fps == pytest.approx(25.0, rel=0.02)
    check_standard(clip)
    durations = np.array(mv.VFR_PATTERN) / 25.0
    starts = np.concatenate([[0.0], np.cumsum(np.resize(durations, 119))])
    np.testing.assert_allclose(clip.frame_times, starts[clip.frame_indices], atol=1.5e-3)
    shown = [mv.read_number(f) for batch in clip.iter_frames() for f in batch]
    assert shown == clip.frame_indices.tolist()


@pytest.fixture(scope="module")
def numbered50(variants):
    """400 frames at 50 fps, each showing its own index."""
    path = variants / "numbered50.mp4"
    if not path.exists():
        mv.numbered_clip(path, 400, 50)
    return path


@pytest.mark.parametrize("backend", media_frames.BACKENDS)
def test_downsampled_frames_are_the_right_ones(numbered50, backend):
    clip = open_clip(numbered50, backend=backend)
    shown = [mv.read_number(f) for batch in clip.iter_frames(chunk=7) for f in batch]
    assert shown == sample_indices(400, 50.0).tolist()


@pytest.mark.parametrize("backend", media_frames.BACKENDS)
def test_iterating_again_gives_the_same_frames(numbered50, backend):
    clip = open_clip(numbered50, backend=backend)
    first = [mv.read_number(f) for batch in clip.iter_frames(chunk=40) for f in batch]
    partial = next(clip.iter_frames(chunk=3))
    again = [mv.read_number(f) for batch in clip.iter_frames(chunk=40) for f in batch]
    assert first == again == clip.frame_indices.tolist()
    assert [mv.read_number(f) for f in partial] == first[:3]


def test_decord_reads_each_frame_once_from_open_to_the_last(numbered50, monkeypatch):
    """Opening decodes frame 0 to check its size; the first frame(0) uses it instead of seeking back."""
    asked = []
    real_reader = media_frames.decord.VideoReader

    class Recording:
        def __init__(self, *a, **k):
            self.inner = real_reader(*a, **k)

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            asked.append(i)
            return self.inner[i]

        def get_batch(self, indices):
            asked.extend(indices)
            return self.inner.get_batch(indices)

    monkeypatch.setattr(media_frames.decord, "VideoReader", Recording)
    clip = open_clip(numbered50, backend="decord")
    shown = [mv.read_number(f) for batch in clip.iter_frames(chunk=7) for f in batch]
    assert shown == clip.frame_indices.tolist()
    assert asked == clip.frame_indices.tolist()  # frame 0 once, then only forward


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata(variants, rotation):
    """Frames come out as displayed: the coded picture turned by the display matrix."""
    plain = open_clip(make(variants, "rot0.mp4", seconds=1, size=(128, 64)))
    turned = open_clip(make(variants, f"rot{rotation}.mp4", seconds=1, size=(128, 64), rotation=rotation))
    assert turned.info.rotation == rotation
    expected_size = (64, 128) if rotation in (90, 270) else (128, 64)
    assert (turned.info.width, turned.info.height) == expected_size
    check_standard(turned)
    a, b = next(plain.iter_frames()).astype(int), next(turned.iter_frames()).astype(int)
    assert np.abs(np.rot90(a, rotation // 90, axes=(1, 2)) - b).mean() < 3.0
    assert_same_frames(turned, open_clip(turned.info.path, backend="pyav"))


def test_rotation_done_here_when_decord_leaves_it(variants, monkeypatch):
    """A decord build that ignores the display matrix still yields displayed frames."""
    path = make(variants, "rot90.mp4", seconds=1, size=(128, 64), rotation=90)
    reference = next(open_clip(path).iter_frames())

    class Unrotating:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            return Batch(np.rot90(self.inner[i].asnumpy(), -1))

        def get_batch(self, indices):
            return Batch(np.rot90(self.inner.get_batch(indices).asnumpy(), -1, axes=(1, 2)))

    class Batch:
        def __init__(self, array):
            self.array, self.shape = np.ascontiguousarray(array), array.shape

        def asnumpy(self):
            return self.array

    real_reader = media_frames.decord.VideoReader
    monkeypatch.setattr(media_frames.decord, "VideoReader", lambda *a, **k: Unrotating(real_reader(*a, **k)))
    clip = open_clip(path)
    np.testing.assert_array_equal(next(clip.iter_frames()), reference)


def test_no_audio_stream(variants):
    clip = open_clip(make(variants, "silent.mp4", seconds=3, audio=False))
    assert not clip.info.has_audio and clip.info.audio_duration_s == 0.0
    assert len(clip.audio) == 3 * SAMPLE_RATE and not clip.audio.any()
    audio, has_audio = load_audio(variants / "silent.mp4", duration_s=3.0)
    assert not has_audio and len(audio) == 3 * SAMPLE_RATE and not audio.any()
    check_standard(clip)


@pytest.mark.parametrize("audio_seconds", [4.0, 2.0])
def test_audio_longer_or_shorter_than_video(variants, audio_seconds):
    """Audio is cut or zero-padded to the video's 3 s; the kept part is the source audio."""
    clip = open_clip(make(variants, f"audio{audio_seconds:g}s.mkv", seconds=3, audio_seconds=audio_seconds))
    assert clip.info.duration_s == pytest.approx(3.0)
    assert clip.info.audio_duration_s == pytest.approx(audio_seconds, abs=1e-3)
    assert len(clip.audio) == 3 * SAMPLE_RATE
    source, _ = load_audio(SOURCE)
    kept = int(min(audio_seconds, 3.0) * SAMPLE_RATE)
    assert_same_audio(clip.audio[:kept], source[:kept])
    assert not clip.audio[kept:].any()


@pytest.mark.parametrize("frames", [3, -2])
def test_shifted_audio_moves_by_whole_frames(variants, frames):
    path = mv.shift_audio(SOURCE, variants / f"shift{frames}.mkv", frames)
    shifted, original = open_clip(path).audio, open_clip(SOURCE).audio
    k = abs(frames) * ONE_FRAME
    if frames > 0:
        assert_same_audio(shifted[k:], original[:-k])
        assert not shifted[:k].any()
    else:
        assert_same_audio(shifted[:-k], original[k:])


# --- bad files -----------------------------------------------------------------------------------


def assert_media_error(path: Path, cause_start: str) -> MediaError:
    with pytest.raises(MediaError) as caught:
        open_clip(path)
    err = caught.value
    assert err.path == str(path) and err.cause.startswith(cause_start), err.cause
    assert str(err) == f"{path}: {err.cause}"
    return err


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_truncated_mp4(variants, fraction):
    """An interrupted download: the index at the end (moov) is gone."""
    path = mv.truncate(MEDIA / "real" / "WDA_KatieHill_000.mp4", variants / f"cut{fraction}.mp4", fraction)
    err = assert_media_error(path, "truncated or corrupt")
    assert "moov" in err.cause


def test_truncated_faststart_mp4(variants):
    """Index in front, data cut: the frames the index lists are missing."""
    whole = make(variants, "faststart.mp4", seconds=3, faststart=True)
    assert open_clip(whole).info.n_source_frames == 75
    err = assert_media_error(mv.truncate(whole, variants / "faststart_cut.mp4", 0.3), "truncated or corrupt")
    assert "of the 75 frames" in err.cause


def test_truncated_mkv(variants):
    whole = make(variants, "whole.mkv", seconds=3)
    err = assert_media_error(mv.truncate(whole, variants / "whole_cut.mkv", 0.3), "truncated or corrupt")
    assert "header lists" in err.cause


def test_audio_starting_after_the_video_is_placed_by_time(variants):
    """An audio stream that starts 3 frames late reads like audio delayed inside the samples."""
    late = mv.shift_audio(SOURCE, variants / "late_by_pts.mkv", 3, via="timestamps")
    delayed = mv.shift_audio(SOURCE, variants / "late_by_samples.mkv", 3)
    np.testing.assert_array_equal(open_clip(late).audio, open_clip(delayed).audio)


def test_a_few_corrupt_audio_packets_become_silence(variants):
    """Two damaged AAC packets: skipped as a player would, silence in their place, still in sync."""
    path = mv.corrupt_packets(SOURCE, variants / "bad_audio_2pc.mp4", "audio", 0.02)
    original, damaged = open_clip(SOURCE).audio, open_clip(path).audio
    assert len(damaged) == len(original)
    differs = np.abs(damaged - original) > 1e-6
    assert differs.sum() <= 2 * 2 * 1024  # each lost packet and the next one, which overlaps it (MDCT)
    silenced = np.flatnonzero((damaged == 0) & (original != 0))
    assert len(silenced) == 2 * 1024  # two packets of 1024 samples at 16 kHz
    starts = silenced[np.r_[0, np.flatnonzero(np.diff(silenced) > 1) + 1]]
    assert np.all(starts % 1024 == 0)  # in the lost packets' own place: the rest stays in sync
    kept = ~differs
    assert np.corrcoef(damaged[kept], original[kept])[0, 1] > 0.999


def test_many_corrupt_audio_packets(variants):
    path = mv.corrupt_packets(SOURCE, variants / "bad_audio_50pc.mp4", "audio", 0.5)
    err = assert_media_error(path, "truncated or corrupt audio")
    assert "audio packets do not decode" in err.cause


@pytest.mark.parametrize("backend", media_frames.BACKENDS)
def test_corrupt_video_packets(variants, backend):
    """The decoders reject damaged video packets: a MediaError at open or while iterating, no crash."""
    path = variants / "bad_video_5pc.mp4"
    if not path.exists():
        mv.corrupt_packets(MEDIA / "real" / "WDA_KatieHill_000.mp4", path, "video", 0.05)
    with pytest.raises(MediaError) as caught:
        with open_clip(path, backend=backend) as clip:
            for _ in clip.iter_frames():
                pass
    assert caught.value.path == str(path) and caught.value.cause.startswith("truncated or corrupt")


def test_zero_byte_file(variants):
    assert_media_error(mv.zero_byte(variants / "empty.mp4"), "empty file (0 bytes)")


def test_text_named_mp4(variants):
    assert_media_error(mv.text_as_video(variants / "notes.mp4"), "not a video")


def test_audio_only_file():
    assert_media_error(MEDIA / "audio" / "demo1_audio.wav", "no video stream")


def test_missing_file_and_directory(variants):
    assert_media_error(variants / "nowhere.mp4", "file not found")
    assert_media_error(variants, "not a file")


def _cause_of(path: Path, queue) -> None:
    # The fork inherits earlier tests' garbage, decord readers among them; decord's __del__ crashes
    # in a forked child (a segfault seen here in a full-suite run), so the child never collects.
    gc.disable()
    if os.geteuid() == 0:  # root reads any file: drop to "nobody" in this forked child first
        os.setgid(65534)
        os.setuid(65534)
    try:
        open_clip(path)
        queue.put("opened")
    except MediaError as err:
        queue.put(err.cause)


def test_unreadable_file():
    import multiprocessing
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tq-locked-"))
    try:
        folder.chmod(0o755)
        path = mv.remux(SOURCE, folder / "locked.mp4")
        path.chmod(0)
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_cause_of, args=(path, queue))
        child.start()
        child.join(60)
        assert queue.get(timeout=5) == "permission denied"
    finally:
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()


def test_media_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(MediaError("/x.mp4", "empty file (0 bytes)")))
    assert (err.path, err.cause, str(err)) == ("/x.mp4", "empty file (0 bytes)", "/x.mp4: empty file (0 bytes)")


# --- decode device -------------------------------------------------------------------------------


def test_decode_device_without_cuda(monkeypatch, caplog):
    monkeypatch.setattr(media_frames, "gpu_decoding_available", lambda: False)
    media_video._warn_cpu_fallback.cache_clear()
    with pytest.raises(RuntimeError, match="needs GPU decoding: PyNvVideoCodec"):
        open_clip(SOURCE, decode_device="cuda")
    with caplog.at_level(logging.DEBUG, logger="tqscore.media.video"):
        for _ in range(3):
            assert open_clip(SOURCE, decode_device="auto").info.n_source_frames == 200
    assert sum("decoding on the CPU" in r.message for r in caplog.records) == 1
    with pytest.raises(ValueError):
        open_clip(SOURCE, decode_device="tpu")
    for backend in media_frames.BACKENDS:
        with pytest.raises(ValueError, match="decodes on the CPU"):
            open_clip(SOURCE, backend=backend, decode_device="cuda")
    with pytest.raises(ValueError):
        open_clip(SOURCE, backend="opencv")


def test_gpu_decoding_needs_pynvvideocodec_and_a_gpu():
    """Neither is here: the check says so without raising (it never starts a GPU context it cannot)."""
    from tqscore.media.nvdec import nvdec_available

    nvdec_available.cache_clear()
    assert media_frames.gpu_decoding_available() is False


class StandInNvdec:
    """A PyNvVideoCodec stand-in: SimpleDecoder decodes the coded (unrotated) RGB frames with PyAV,
    as NVDEC does, and hands each as an array with __dlpack__ (host memory). It checks the adapter
    (indexing, display rotation, size check, no second decode of frame 0), not NVDEC's pixels."""

    OutputColorType = type("OutputColorType", (), {"RGB": "RGB"})
    asked: list = []

    class SimpleDecoder:
        def __init__(self, path, gpu_id=0, use_device_memory=True, output_color_type=None):
            import av

            assert use_device_memory is False and output_color_type == "RGB"
            with av.open(path) as container:
                self.frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

        def __len__(self):
            return len(self.frames)

        def get_batch_frames_by_index(self, indices):
            StandInNvdec.asked.extend(indices)
            return [self.frames[i] for i in indices]


@pytest.mark.parametrize("rotation", [0, 90])
def test_nvdec_backend_behind_the_frames_interface(variants, monkeypatch, rotation):
    import sys

    from tqscore.media import nvdec

    path = make(variants, f"rot{rotation}.mp4", seconds=1, size=(128, 64), rotation=rotation)
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", StandInNvdec)
    monkeypatch.setattr(media_frames, "gpu_decoding_available", lambda: True)
    StandInNvdec.asked = []
    with open_clip(path, decode_device="cuda") as gpu, open_clip(path, backend="pyav") as cpu:
        assert isinstance(gpu._frames, nvdec.NvdecFrames)
        for a, b in zip(gpu.iter_frames(chunk=5), cpu.iter_frames(chunk=5)):
            np.testing.assert_array_equal(a, b)
        assert StandInNvdec.asked == gpu.frame_indices.tolist()  # frame 0 decoded once


def test_chunks_bound_memory():
    clip = open_clip(MEDIA / "real" / "demo1_video.mp4")  # 1080x1920 HEVC
    first = next(clip.iter_frames(chunk=8))
    assert first.shape == (8, 1920, 1080, 3)
    with pytest.raises(ValueError):
        next(clip.iter_frames(chunk=0))
    clip.close()
    with pytest.raises(ValueError, match="closed"):
        next(clip.iter_frames())


def test_frames_an_edit_list_hides_are_not_frames():
    """echomimic_v3's MP4 starts its picture 2 coded frames in (pre-roll at -80 and -40 ms, packets
    flagged discard): the clip is the 227 frames shown, from time 0, and both decoders give the
    same last frame (counting the 229 packets put every time 80 ms late and asked PyAV for two
    frames past the end: 'frame 227 of 229 does not decode')."""
    path = MEDIA.parent / "corpus" / "generated" / "echomimic_v3__antgroup.github.io__2025-07-14-4513.mp4"
    last = []
    for backend in media_frames.BACKENDS:
        with open_clip(path, backend=backend) as clip:
            assert clip.info.n_source_frames == 227
            assert clip.signal_times[0] == 0.0 and clip.signal_times[1] == pytest.approx(0.04)
            last.append(np.concatenate(list(clip.iter_frames_at(clip.signal_indices[-2:]))))
    np.testing.assert_array_equal(last[0], last[1])


_ITERATE_SLOWLY = """
import sys, time
from pathlib import Path
from tqscore.media import open_clip

def rss_mb():
    return int(next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS")).split()[1]) / 1024

clip = open_clip(sys.argv[1])
before, peak = rss_mb(), 0.0
for batch in clip.iter_frames_at(clip.signal_indices, chunk=8):
    time.sleep(0.02)  # the caller's work on the chunk (Face Mesh)
    peak = max(peak, rss_mb() - before)
print(type(clip._frames).__name__, len(clip.signal_indices), peak)
"""


def test_default_cpu_decode_holds_what_was_asked_for():
    """A caller that works between chunks (as the front end does) must not find the decoder
    holding the frames it has not asked for yet: decord's CPU reader does (its read-ahead grew by
    384-805 MiB over demo1_video's 250 frames of 1080x1920, measured), so the default on the CPU
    is PyAV. Bound: four of the front end's 64-MiB chunks (frontend.CHUNK_BYTES); PyAV measured
    63-108 MiB. In a fresh process, so no earlier test's memory is reused."""
    done = subprocess.run([sys.executable, "-c", _ITERATE_SLOWLY, str(MEDIA / "real" / "demo1_video.mp4")],
                          capture_output=True, text=True, timeout=120, check=True)
    backend, frames_read, growth_mb = done.stdout.split()
    assert (backend, int(frames_read)) == ("PyAVFrames", 250)
    assert float(growth_mb) < 4 * 64, f"resident memory grew by {growth_mb} MiB while iterating"


@pytest.mark.parametrize("backend", media_frames.BACKENDS)
def test_iterating_holds_one_chunk(backend):
    """Peak memory while iterating is a chunk or two (the caller's and the next), not 150 frames."""
    import tracemalloc

    frame_bytes = 256 * 256 * 3
    with open_clip(SOURCE, backend=backend) as clip:
        tracemalloc.start()
        try:
            n = sum(len(batch) for batch in clip.iter_frames(chunk=4))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert n == T
    assert peak < 12 * frame_bytes, f"peak {peak / frame_bytes:.1f} frames"


def test_fraction_rates_for_variants():
    assert mv.rate(29.97) == Fraction(30000, 1001) and mv.rate(12.5) == Fraction(25, 2) and mv.rate(30) == 30
