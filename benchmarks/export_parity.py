"""Fold parity at production sizes: folded fusion graph vs the unfolded float64 reference.

For the `standard` and `optimized` (default) model configs with the layout's PCA widths
(100/200/50/17), random weights, and a preprocessing with realistic magnitudes (the tests'
``export_support.random_preprocessing``: landmarks near 0.5 with spreads of 0.01-0.05, where
folding moves a large subtraction inside the Linear). Reports max |score difference| of

- the folded PyTorch module (float32) and its ONNX graph on ONNX Runtime CPU (float32),
- the unfolded float32 path (what training-side ``Bundle.predict`` computes), for scale,

each against the float64 reference, on inputs without NaNs and with 5 % NaNs. Random-weight
models give nearly constant scores, so the score columns understate what a trained model would
show; the last column is therefore the fold's own error where it arises: the first Linear's
output (folded, float32, on the raw imputed stream) against the unfolded float64 computation,
relative to that output's largest magnitude, worst modality; and the same folded Linear run in
FP16 (torch CPU half), which is why TensorRT engines keep these layers in FP32.

    python benchmarks/export_parity.py [--batch 8]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

import common

from tqscore.export.fold import FoldedFusion, unfolded_scores
from tqscore.export.graphs import GRAPHS, example_inputs, export_graph
from tqscore.export.parity import fusion_inputs
from tqscore.layout import STREAM_NAMES
from tqscore.model.config import load_config
from tqscore.model.fusion import FusionModel
from tqscore.testing.export_support import random_preprocessing


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    configs = ("standard",) if args.smoke else ("standard", "optimized")
    if args.smoke:
        args.batch = 2
    import onnxruntime as ort

    print("| config | NaNs | folded torch fp32 | folded ONNX (ORT CPU) fp32 | unfolded torch fp32 | score std "
          "| first-Linear rel. error, fold fp32 | same, fp16 |")
    print("|---|---|---|---|---|---|---|---|")
    for name in configs:
        preprocessing = random_preprocessing(seed=0)
        torch.manual_seed(0)
        cfg = load_config(name).replace(input_dims=preprocessing.out_widths)
        model = FusionModel(cfg).eval()
        folded = FoldedFusion(model, preprocessing).eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = export_graph(GRAPHS["fusion"], folded, Path(tmp) / "fusion.onnx", example_inputs("fusion"))
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for nan_fraction in (0.0, 0.05):
                inputs = fusion_inputs(preprocessing, batch=args.batch, seed=1, nan_fraction=nan_fraction)
                reference = unfolded_scores(model, preprocessing, inputs["features"], inputs["frame_mask"])
                with torch.no_grad():
                    torch_folded = folded(torch.from_numpy(inputs["features"]), torch.from_numpy(inputs["frame_mask"])).numpy()
                onnx_folded = session.run(None, inputs)[0]
                unfolded32 = unfolded_scores(model, preprocessing, inputs["features"], inputs["frame_mask"], torch.float32)
                diffs = [np.abs(a - reference).max() for a in (torch_folded, onnx_folded, unfolded32)]
                print(f"| {name} | {nan_fraction:.0%} | " + " | ".join(f"{d:.1e}" for d in diffs)
                      + f" | {reference.std(axis=0).mean():.3f} | " + " | ".join(f"{e:.1e}" for e in first_linear_error(model, folded, preprocessing, inputs)) + " |")


def first_linear_error(model, folded, preprocessing, inputs) -> tuple[float, float]:
    """Worst relative error of embed[m][0]'s output vs unfolded float64: folded in float32, in float16."""
    x = torch.from_numpy(inputs["features"])
    x = torch.where(torch.isnan(x), folded.median, x)
    worst, worst16 = 0.0, 0.0
    for m, stream in zip(STREAM_NAMES, torch.split(x, folded.widths, dim=-1)):
        linear = model.embed[m][0]
        with torch.no_grad():
            z = preprocessing.transforms[m].apply(stream.double())
            reference = z @ linear.weight.double().T + linear.bias.double()
            layer = folded.model.embed[m][0]
            found = layer(stream).double()
            found16 = torch.nn.functional.linear(stream.half(), layer.weight.half(), layer.bias.half()).double()
        scale = reference.abs().max()
        worst = max(worst, float((found - reference).abs().max() / scale))
        worst16 = max(worst16, float((found16 - reference).abs().max() / scale))
    return worst, worst16


if __name__ == "__main__":
    main()
