"""Parity figures measured at export time and stored in the manifest.

ONNX graphs are compared with the PyTorch module they came from (ONNX Runtime CPU, FP32);
engines with their ONNX graph on the same inputs. The fusion graph is also compared with the
unfolded float64 reference (preprocessing applied step by step, then the model), on inputs
drawn from the fitted preprocessing statistics (so the folded subtraction sees realistic
magnitudes) with NaNs and padding frames, which is the check that the folding is right.
"""

from __future__ import annotations

import numpy as np

from tqscore.export.graphs import GRAPHS, example_inputs
from tqscore.layout import STREAM_NAMES, T


def compare(found: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Max absolute difference, and the same relative to the reference's largest magnitude."""
    if found.shape != reference.shape:
        raise ValueError(f"shapes differ: {found.shape} vs reference {reference.shape}")
    diff = float(np.max(np.abs(found.astype(np.float64) - reference.astype(np.float64)))) if found.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return {"max_abs": diff, "max_rel": diff / scale if scale > 0 else diff}


def fusion_inputs(preprocessing, batch: int = 4, seed: int = 0, nan_fraction: float = 0.01) -> dict[str, np.ndarray]:
    """Raw (batch, T, 4237) streams around the fitted mean/scale, with NaNs and a padded clip."""
    rng = np.random.default_rng(seed)
    parts = []
    for m in STREAM_NAMES:
        t = preprocessing.transforms[m]
        parts.append(t.mean + t.scale * rng.standard_normal((batch, T, t.in_width)))
    features = np.concatenate(parts, axis=-1).astype(np.float32)
    features[rng.random(features.shape) < nan_fraction] = np.nan
    features[0, 5] = np.nan  # a whole frame missing (no face, no audio)
    mask = np.ones((batch, T), np.float32)
    mask[-1, T // 3 :] = 0.0
    features[-1, T // 3 :] = 0.0  # padding frames are zeros, as in feature records
    return {"features": features, "frame_mask": mask}


def parity_inputs(graph: str, preprocessing=None) -> dict[str, np.ndarray]:
    """The inputs every parity figure of a graph is measured on (fixed seed)."""
    if graph == "fusion":
        # Without the bundle's statistics (an engine-only rebuild with no bundle at hand).
        return fusion_inputs(preprocessing) if preprocessing is not None else example_inputs("fusion", batch=4)
    if graph == "audio":
        return example_inputs("audio", batch=2, samples=2 * 16000 + 80)
    return example_inputs(graph, batch=2)


def torch_outputs(module, inputs: dict[str, np.ndarray], graph: str) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(*(torch.from_numpy(inputs[t.name]) for t in GRAPHS[graph].inputs)).numpy()


def onnx_parity(graph: str, module, onnx_path, preprocessing=None, bundle=None) -> dict[str, float]:
    """ONNX Runtime CPU vs the PyTorch module (and, for fusion, vs the unfolded float64 reference)."""
    import onnxruntime as ort

    inputs = parity_inputs(graph, preprocessing)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    found = session.run(None, inputs)[0]
    figures = {f"onnx_vs_torch_{k}": v for k, v in compare(found, torch_outputs(module, inputs, graph)).items()}
    if graph == "fusion" and bundle is not None:
        from tqscore.export.fold import unfolded_scores

        reference = unfolded_scores(bundle.model, bundle.preprocessing, inputs["features"], inputs["frame_mask"])
        figures["onnx_vs_unfolded_float64_max_abs"] = compare(found, reference)["max_abs"]
    return figures


def engine_parity(graph: str, run_engine, onnx_path, preprocessing=None) -> dict[str, float]:
    """A built engine (``run_engine(inputs) -> array``) vs its FP32 ONNX graph on ONNX Runtime CPU."""
    import onnxruntime as ort

    inputs = parity_inputs(graph, preprocessing)
    reference = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, inputs)[0]
    return {f"engine_vs_onnx_{k}": v for k, v in compare(run_engine(inputs), reference).items()}
