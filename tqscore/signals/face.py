"""Face and motion facts a user can act on: is there a face, does the picture freeze, do the
landmarks shake, does the mouth move while someone speaks.

All work on per-frame arrays and the frames' own times: ``compute_signals`` feeds them the front end's dense
pass (consecutive frames), and they hold as well for irregularly spaced frames.
"""

from __future__ import annotations

import numpy as np

from tqscore.signals.geometry import distinct_instants, inter_ocular, mean_abs_speed, mouth_features, to_plane

# Grey levels (0-255): mean |difference| of a dense frame's 64x64 grey face thumbnail and the
# previous frame's, both cut at the frame's box, below this = the same picture. Measured with
# `python benchmarks/frozen_threshold.py` (docs/signals.md, "Face and motion facts"): the first
# frame of each of the 8 real recordings held 4 s and x264-encoded at CRF 23 gives at most 0.021
# (0.131 with sensor noise of sigma 2 grey levels; 95th percentile 0.046); on six of the real
# clips the 1st percentile of the pairs is 0.27-1.95. The other two repeat frames themselves
# (frame-rate conversion: LivePortrait d12 about every 5th frame, LIA driving3 every 24th): those
# pairs read 0.02-0.05 like held frames.
FROZEN_MAD = 0.2
# Identical pairs in a row that make a hold. A frame-rate conversion inserts one repeated frame
# every N frames: an isolated identical pair, the same picture for two frame periods (67-83 ms),
# which no shared real recording shows longer. Run lengths on every shared clip
# (`python benchmarks/frozen_threshold.py`, second table; docs/signals.md, "Face and motion facts"): LivePortrait d12 35 runs of 1 pair, LIA driving3 23
# of 1 and 2 of 2, emo (15-fps motion in a 30-fps file) 153 of 1, DINet 54 of 1; styletalk, the one
# clip with longer holds, 8 of 1 and 6 of 2-5. Counting isolated repeats put two real recordings
# at 0.06-0.19 and every clip with a converted frame rate under the `frozen_frames` rule.
MIN_HOLD_PAIRS = 2


def frame_durations(frame_times: np.ndarray, fps: float) -> np.ndarray:
    """Seconds each frame stands for: the time to the next chosen frame (1/fps for the last)."""
    times = np.asarray(frame_times, np.float64)
    return np.append(np.diff(times), 1.0 / fps) if len(times) else times


def face_present_ratio(face_found: np.ndarray) -> float | None:
    return float(np.mean(face_found)) if len(face_found) else None


def longest_gap_s(face_found: np.ndarray, frame_times: np.ndarray, fps: float) -> float | None:
    """Longest run of consecutive frames without a face, in seconds of video it covers."""
    if len(face_found) == 0:
        return None
    durations = frame_durations(frame_times, fps)
    longest = run = 0.0
    for found, duration in zip(face_found, durations):
        run = 0.0 if found else run + duration
        longest = max(longest, run)
    return float(longest)


def frozen_frame_ratio(pair_mad: np.ndarray, threshold: float = FROZEN_MAD,
                       min_run: int = MIN_HOLD_PAIRS) -> float | None:
    """Share of consecutive frame pairs inside a hold: at least ``min_run`` identical pairs in a
    row (grey face thumbnails the same picture; ``pair_mad``: the front end's dense-pass
    ``SignalFrames.pair_mad``, grey levels per pair). An isolated repeat is not a hold."""
    if len(pair_mad) == 0:
        return None
    lengths = identical_runs(pair_mad, threshold)
    return float(lengths[lengths >= min_run].sum() / len(pair_mad))


def distinct_picture_rate(pair_mad: np.ndarray, fps: float, threshold: float = FROZEN_MAD) -> float | None:
    """Pictures per second that differ from the previous one: ``fps`` (the dense frames' rate)
    times the share of pairs that are not the same picture. Every repeat counts, isolated or in
    a hold, so a generator's low native rate up-converted by repeating frames shows here (15 for
    a 30-fps file that repeats every frame) while ``frozen_frame_ratio`` ignores it."""
    if len(pair_mad) == 0:
        return None
    return float(fps * np.mean(np.asarray(pair_mad) >= threshold))


def identical_runs(pair_mad: np.ndarray, threshold: float = FROZEN_MAD) -> np.ndarray:
    """Lengths (in pairs) of the runs of consecutive identical pairs, in order."""
    same = (np.asarray(pair_mad) < threshold).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], same, [0]))))
    return edges[1::2] - edges[::2]


def landmark_jitter(landmarks: np.ndarray, face_found: np.ndarray, frame_times: np.ndarray,
                    fps: float, aspect: float) -> float | None:
    """Median over face-frame triples of the RMS acceleration of the 468 points, in inter-ocular
    distances per frame^2 at ``fps`` (second divided difference scaled by 1/fps^2). Of frames
    stamped with one time only the first counts (``geometry.distinct_instants``): a triple needs
    two steps of positive length."""
    keep = distinct_instants(frame_times)
    found = np.asarray(face_found, bool)[keep]
    ok = found[:-2] & found[1:-1] & found[2:]
    if not ok.any():
        return None
    pts = to_plane(np.asarray(landmarks)[keep], aspect)
    iod = inter_ocular(pts)
    t = np.asarray(frame_times, np.float64)[keep]
    dt1, dt2 = np.diff(t)[:-1], np.diff(t)[1:]
    v1 = (pts[1:-1] - pts[:-2]) / dt1[:, None, None]
    v2 = (pts[2:] - pts[1:-1]) / dt2[:, None, None]
    acc = 2 * (v2 - v1) / (dt1 + dt2)[:, None, None] / fps**2
    rms = np.sqrt((acc**2).sum(-1).mean(-1)) / np.maximum(iod[1:-1], 1e-6)
    return float(np.median(rms[ok]))


def mouth_motion_speech(landmarks: np.ndarray, face_found: np.ndarray, frame_times: np.ndarray,
                        speech: np.ndarray, aspect: float) -> float | None:
    """Mean absolute speed of the lip opening in IOD/s over frame pairs with a face that touch
    speech (``speech``: the VAD's per-frame mask); None when no such pair exists."""
    opening = mouth_features(landmarks, face_found, aspect)[:, 1]
    speech = np.asarray(speech, bool)
    pair_ok = face_found[1:] & face_found[:-1] & (speech[1:] | speech[:-1])
    if not pair_ok.any():
        return None
    return mean_abs_speed(opening, frame_times, pair_ok)
