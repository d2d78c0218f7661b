"""DNSMOS the straightforward way: the whole P.835 graph run once per 9.01-s segment, as
Microsoft's reference script does.

The reference the shared-frames implementation (``tqscore.signals.dnsmos``) must match, and the
baseline of ``benchmarks/dnsmos_speed.py``.
"""

from __future__ import annotations

import numpy as np

from tqscore.layout import SAMPLE_RATE
from tqscore.signals.dnsmos import INPUT_LENGTH_S, POLY_BAK, POLY_OVRL, POLY_SIG, speechmos_model_dir
from tqscore.signals.dsp import melspectrogram_db


class PerSegmentDnsmos:
    def __init__(self, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        folder = speechmos_model_dir()
        self.p835 = ort.InferenceSession(str(folder / "sig_bak_ovr.onnx"), options, providers=["CPUExecutionProvider"])
        self.p808 = ort.InferenceSession(str(folder / "model_v8.onnx"), options, providers=["CPUExecutionProvider"])

    def __call__(self, audio: np.ndarray) -> dict[str, float]:
        audio = np.asarray(audio, np.float32)
        seg_len = int(INPUT_LENGTH_S * SAMPLE_RATE)
        while len(audio) < seg_len:
            audio = np.append(audio, audio)
        n_hops = int(np.floor(len(audio) / SAMPLE_RATE) - INPUT_LENGTH_S) + 1
        scores = []
        for i in range(n_hops):
            seg = audio[i * SAMPLE_RATE : i * SAMPLE_RATE + seg_len]
            if len(seg) < seg_len:
                continue
            sig, bak, ovrl = self.p835.run(None, {"input_1": seg[None, :]})[0][0]
            p808 = self.p808.run(None, {"input_1": melspectrogram_db(seg[:-160])[None]})[0][0][0]
            scores.append((POLY_SIG(sig), POLY_BAK(bak), POLY_OVRL(ovrl), p808))
        sig, bak, ovrl, p808 = np.mean(scores, axis=0)
        return {"dnsmos_sig": float(sig), "dnsmos_bak": float(bak), "dnsmos_ovrl": float(ovrl), "dnsmos_p808": float(p808)}
