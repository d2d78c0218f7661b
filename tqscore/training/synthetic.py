"""Synthetic labelled feature sets with planted feature-label relations.

For tests, benchmarks and trying the pipeline without data: each clip has a few latent factors;
every modality is a fixed random projection of some of them plus per-frame noise, and four
dimensions are functions of the factors (each through two modalities). ``lip_sync`` is the
constant 4.763 of the seed's data, and ``missing`` of expression / cross_modal / overall labels
are missing as in the seed. A model that learns should reach a high Pearson r on the four
planted dimensions and an undefined one (NaN) on the constant dimension.
"""

from __future__ import annotations

import numpy as np

from tqscore.layout import LABELS, MISSING_LABEL, STREAMS
from tqscore.training.data import FeatureSet

# Which latent factor drives which modality's features (a modality carries 1-2 factors).
_FACTORS_OF = {"visual": (0, 3), "audio": (1, 3), "landmarks": (2,), "aus": (2, 0)}
N_FACTORS = 4
CONSTANT_LIP_SYNC = 4.763


def synthetic_feature_set(
    n: int, frames: int = 150, real_frames: tuple[int, int] | None = None, missing: float = 0.27,
    signal: float = 3.0, seed: int = 0, widths: dict[str, int] | None = None,
) -> FeatureSet:
    """``n`` clips of ``frames`` frames; ``real_frames`` = (min, max) real frames per clip (rest padding)."""
    rng = np.random.default_rng(seed)
    widths = widths or {s.name: s.width for s in STREAMS}
    z = rng.standard_normal((n, N_FACTORS)).astype(np.float32)
    lo, hi = real_frames or (frames, frames)
    n_real = rng.integers(lo, hi + 1, size=n)
    frame_mask = (np.arange(frames)[None, :] < n_real[:, None]).astype(np.float32)
    streams = {}
    for name, width in widths.items():
        basis = rng.standard_normal((N_FACTORS, width)).astype(np.float32) / np.sqrt(N_FACTORS)
        basis[[f for f in range(N_FACTORS) if f not in _FACTORS_OF[name]]] = 0.0
        x = rng.standard_normal((n, frames, width), dtype=np.float32)
        x += signal * (z @ basis)[:, None, :]
        x *= frame_mask[:, :, None]  # padding frames are zeros, as in a record
        streams[name] = x
    labels = np.empty((n, len(LABELS)), np.float32)
    planted = {
        "expression": z[:, 2] + 0.5 * z[:, 0],
        "audio_quality": z[:, 1],
        "cross_modal": z[:, 3] - 0.5 * z[:, 1],
        "overall": 0.6 * z[:, 0] + 0.4 * z[:, 1] + 0.3 * z[:, 2],
    }
    for k, label in enumerate(LABELS):
        if label == "lip_sync":
            labels[:, k] = CONSTANT_LIP_SYNC
            continue
        v = planted[label]
        labels[:, k] = np.clip(3.0 + 1.2 * v / v.std(), 1.0, 5.0)
        if label != "audio_quality":
            labels[rng.random(n) < missing, k] = MISSING_LABEL
    return FeatureSet([f"clip{i:05d}.mp4" for i in range(n)], streams, frame_mask, labels)
