"""Face and motion facts on hand-built inputs, a clip made frozen, and a clip without audio."""

from __future__ import annotations

import av
import numpy as np
import pytest

from tqscore.features.frontend import run_frontend
from tqscore.signals import SIGNAL_COLUMNS, SIGNAL_NAMES, compute_signals
from tqscore.signals.face import (
    distinct_picture_rate,
    face_present_ratio,
    frozen_frame_ratio,
    landmark_jitter,
    longest_gap_s,
    mouth_motion_speech,
)
from tqscore.signals.geometry import distinct_instants, mean_abs_speed

from conftest import MEDIA
from tqscore.testing.media_variants import resolution_change


def test_present_ratio_and_longest_gap_on_hand_built_masks():
    found = np.array([1, 1, 0, 0, 0, 1, 0, 1, 1, 0], bool)
    times = np.arange(10) / 25.0
    assert face_present_ratio(found) == pytest.approx(0.5)
    assert longest_gap_s(found, times, 25.0) == pytest.approx(3 / 25)
    # irregular frame times (the standard clip of a long video): the gap is the time it covers
    uneven = np.array([0, 0.04, 0.12, 0.16, 0.24, 0.28, 0.36, 0.40, 0.48, 0.52])
    assert longest_gap_s(found, uneven, 25.0) == pytest.approx(0.28 - 0.12)  # from frame 2 to frame 5
    assert longest_gap_s(np.ones(5, bool), times[:5], 25.0) == 0.0
    assert longest_gap_s(np.zeros(5, bool), times[:5], 25.0) == pytest.approx(5 / 25)
    assert face_present_ratio(np.zeros(0, bool)) is None


def _face(n: int) -> np.ndarray:
    """n frames of a flat 'face': eye corners 0.2 apart, lips 0.01 apart."""
    lm = np.zeros((n, 468, 3), np.float32)
    lm[:, :, :2] = 0.5
    lm[:, 33, 0], lm[:, 263, 0] = 0.4, 0.6
    return lm


def test_landmark_jitter_is_acceleration_in_inter_ocular_units():
    lm = _face(20)
    d = 0.002
    lm[:, :, 0] += d * (-1.0) ** np.arange(20)[:, None]  # whole face shakes by +/- d every frame
    jitter = landmark_jitter(lm, np.ones(20, bool), np.arange(20) / 25.0, 25.0, 1.0)
    assert jitter == pytest.approx(4 * d / 0.2, rel=1e-4)
    assert landmark_jitter(_face(20), np.ones(20, bool), np.arange(20) / 25.0, 25.0, 1.0) == 0.0


def test_repeated_frame_times_count_once_in_jitter_and_speed():
    # A stream whose timestamps restart stamps two pictures with one time: no step of zero may
    # be divided by (the inf would reach the output guard and the column would read null).
    lm = _face(20)
    lm[:, :, 0] += 0.002 * (-1.0) ** np.arange(20)[:, None]
    times = np.arange(20) / 25.0
    clean = landmark_jitter(lm, np.ones(20, bool), times, 25.0, 1.0)
    doubled = np.repeat(np.arange(20), 2)  # every frame stored twice under its time
    assert landmark_jitter(lm[doubled], np.ones(40, bool), times[doubled], 25.0, 1.0) == pytest.approx(clean)
    assert distinct_instants(np.array([0.0, 0.0, 0.04, 0.04, 0.08])).tolist() == [True, False, True, False, True]
    assert mean_abs_speed(np.array([0.0, 1.0, 1.0, 2.0]), np.array([0.0, 0.04, 0.04, 0.08]),
                          np.ones(3, bool)) == pytest.approx(25.0)
    assert mean_abs_speed(np.array([0.0, 1.0]), np.array([0.04, 0.04]), np.ones(1, bool)) is None


def test_a_resolution_change_with_restarted_timestamps_gets_a_real_jitter(tmp_path):
    clip = resolution_change(MEDIA / "generated" / "sadtalker_art2_radio31.mp4", tmp_path / "spliced.ts",
                             seconds=1.0, restart_timestamps=True)
    fe = run_frontend(clip, model_inputs=False)
    assert (np.diff(fe.signal.times) == 0).sum() >= 20  # the case under test: times repeat
    row = compute_signals(fe)
    assert row["face_present_ratio"] == 1.0
    assert isinstance(row["landmark_jitter"], float) and 0.0 < row["landmark_jitter"] < 0.2


def _speaking(n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, speech mask, landmarks) of n frames at 25 fps whose lower lip bobs at 4 Hz (never
    closing) while frames 20-179 are speech."""
    times = np.arange(n) / 25.0
    speech = np.zeros(n, bool)
    speech[20:180] = True
    moving = _face(n)
    moving[:, 14, 1] += 0.03 + 0.02 * np.sin(2 * np.pi * 4 * times)
    return times, speech, moving


def test_mouth_motion_is_zero_for_a_frozen_mouth_while_speaking():
    times, speech, moving = _speaking()
    n = len(times)
    assert mouth_motion_speech(_face(n), np.ones(n, bool), times, speech, 1.0) == 0.0
    motion = mouth_motion_speech(moving, np.ones(n, bool), times, speech, 1.0)
    # opening = mean of five lip pairs, one of which moves: mean |speed| 0.02 / 5 * 2 pi 4 * 2 / pi / IOD 0.2,
    # times sinc(w dt / 2) for a difference over 40 ms
    half = 2 * np.pi * 4 / 25 / 2
    assert motion == pytest.approx(0.02 / 5 * 2 * np.pi * 4 * 2 / np.pi / 0.2 * np.sin(half) / half, rel=0.02)
    assert mouth_motion_speech(moving, np.ones(n, bool), times, np.zeros(n, bool), 1.0) is None


def test_a_few_misplaced_lip_frames_add_no_more_than_their_own_travel():
    # Face Mesh misplacing the lips on single frames (a ghost of another mouth) is a jump out and
    # back; the reading may grow by that travel's share of the pairs, not more. An RMS grows 3x as
    # much here (+0.22 vs the +0.093 bound), which let a faint pasted still mouth read as MORE motion.
    times, speech, moving = _speaking()
    n = len(times)
    glitched = moving.copy()
    jump, frames = 0.1, [50, 100, 150]
    glitched[frames, 14, 1] += jump
    clean = mouth_motion_speech(moving, np.ones(n, bool), times, speech, 1.0)
    bad = mouth_motion_speech(glitched, np.ones(n, bool), times, speech, 1.0)
    pairs = int((speech[1:] | speech[:-1]).sum())
    travel = len(frames) * 2 * (jump / 5 / 0.2) * 25  # out and back, opening / IOD, per second
    assert clean < bad <= clean + travel / pairs + 1e-9


@pytest.fixture(scope="module")
def frozen_clip(tmp_path_factory):
    """latentsync_demo1_out's frames with frames 40-79 replaced by frame 40, x264, no audio."""
    src = MEDIA / "generated" / "latentsync_demo1_out.mp4"
    out = tmp_path_factory.mktemp("frozen") / "frozen_no_audio.mp4"
    with av.open(str(src)) as inp:
        frames = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    frames[40:80] = [frames[40]] * 40
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return out, len(frames)


def test_frozen_frame_ratio_on_a_clip_made_frozen(frozen_clip, frontend_of):
    path, n = frozen_clip
    fe = run_frontend(path)
    ratio = frozen_frame_ratio(fe.signal.pair_mad)
    # The held frames make 39 identical pairs of n - 1: both frames of a pair are cut at one
    # box, so Face Mesh's jitter on the held face cannot hide any of them. The source repeats one
    # frame itself (pair 6, 0.05 grey levels; the next lowest pair 0.46): an isolated repeat.
    original = frontend_of(MEDIA / "generated" / "latentsync_demo1_out.mp4")
    assert np.sum(original.signal.pair_mad < 0.2) == 1
    assert frozen_frame_ratio(original.signal.pair_mad) == 0.0
    assert ratio == pytest.approx(39 / (n - 1))


def test_a_hold_counts_and_isolated_repeats_do_not():
    moving, same = 5.0, 0.01
    # 24 -> 25 fps style: one repeated frame every 5 frames, never two in a row.
    converted = np.tile([moving] * 4 + [same], 20)
    assert frozen_frame_ratio(converted) == 0.0
    # A 200-ms hold at 25 fps (5 frames, 4 identical pairs) among 96 moving pairs, and one of 2 pairs.
    held = np.array([moving] * 50 + [same] * 4 + [moving] * 46)
    assert frozen_frame_ratio(held) == pytest.approx(0.04)
    assert frozen_frame_ratio(np.array([same, same, moving, same])) == pytest.approx(0.5)
    assert frozen_frame_ratio(np.full(10, same)) == 1.0
    assert frozen_frame_ratio(np.zeros(0)) is None


def test_distinct_picture_rate_counts_every_repeat():
    moving, same = 5.0, 0.01
    assert distinct_picture_rate(np.tile([moving] * 4 + [same], 20), 25.0) == pytest.approx(20.0)
    assert distinct_picture_rate(np.full(10, moving), 30.0) == 30.0
    assert distinct_picture_rate(np.full(10, same), 30.0) == 0.0
    assert distinct_picture_rate(np.zeros(0), 25.0) is None


def test_distinct_picture_rate_of_15_fps_motion_in_a_30_fps_file(tmp_path):
    """latentsync_demo1_out's every other frame, each written twice at 30 fps: the motion of a
    15-fps generator up-converted by repetition, which frozen_frame_ratio does not count."""
    src = MEDIA / "generated" / "latentsync_demo1_out.mp4"
    out = tmp_path / "doubled_30fps.mp4"
    with av.open(str(src)) as inp:
        frames = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)][::2]
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for _ in range(2):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    fe = run_frontend(out, model_inputs=False)
    assert fe.signal.fps == pytest.approx(30.0)
    assert distinct_picture_rate(fe.signal.pair_mad, fe.signal.fps) == pytest.approx(15.0, abs=0.5)
    assert frozen_frame_ratio(fe.signal.pair_mad) == 0.0


def test_null_columns_without_audio_and_without_syncnet(frozen_clip):
    from tqscore.signals.dnsmos import Dnsmos
    from tqscore.signals.vad import SileroVad

    fe = run_frontend(frozen_clip[0])
    assert not fe.clip.info.has_audio
    row = compute_signals(fe, dnsmos=Dnsmos(), vad=SileroVad(), syncnet=None)
    assert set(row) == set(SIGNAL_NAMES)
    audio_based = {"sync_offset_frames", "sync_confidence", "sync_score", "syncnet_offset_frames",
                   "syncnet_lse_c", "syncnet_lse_d", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808",
                   "speech_ratio", "speech_s", "mouth_motion_speech", "sync_open_loudness_corr"}
    assert all(row[k] is None for k in audio_based)
    assert row["face_present_ratio"] == 1.0 and row["face_longest_gap_s"] == 0.0
    assert row["frozen_frame_ratio"] > 0.3 and row["landmark_jitter"] > 0.0


def test_columns_table_is_complete():
    for col in SIGNAL_COLUMNS:
        assert col.dtype in ("float32", "int32") and col.unit and col.range and col.description
        assert col.better in ("higher", "lower", "closer to 0", "context", "inside the real-footage range")
    assert len(SIGNAL_NAMES) == len(set(SIGNAL_NAMES))
