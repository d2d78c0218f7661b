"""What a worker process does with one file: the CPU front end and the training-free signals.

Runs in the spawned workers of ``tqscore.runtime.workers``. It imports no torch and no
transformers (the serving image has neither): the front end is PyAV on the CPU, or NVDEC through
PyNvVideoCodec on the GPU (``tqscore.media``, ``backend="auto"``), + MediaPipe + OpenCV, and the
signals are NumPy / ONNX Runtime. A bad file is an ``error`` result naming the file and the
cause, never an exception that could stop the run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from tqscore.runtime.schema import STATUS_ERROR, STATUS_NO_FACE, STATUS_OK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipTask:
    rel: str  # path relative to the scanned directory: the row's key
    path: str  # path to open
    size_bytes: int | None
    mtime_us: int | None
    decode_device: str
    need_inputs: bool  # send crops/audio/landmarks back for the engines (False without a model)


@dataclass
class ModelInputs:
    """Per-real-frame arrays the engines need; n = frames_used rows."""

    crops: np.ndarray  # uint8 (n, 224, 224, 3)
    landmarks: np.ndarray  # float32 (n, 468, 3)
    aus: np.ndarray  # float32 (n, 17)
    frame_mask: np.ndarray  # uint8 (T,)
    frame_times: np.ndarray  # float64 (n,)
    audio: np.ndarray  # float32 16 kHz mono


@dataclass
class Analysis:
    task: ClipTask
    status: str
    error: str | None = None
    meta: dict = field(default_factory=dict)  # metadata columns of the row
    signals: dict = field(default_factory=dict)  # signal columns of the row
    ms: dict = field(default_factory=dict)  # worker stage timings (ms), keys of schema.STAGES
    inputs: ModelInputs | None = None


@dataclass
class WorkerState:
    signal_models: dict


def worker_init(syncnet_weights: str | None = None) -> WorkerState:
    """Once per worker: imports and models every clip reuses, so no clip's timings include them.

    One Face Mesh graph is started and closed here: a process's first graph start loads
    MediaPipe's models and took 0.7-2 s (later ones 20-200 ms), which the worker's first clip
    would otherwise carry in its ``ms_total``."""
    import tqscore.features.frontend  # noqa: F401  (PyAV, MediaPipe, OpenCV)
    from tqscore.features.landmarks import FaceMeshTracker
    from tqscore.signals import load_signal_models

    quiet_decoders(logging.getLogger().getEffectiveLevel())  # the pool set the parent's level
    with FaceMeshTracker():
        pass
    return WorkerState(signal_models=load_signal_models(syncnet_weights))


def quiet_decoders(level: int) -> None:
    """FFmpeg's own messages ("[h264 @ 0x...] Invalid NAL unit size") only at -v (DEBUG).

    PyAV's FFmpeg is silent unless asked, and a broken file already becomes an error row naming
    the file; at DEBUG its warnings go through Python logging (loggers ``libav.*``), so they
    reach the parent's log like any other record. decord, whose bundled FFmpeg prints past
    Python's logging, decodes no frames in a worker (``backend="auto"``: PyAV or NVDEC).
    """
    import av

    if level <= logging.DEBUG:
        av.logging.set_level(av.logging.WARNING)


def error_analysis(task: ClipTask, message: str) -> Analysis:
    return Analysis(task=task, status=STATUS_ERROR, error=message)


def analyse_clip(state: WorkerState, task: ClipTask) -> Analysis:
    from tqscore.media import MediaError
    from tqscore.signals import compute_signals

    started = time.perf_counter()
    try:
        frontend = _frontend(task, syncnet_run=state.signal_models.get("syncnet") is not None)
    except MediaError as exc:
        return error_analysis(task, f"{exc.path}: {exc.cause}")
    tick = time.perf_counter()
    details: dict = {}
    signals = compute_signals(frontend, **state.signal_models, details=details)
    signals_ms = (time.perf_counter() - tick) * 1000
    clip, found = frontend.clip, frontend.face_found
    n = clip.n_valid
    status = STATUS_OK if found.any() else STATUS_NO_FACE
    t = frontend.timings_ms
    analysis = Analysis(
        task=task,
        status=status,
        error="Face Mesh found no face on any frame" if status == STATUS_NO_FACE else None,
        meta={
            "duration_s": clip.info.duration_s,
            "fps": clip.info.fps,
            "width": clip.info.width,
            "height": clip.info.height,
            "video_codec": clip.info.video_codec,
            "frames_used": n,
            "has_audio": clip.info.has_audio,
            "sync_curve": details.get("sync_curve"),
        },
        signals=signals,
        ms={
            "decode": t.get("open", 0.0) + t.get("decode", 0.0),
            "face_mesh": t.get("facemesh_start", 0.0) + t.get("facemesh", 0.0) + t.get("aus", 0.0),
            "crops": t.get("crops", 0.0),
            "signals": signals_ms + t.get("observers", 0.0),  # observers: signal accumulators fed in the front end
        },
    )
    if task.need_inputs and status == STATUS_OK:
        analysis.inputs = ModelInputs(
            crops=frontend.crops,
            landmarks=frontend.landmarks,
            aus=frontend.aus,
            frame_mask=clip.frame_mask,
            frame_times=clip.frame_times,
            audio=clip.audio,
        )
    analysis.ms["total"] = (time.perf_counter() - started) * 1000
    return analysis


def _frontend(task: ClipTask, syncnet_run: bool):
    """The front end; with ``decode_device="auto"`` a file NVDEC cannot decode is tried on the CPU.
    ``syncnet_run``: keep the dense pass's 25-fps crops for SyncNet (only when it is configured).
    The standard frames' model crops are made only for the engines or for SyncNet (whose
    fallback, a clip whose standard frames are a 25-fps run, scores them)."""
    from tqscore.features.frontend import run_frontend
    from tqscore.media import MediaError, gpu_decoding_available

    options = {"syncnet_run": syncnet_run, "model_inputs": task.need_inputs or syncnet_run}
    try:
        return run_frontend(task.path, decode_device=task.decode_device, **options)
    except MediaError as exc:
        if task.decode_device != "auto" or not gpu_decoding_available():
            raise
        log.warning("%s: GPU decoding failed (%s); decoding on the CPU", task.path, exc.cause)
        return run_frontend(task.path, decode_device="cpu", **options)
