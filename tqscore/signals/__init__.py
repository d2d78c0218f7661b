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
ever NaN or infinite (``tqscore.numeric.finite_row``, the one guard).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqscore.layout import FPS, SAMPLE_RATE
from tqscore.numeric import finite_row
from tqscore.signals.columns import SIGNAL_COLUMNS, SIGNAL_NAMES, SIGNALS_VERSION, SignalColumn, empty_signals

__all__ = ["SIGNAL_COLUMNS", "SIGNAL_NAMES", "SignalColumn", "compute_signals", "frame_observers",
           "load_signal_models", "signal_definitions", "signals_id"]

log = logging.getLogger(__name__)


def signals_id() -> str:
    """What a row's signals and grades were made with: ``SIGNALS_VERSION`` and the digest of the
    real-footage reference (``v1-ref3f2a...``). Stored in every batch row. Resume analyses a file
    again when the definitions differ (``signal_definitions``); when only the reference differs,
    it grades the stored signals again (scores and verdicts), decoding nothing: no signal reads
    the reference."""
    from tqscore.signals.reference import reference_digest

    return f"v{SIGNALS_VERSION}-ref{reference_digest()}"


def signal_definitions(stored_id: str | None) -> str | None:
    """The signal-definition part of a ``signals_id`` (``v1`` of ``v1-ref3f2a...``); None stays None."""
    return None if stored_id is None else stored_id.split("-ref", 1)[0]


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
    clip = _SignalInputs.of(frontend)
    row = empty_signals()
    row["signal_span_s"], row["signal_fps"] = clip.frames.span_s, clip.frames.fps
    timings = {} if timings_ms is None else timings_ms
    for name, stage in _stages(clip, syncnet=syncnet, dnsmos=dnsmos, vad=vad):
        tick = time.perf_counter()
        row.update(stage(clip))
        timings[name] = _ms(tick)
    if details is not None:
        details.update(speech=clip.speech, sync_curve=clip.sync_curve)
    return finite_row(row, where=str(frontend.clip.info.path))


@dataclass
class _SignalInputs:
    """What the signal stages read, and what an earlier stage leaves for a later one: the VAD's
    speech mask (face, sync, expression) and the one head-pose fit (head, expression)."""

    frontend: object
    frames: object  # tqscore.features.frontend.SignalFrames
    audio: np.ndarray  # float32 mono at SAMPLE_RATE, the dense pass's span (empty without audio)
    aspect: float  # width / height
    speech: np.ndarray | None = None
    pose: object = None  # tqscore.signals.head.PoseFit
    sync_curve: list | None = None

    @classmethod
    def of(cls, frontend) -> _SignalInputs:
        info, frames = frontend.clip.info, frontend.signal
        audio = (frontend.clip.audio[: int(round(frames.span_s * SAMPLE_RATE))] if info.has_audio
                 else np.zeros(0, np.float32))
        return cls(frontend, frames, audio, info.width / info.height)


def _stages(clip: _SignalInputs, *, syncnet, dnsmos, vad) -> list[tuple[str, Callable[[_SignalInputs], dict]]]:
    """The signal groups in the order they run, each under the name its time is reported by.
    The VAD runs first (speech gates the later groups) and head before expression (the pose)."""
    has_audio = len(clip.audio) > 0
    stages = [("vad", lambda c: _speech_columns(c, vad))] if vad is not None and has_audio else []
    stages += [("face", _face_columns), ("sync", _sync_columns), ("head", _head_columns),
               ("expression", _expression_columns)]
    stages += [(type(observer).__name__, lambda c, o=observer: o.result()) for observer in clip.frames.observers]
    if dnsmos is not None and has_audio:
        stages.append(("dnsmos", lambda c: dnsmos(c.audio)))
    if syncnet is not None and has_audio:
        stages.append(("syncnet", lambda c: syncnet.score_frontend(c.frontend)))
    return stages


def _speech_columns(clip: _SignalInputs, vad) -> dict:
    from tqscore.signals.vad import frame_mask, speech_seconds

    segments = vad.segments(clip.audio)
    clip.speech = frame_mask(segments, clip.frames.times, clip.frames.fps)
    return {"speech_ratio": float(clip.speech.mean()) if len(clip.speech) else None,
            "speech_s": speech_seconds(segments)}


def _face_columns(clip: _SignalInputs) -> dict:
    from tqscore.signals import face

    frames = clip.frames
    times, found, landmarks = frames.times, frames.face_found, frames.landmarks
    row = {
        "face_present_ratio": face.face_present_ratio(found),
        "face_longest_gap_s": face.longest_gap_s(found, times, frames.fps),
        "frozen_frame_ratio": face.frozen_frame_ratio(frames.pair_mad),
        "distinct_picture_rate": face.distinct_picture_rate(frames.pair_mad, frames.fps),
        "landmark_jitter": face.landmark_jitter(landmarks, found, times, FPS, clip.aspect),
    }
    if clip.speech is not None:
        row["mouth_motion_speech"] = face.mouth_motion_speech(landmarks, found, times, clip.speech, clip.aspect)
    return row


def _sync_columns(clip: _SignalInputs) -> dict:
    from tqscore.signals.sync import estimate_sync, open_loudness_corr, sync_score

    frames = clip.frames
    result = estimate_sync(frames.landmarks, frames.face_found, frames.times, clip.audio, fps=FPS, aspect=clip.aspect)
    if result is None:
        return {}
    clip.sync_curve = [float(c) if np.isfinite(c) else None for c in result.curve]
    row = {"sync_offset_frames": result.offset_frames, "sync_confidence": result.confidence,
           "sync_score": sync_score(result.confidence)}
    if clip.speech is not None:
        row["sync_open_loudness_corr"] = open_loudness_corr(
            frames.landmarks, frames.face_found, frames.times, clip.audio, clip.speech, result.offset_frames,
            fps=FPS, aspect=clip.aspect)
    return row


def _head_columns(clip: _SignalInputs) -> dict:
    from tqscore.signals.head import fit_pose, head_motion_signals

    frames = clip.frames
    clip.pose = fit_pose(frames.landmarks, clip.aspect, frames.face_found)  # the head and expression signals share it
    return head_motion_signals(frames.landmarks, frames.face_found, frames.times, clip.aspect, clip.pose)


def _expression_columns(clip: _SignalInputs) -> dict:
    from tqscore.signals.expression import expression_signals

    frames = clip.frames
    return expression_signals(frames.landmarks, frames.face_found, frames.times, clip.aspect, clip.speech, clip.pose)


def _ms(tick: float) -> float:
    return round((time.perf_counter() - tick) * 1000, 3)
