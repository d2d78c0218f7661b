"""The dense signal pass: consecutive frames over the first 60 s, one Face Mesh run serving the
model's standard clip and the signals, sync values on long clips."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tqscore.features.frontend import run_frontend
from tqscore.media import load_audio
from tqscore.media.sampling import SIGNAL_SPAN_S, signal_indices
from tqscore.signals import compute_signals
from tqscore.signals.vad import SileroVad

from conftest import MEDIA

STYLETALK = MEDIA.parent / "corpus" / "generated" / "styletalk__styletalk__demo.mp4"


def test_signal_indices_follow_the_step_rule_and_the_cap():
    starts = np.arange(5000) / 50.0  # 100 s at 50 fps: step 2, first 60 s
    idx = signal_indices(starts, 50.0)
    assert idx[0] == 0 and np.all(np.diff(idx) == 2) and starts[idx[-1]] < SIGNAL_SPAN_S <= starts[idx[-1]] + 0.04
    assert len(signal_indices(np.arange(90) / 30.0, 30.0)) == 90  # step round(1.2) = 1: every frame
    assert len(signal_indices(np.zeros(0), 25.0)) == 0


@pytest.fixture(scope="module")
def vad():
    return SileroVad()


def test_long_clip_gets_sync_and_its_standard_frames_are_dense_frames(vad):
    if not STYLETALK.is_file():
        pytest.skip(f"{STYLETALK} not present")
    fe = run_frontend(STYLETALK)
    clip, sig = fe.clip, fe.signal
    assert sig.fps == pytest.approx(30.0) and sig.span_s == pytest.approx(clip.info.duration_s)
    assert len(sig.times) == clip.info.n_source_frames and np.all(np.diff(sig.times) > 0)
    # one Face Mesh pass: a standard frame's landmarks ARE the dense frame's
    rows = np.searchsorted(clip.signal_indices, clip.frame_indices)
    np.testing.assert_array_equal(clip.signal_indices[rows], clip.frame_indices)
    np.testing.assert_array_equal(fe.landmarks, sig.landmarks[rows])
    details: dict = {}
    row = compute_signals(fe, vad=vad, details=details)
    assert row["sync_offset_frames"] is not None and row["sync_confidence"] > 0
    assert len(details["sync_curve"]) == 31 and details["speech"].shape == sig.times.shape
    assert row["signal_span_s"] == pytest.approx(26.0, abs=0.1) and row["signal_fps"] == pytest.approx(30.0)


def _looped_clip(src: Path, out: Path, seconds: float, size: int = 160) -> Path:
    """``src`` repeated until ``seconds`` long, resized to size x size, with its audio looped."""
    with av.open(str(src)) as inp:
        frames = [f.to_ndarray(format="rgb24", width=size, height=size) for f in inp.decode(video=0)]
    audio = load_audio(src)[0]
    n = int(seconds * 25)
    with av.open(str(out), "w") as container:
        video = container.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "23"})
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=16000, layout="mono")
        for i in range(n):
            container.mux(video.encode(av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")))
        container.mux(video.encode())
        pcm = np.resize(audio, int(seconds * 16000)).astype(np.float32)
        step = 1024
        for start in range(0, len(pcm), step):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + step], format="fltp", layout="mono")
            frame.sample_rate = 16000
            container.mux(sound.encode(frame))
        container.mux(sound.encode())
    return out


def test_a_clip_over_60_s_gets_real_values_over_its_first_60_s(tmp_path, vad):
    # 75 s: past the cap by more than the model's clip needs to show it spans the whole file
    path = _looped_clip(MEDIA / "real" / "WDA_KatieHill_000.mp4", tmp_path / "long.mp4", 75.0)
    fe = run_frontend(path)
    assert fe.clip.n_valid == 150 and fe.clip.frame_times[-1] > 70  # the model's clip spans the file
    assert fe.signal.times[-1] < SIGNAL_SPAN_S and len(fe.signal.times) == 1500
    row = compute_signals(fe, vad=vad)
    assert row["signal_span_s"] == pytest.approx(SIGNAL_SPAN_S)
    assert row["face_present_ratio"] > 0.95 and row["speech_ratio"] > 0.5
    # a talking speaker, read at 40-ms steps: not the "frozen mouth" of frames 1.2 s apart
    assert row["mouth_motion_speech"] > 0.3
    assert row["sync_confidence"] is not None and row["sync_confidence"] > 0.1
    assert row["frozen_frame_ratio"] < 0.05
