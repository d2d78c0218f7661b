"""The three served graphs: their names, inputs, outputs, FP32 nodes, and the ONNX export.

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``, chosen over the
torch.export-based default after exporting both (torch 2.13, tiny and full-size models):

- node names carry the module path (``/m/encoder/layers.3/layer_norm/LayerNormalization``), so
  the FP32 nodes of the FP16 graphs below select HuBERT's first GroupNorm and post-attention
  LayerNorms by name; the dynamo exporter names nodes ``node_layer_norm_2`` and keeps the
  module path only in metadata;
- HuBERT's weight-normalised positional convolution is folded to a constant, where the dynamo
  graph recomputes the weight norm (ReduceL2/Div) on every call;
- attention stays MatMul/Softmax, where the dynamo graph adds IsNaN/Where guards of its SDPA
  decomposition, which would blur the fusion graph's one IsNaN/Where (the imputation);
- symbolic axis names are exactly the ones below, for every exporter-visible dimension.
The cost: that exporter is deprecated upstream (a DeprecationWarning since torch 2.9), so the
choice lives in :func:`tqscore.onnx_export.export_onnx` alone (with the opset); both produce
numerically identical graphs (checked at 1e-6 relative on HuBERT).

The visual graph takes ImageNet-normalised crops (``tqscore.features.crops.normalize``),
not uint8 pixels: the PyTorch backbone takes the same tensor, so parity is checked on identical
inputs and the runtime does one normalisation for both paths.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqscore.export.manifest import TensorSpec
from tqscore.layout import FEATURE_WIDTH, LABELS, STREAM_NAMES, STREAM_WIDTHS, T
from tqscore.onnx_export import export_onnx

log = logging.getLogger(__name__)

CROP = 224


@dataclass(frozen=True)
class GraphSpec:
    name: str  # key in the manifest and EngineSet method: visual / audio / fusion
    file: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # Regular expressions over ONNX node names: the nodes the FP16 graph keeps in FP32.
    fp32_layers: tuple[str, ...] = ()

    @property
    def fp16_file(self) -> str:
        return self.file.removesuffix(".onnx") + ".fp16.onnx"

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {
            t.name: {i: d for i, d in enumerate(t.shape) if isinstance(d, str)} for t in self.inputs + self.outputs
        }


GRAPHS: dict[str, GraphSpec] = {
    "visual": GraphSpec(
        "visual",
        "resnet101.onnx",
        (TensorSpec(name="pixel_values", shape=["batch", 3, CROP, CROP]),),
        (TensorSpec(name="pooled", shape=["batch", STREAM_WIDTHS["visual"]]),),
    ),
    "audio": GraphSpec(
        "audio",
        "hubert.onnx",
        (TensorSpec(name="input_values", shape=["batch", "samples"]),),
        (TensorSpec(name="last_hidden_state", shape=["batch", "steps", STREAM_WIDTHS["audio"]]),),
        # GroupNorm over the first conv's raw-waveform activations sums squares far past FP16's
        # 65504; the post-attention LayerNorm sees the residual stream's outliers (HuBERT/wav2vec2
        # have a few channels in the thousands). The final LayerNorms are cheap and kept too.
        fp32_layers=(
            r"/feature_extractor/conv_layers\.0/layer_norm/",
            r"/encoder/layers\.\d+/layer_norm/",
            r"/encoder/layers\.\d+/final_layer_norm/",
        ),
    ),
    "fusion": GraphSpec(
        "fusion",
        "fusion.onnx",
        (
            TensorSpec(name="features", shape=["batch", T, FEATURE_WIDTH]),
            TensorSpec(name="frame_mask", shape=["batch", T]),
        ),
        (TensorSpec(name="scores", shape=["batch", len(LABELS)]),),
        # The folded first Linears subtract two large terms (W'x - W'mean, see fold.py): in FP16
        # their output is off by ~8e-4 of its range vs 6e-7 in FP32 (benchmarks/export_parity.py),
        # for 4 small GEMMs per clip; their input, the raw streams, stays FP32 up to them
        # (imputation and split): landmarks near 0.5 with spreads of 0.01-0.05 lose 1-2 % of a
        # spread to FP16's 2.4e-4 step there. The LayerNorms follow HuBERT's.
        # (ModuleDict scopes drop the dict's name: embed["visual"][0] is /model/visual/visual.0/.)
        fp32_layers=(
            rf"^/model/({'|'.join(STREAM_NAMES)})/\1\.0/",
            r"^/model/blocks\.\d+/norm\d/",
            r"^/(IsNaN|Where|Split)$",
        ),
    ),
}


def example_inputs(name: str, batch: int = 2, samples: int = 16000, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic float32 inputs of a graph's shape: for tracing and for parity checks."""
    rng = np.random.default_rng(seed)
    if name == "visual":
        return {"pixel_values": rng.standard_normal((batch, 3, CROP, CROP), np.float32)}
    if name == "audio":
        return {"input_values": (0.1 * rng.standard_normal((batch, samples))).astype(np.float32)}
    if name == "fusion":
        mask = np.ones((batch, T), np.float32)
        mask[-1, T // 2 :] = 0.0  # one clip half padding: the mask path is traced and checked
        return {"features": rng.standard_normal((batch, T, FEATURE_WIDTH), np.float32), "frame_mask": mask}
    raise KeyError(name)


def visual_module(resnet):
    """ResNetModel -> module mapping normalised crops to the pooled 2048-d vector."""
    import torch

    class VisualGraph(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            return self.m(pixel_values=pixel_values).pooler_output.flatten(1)

    return VisualGraph(resnet).eval()


def audio_module(hubert):
    import torch

    class AudioGraph(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_values):
            return self.m(input_values=input_values).last_hidden_state

    return AudioGraph(hubert).eval()


def weights_sha256(module) -> str:
    """Digest of a module's parameters and buffers (names, dtypes, shapes, values)."""
    import torch

    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        array = value.detach().cpu().contiguous()
        h.update(f"{key}:{array.dtype}:{tuple(array.shape)};".encode())
        h.update(array.view(-1).view(torch.uint8).numpy().tobytes() if array.numel() else b"")
    return h.hexdigest()


def export_graph(spec: GraphSpec, module, path: Path, inputs: dict[str, np.ndarray]) -> Path:
    """Trace ``module`` on ``inputs`` and write the graph with the spec's names and dynamic axes."""
    ordered = {t.name: inputs[t.name] for t in spec.inputs}
    return export_onnx(module, path, ordered, [t.name for t in spec.outputs], spec.dynamic_axes)
