"""Helpers for the export tests: preprocessing with realistic magnitudes and small fusion bundles.

Landmark streams are values near 0.5 with a spread of a few hundredths and visual features are
non-negative pooled activations: the folded first Linear then subtracts two large terms, the
case where a wrong or imprecise fold shows up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqscore.layout import STREAMS


def random_preprocessing(seed: int = 0, components: dict[str, int] | None = None):
    from tqscore.model.preprocess import ModalityTransform, Preprocessing

    rng = np.random.default_rng(seed)
    widths = {s.name: s.pca_components for s in STREAMS} | (components or {})
    transforms = {}
    for s in STREAMS:
        d, k = s.width, widths[s.name]
        if s.name == "landmarks":
            mean, scale = rng.uniform(0.3, 0.7, d), rng.uniform(0.01, 0.05, d)
        elif s.name == "visual":
            mean, scale = rng.uniform(0.0, 2.0, d), rng.uniform(0.2, 1.5, d)
        else:
            mean, scale = rng.standard_normal(d), rng.uniform(0.5, 2.0, d)
        if k < d:
            basis = np.linalg.qr(rng.standard_normal((d, k)))[0].T
            pca_mean = 0.05 * rng.standard_normal(d)
        else:
            basis, pca_mean = np.eye(d), np.zeros(d)
        median = mean + 0.1 * scale * rng.standard_normal(d)
        transforms[s.name] = ModalityTransform(median, mean, scale, basis, pca_mean, 0.95 if k < d else 1.0)
    return Preprocessing(transforms)


def tiny_fusion(preprocessing, seed: int = 0, **changes):
    """A small FusionModel with the given preprocessing widths (random weights, eval mode)."""
    import torch

    from tqscore.model.config import load_config
    from tqscore.model.fusion import FusionModel

    torch.manual_seed(seed)
    cfg = load_config("standard").replace(
        d_model=32, n_layers=2, n_heads=4, ffn=64, input_dims=preprocessing.out_widths, **changes
    )
    return FusionModel(cfg).eval(), cfg


def make_bundle(path: Path, seed: int = 0, **changes) -> Path:
    from tqscore.model.bundle import save_bundle

    preprocessing = random_preprocessing(seed)
    model, cfg = tiny_fusion(preprocessing, seed, **changes)
    return save_bundle(path, model, preprocessing, cfg)
