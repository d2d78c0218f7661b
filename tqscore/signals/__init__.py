"""Training-free signals: facts about a clip that need no trained tqscore model.

A/V sync offset and confidence from Face Mesh mouth shape (``sync``), SyncNet LSE-C/LSE-D from
user-supplied weights (``syncnet``), DNSMOS speech quality (``dnsmos``), and face/motion facts
(``face``). ``compute_signals`` fills one row of ``SIGNAL_COLUMNS`` from a
``tqscore.features.frontend.Frontend``; ``load_signal_models`` builds the ONNX sessions once per
worker process. Every column is None where the clip gives no basis for it; a normal bad clip
(no audio, no face, silence, too short) never raises.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from tqscore.layout import FPS
from tqscore.signals.columns import SIGNAL_COLUMNS, SIGNAL_NAMES, SignalColumn, empty_signals

__all__ = ["SIGNAL_COLUMNS", "SIGNAL_NAMES", "SignalColumn", "compute_signals", "load_signal_models"]

log = logging.getLogger(__name__)


def load_signal_models(syncnet_weights: str | Path | None = None, *, threads: int = 1) -> dict:
    """Keyword arguments for ``compute_signals``: the DNSMOS sessions and, when weights are
    given (a file written by ``tqscore export-syncnet``), the SyncNet scorer."""
    from tqscore.signals.dnsmos import Dnsmos

    models = {"dnsmos": Dnsmos(threads=threads), "syncnet": None}
    if syncnet_weights is not None:
        from tqscore.signals.syncnet import SyncNetScorer

        models["syncnet"] = SyncNetScorer.load(syncnet_weights, threads=threads)
    else:
        log.info("no SyncNet weights configured: syncnet_* columns stay null "
                 "(convert syncnet_v2.model once with `tqscore export-syncnet`)")
    return models


def compute_signals(frontend, *, syncnet=None, dnsmos=None, timings_ms: dict | None = None) -> dict:
    """One row of ``SIGNAL_COLUMNS`` for a frontend (``run_frontend`` output).

    ``syncnet`` / ``dnsmos``: scorers from ``load_signal_models``; None leaves their columns
    null. ``timings_ms``, if given, receives the milliseconds each signal group took.
    """
    from tqscore.signals import face
    from tqscore.signals.sync import estimate_sync, sync_score

    row = empty_signals()
    timings = {} if timings_ms is None else timings_ms
    clip = frontend.clip
    n = clip.n_valid
    times = np.asarray(clip.frame_times, np.float64)[:n]
    found = np.asarray(frontend.face_found, bool)[:n]
    landmarks = frontend.landmarks[:n]
    aspect = clip.info.width / clip.info.height
    audio = clip.audio if clip.info.has_audio else np.zeros(0, np.float32)

    tick = time.perf_counter()
    row["face_present_ratio"] = face.face_present_ratio(found)
    row["face_longest_gap_s"] = face.longest_gap_s(found, times, FPS)
    row["frozen_frame_ratio"] = face.frozen_frame_ratio(frontend.crops[:n])
    row["landmark_jitter"] = face.landmark_jitter(landmarks, found, times, FPS, aspect)
    row["speech_ratio"], row["mouth_motion_speech"] = face.mouth_motion_while_speaking(
        landmarks, found, times, audio, FPS, aspect
    )
    timings["face"] = _ms(tick)

    tick = time.perf_counter()
    result = estimate_sync(landmarks, found, times, audio, fps=FPS, aspect=aspect)
    if result is not None:
        row["sync_offset_frames"] = result.offset_frames
        row["sync_confidence"] = result.confidence
        row["sync_score"] = sync_score(result.confidence)
    timings["sync"] = _ms(tick)

    if dnsmos is not None and len(audio):
        tick = time.perf_counter()
        row.update(dnsmos(audio))
        timings["dnsmos"] = _ms(tick)

    if syncnet is not None and len(audio):
        tick = time.perf_counter()
        row.update(syncnet.score_frontend(frontend))
        timings["syncnet"] = _ms(tick)
    return row


def _ms(tick: float) -> float:
    return round((time.perf_counter() - tick) * 1000, 3)
