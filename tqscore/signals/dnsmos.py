"""DNSMOS P.835 (SIG, BAK, OVRL) and P.808 speech quality, run with ONNX Runtime.

The ONNX models are the ones the ``speechmos`` wheel ships (Microsoft's DNS-Challenge
``sig_bak_ovr.onnx`` and ``model_v8.onnx``); only their files are used, because the wheel's
Python code imports librosa. Inference follows Microsoft's ``dnsmos_local.py``: 9.01-s
segments hopped by 1 s (shorter audio is repeated to fill one), P.835 raw outputs mapped by
the published polynomials, P.808 fed a 120-band mel spectrogram of the segment minus its last
160 samples, each score the mean over segments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqscore.errors import SignalError
from tqscore.layout import SAMPLE_RATE
from tqscore.signals.dsp import melspectrogram_db

INPUT_LENGTH_S = 9.01
# Non-personalised P.835 polynomials from dnsmos_local.py (highest power first).
POLY_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
POLY_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
POLY_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


def speechmos_model_dir() -> Path:
    """The wheel's dnsmos_models folder, found without importing speechmos (which imports librosa)."""
    from importlib.util import find_spec

    spec = find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise SignalError("the speechmos package is not installed; it ships the DNSMOS ONNX models")
    return Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models"


class Dnsmos:
    """Load once per process; call with 16 kHz mono float32 audio in [-1, 1]."""

    def __init__(self, model_dir: str | Path | None = None, threads: int = 1):
        import onnxruntime as ort

        model_dir = Path(model_dir) if model_dir else speechmos_model_dir()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        paths = {name: model_dir / name for name in ("sig_bak_ovr.onnx", "model_v8.onnx")}
        for path in paths.values():
            if not path.is_file():
                raise SignalError("DNSMOS model missing", path)
        self.p835 = ort.InferenceSession(str(paths["sig_bak_ovr.onnx"]), options, providers=providers)
        self.p808 = ort.InferenceSession(str(paths["model_v8.onnx"]), options, providers=providers)

    def __call__(self, audio: np.ndarray) -> dict[str, float]:
        audio = np.asarray(audio, np.float32)
        seg_len = int(INPUT_LENGTH_S * SAMPLE_RATE)
        if len(audio) == 0:
            raise ValueError("DNSMOS needs audio; got 0 samples")
        while len(audio) < seg_len:
            audio = np.append(audio, audio)
        n_hops = int(np.floor(len(audio) / SAMPLE_RATE) - INPUT_LENGTH_S) + 1
        scores = []
        for i in range(n_hops):
            seg = audio[i * SAMPLE_RATE : i * SAMPLE_RATE + seg_len]
            if len(seg) < seg_len:
                continue
            sig, bak, ovrl = self.p835.run(None, {"input_1": seg[None, :]})[0][0]
            mel = melspectrogram_db(seg[:-160])[None]
            p808 = self.p808.run(None, {"input_1": mel})[0][0][0]
            scores.append((POLY_SIG(sig), POLY_BAK(bak), POLY_OVRL(ovrl), p808))
        sig, bak, ovrl, p808 = np.mean(scores, axis=0)
        return {"dnsmos_sig": float(sig), "dnsmos_bak": float(bak), "dnsmos_ovrl": float(ovrl),
                "dnsmos_p808": float(p808)}
