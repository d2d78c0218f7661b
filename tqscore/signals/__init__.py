"""Training-free signals: facts about a clip that need no trained tqscore model.

A/V sync offset, confidence and openness/loudness agreement from Face Mesh mouth shape
(``sync``), SyncNet LSE-C/LSE-D from user-supplied weights (``syncnet``), DNSMOS speech quality
(``dnsmos``), speech activity from Silero VAD (``vad``), face/motion facts (``face``), head
motion (``head``), expression dynamics (``expression``) and picture quality (``picture``).
``compute_signals`` fills one row of ``SIGNAL_COLUMNS`` from a
``tqscore.features.frontend.Frontend``, reading its dense pass (consecutive frames over the
first ``SIGNAL_SPAN_S`` seconds) and the audio of the same span; ``load_signal_models`` builds
the ONNX sessions once per worker process; ``frame_observers`` gives the accumulators the front
end feeds with every chunk of dense frames. Every column is None where the clip gives no basis
for it; a normal bad clip (no audio, no face, silence, too short) never raises, and no column is
ever NaN or infinite (``finite_row``).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from tqscore.layout import FPS, SAMPLE_RATE
from tqscore.signals.columns import SIGNAL_COLUMNS, SIGNAL_NAMES, SIGNALS_VERSION, SignalColumn, empty_signals

__all__ = ["SIGNAL_COLUMNS", "SIGNAL_NAMES", "SignalColumn", "compute_signals", "frame_observers",
           "load_signal_models", "signals_id"]

log = logging.getLogger(__name__)


def signals_id() -> str:
    """What a row's signals and grades were made with: ``SIGNALS_VERSION`` and the digest of the
    real-footage reference (``v1-ref3f2a...``). Stored in every batch row; resume analyses a
    file again when its stored id differs."""
    from tqscore.signals.reference import reference_digest

    return f"v{SIGNALS_VERSION}-ref{reference_digest()}"


def load_signal_models(syncnet_weights: str | Path | None = None, *, threads: int = 1) -> dict:
    """Keyword arguments for ``compute_signals``: the DNSMOS and Silero VAD sessions and, when
    weights are given (a file written by ``tqscore export-syncnet``), the SyncNet scorer."""
    from tqscore.signals.dnsmos import Dnsmos
    from tqscore.signals.vad import SileroVad

    models = {"dnsmos": Dnsmos(threads=threads), "vad": SileroVad(threads=threads), "syncnet": None}
    if syncnet_weights is not None:
        from tqscore.signals.syncnet import SyncNetScorer

        models["syncnet"] = SyncNetScorer.load(syncnet_weights, threads=threads)
    else:
        log.info("no SyncNet weights configured: syncnet_* columns stay null "
                 "(convert syncnet_v2.model once with `tqscore export-syncnet`)")
    return models


def frame_observers(width: int, height: int) -> list:
    """Fresh per-clip accumulators for the front end's dense frames of a width x height clip
    (``update(frames, landmarks, found)`` per chunk, ``result() -> dict`` of columns afterwards):
    the picture-quality statistics, which need the pixels and so cannot wait for compute_signals."""
    from tqscore.signals.picture import PictureStats

    return [PictureStats(width, height)]


def compute_signals(frontend, *, syncnet=None, dnsmos=None, vad=None, timings_ms: dict | None = None,
                    details: dict | None = None) -> dict:
    """One row of ``SIGNAL_COLUMNS`` for a frontend (``run_frontend`` output).

    ``syncnet`` / ``dnsmos`` / ``vad``: scorers from ``load_signal_models``; None leaves their
    columns null (without the VAD every speech-gated column is null). ``timings_ms``, if given,
    receives the milliseconds each signal group took; ``details``, if given, receives what is
    not a scalar column: ``sync_curve`` (31 confidences, offsets -15..+15, or None) and
    ``speech`` (the VAD's bool mask at the dense frame times, or None).
    """
    from tqscore.signals import face
    from tqscore.signals.expression import expression_signals
    from tqscore.signals.head import fit_pose, head_motion_signals
    from tqscore.signals.sync import estimate_sync, open_loudness_corr, sync_score

    row = empty_signals()
    timings = {} if timings_ms is None else timings_ms
    extra = {} if details is None else details
    clip = frontend.clip
    frames = frontend.signal
    times, found, landmarks = frames.times, frames.face_found, frames.landmarks
    aspect = clip.info.width / clip.info.height
    audio = clip.audio[: int(round(frames.span_s * SAMPLE_RATE))] if clip.info.has_audio else np.zeros(0, np.float32)
    row["signal_span_s"], row["signal_fps"] = frames.span_s, frames.fps

    speech = None
    if vad is not None and len(audio):
        from tqscore.signals.vad import frame_mask, speech_seconds

        tick = time.perf_counter()
        segments = vad.segments(audio)
        speech = frame_mask(segments, times, frames.fps)
        row["speech_ratio"] = float(speech.mean()) if len(speech) else None
        row["speech_s"] = speech_seconds(segments)
        timings["vad"] = _ms(tick)
    extra["speech"] = speech

    tick = time.perf_counter()
    row["face_present_ratio"] = face.face_present_ratio(found)
    row["face_longest_gap_s"] = face.longest_gap_s(found, times, frames.fps)
    row["frozen_frame_ratio"] = face.frozen_frame_ratio(frames.pair_mad)
    row["distinct_picture_rate"] = face.distinct_picture_rate(frames.pair_mad, frames.fps)
    row["landmark_jitter"] = face.landmark_jitter(landmarks, found, times, FPS, aspect)
    if speech is not None:
        row["mouth_motion_speech"] = face.mouth_motion_speech(landmarks, found, times, speech, aspect)
    timings["face"] = _ms(tick)

    tick = time.perf_counter()
    result = estimate_sync(landmarks, found, times, audio, fps=FPS, aspect=aspect)
    extra["sync_curve"] = None
    if result is not None:
        row["sync_offset_frames"] = result.offset_frames
        row["sync_confidence"] = result.confidence
        row["sync_score"] = sync_score(result.confidence)
        extra["sync_curve"] = [float(c) if np.isfinite(c) else None for c in result.curve]
        if speech is not None:
            row["sync_open_loudness_corr"] = open_loudness_corr(
                landmarks, found, times, audio, speech, result.offset_frames, fps=FPS, aspect=aspect)
    timings["sync"] = _ms(tick)

    tick = time.perf_counter()
    pose = fit_pose(landmarks, aspect, found)  # one fit serves the head and expression signals
    row.update(head_motion_signals(landmarks, found, times, aspect, pose))
    timings["head"] = _ms(tick)
    tick = time.perf_counter()
    row.update(expression_signals(landmarks, found, times, aspect, speech, pose))
    timings["expression"] = _ms(tick)

    for observer in frames.observers:
        tick = time.perf_counter()
        row.update(observer.result())
        timings[type(observer).__name__] = _ms(tick)

    if dnsmos is not None and len(audio):
        tick = time.perf_counter()
        row.update(dnsmos(audio))
        timings["dnsmos"] = _ms(tick)

    if syncnet is not None and len(audio):
        tick = time.perf_counter()
        row.update(syncnet.score_frontend(frontend))
        timings["syncnet"] = _ms(tick)
    return finite_row(row)


def finite_row(row: dict) -> dict:
    """The row with every NaN or infinite value replaced by None (logged: it is a bug to fix,
    but one clip's bad number must not reach the output)."""
    for name, value in row.items():
        if isinstance(value, float) and not math.isfinite(value):
            log.warning("signal %s came out %s; written as null", name, value)
            row[name] = None
    return row


def _ms(tick: float) -> float:
    return round((time.perf_counter() - tick) * 1000, 3)
