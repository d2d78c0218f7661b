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

Then the FP16 graphs (``tqscore.export.fp16``) against their FP32 graphs on ONNX Runtime CPU:
the fusion graph's max |score difference| with the FP32 islands and without any (goal <= 0.02),
and with ``--backbones`` full-size random-weight ResNet101 (BatchNorm statistics measured on the
crops) and HuBERT-Base built from their configs, minimum feature cosine on centre crops of the shared clips' standard frames and on
their audio.

    python benchmarks/export_parity.py [--batch 8] [--backbones]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

import common
from gpu_check import calibrate_batchnorm  # the GPU check calibrates its random ResNet101 the same way

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
    parser.add_argument("--backbones", action="store_true", help="also full-size ResNet101/HuBERT FP16 vs FP32 (minutes)")
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
    fp16_fusion_drift(configs, args.batch)
    if args.backbones:
        fp16_backbone_drift()


def fp16_fusion_drift(configs, batch: int) -> None:
    from dataclasses import replace

    from tqscore.export.fp16 import convert, drift

    print("\n| config | FP16 vs FP32 max abs score, FP32 islands | same, no islands | nodes kept FP32 |\n|---|---|---|---|")
    for name in configs:
        preprocessing = random_preprocessing(seed=0)
        torch.manual_seed(0)
        model = FusionModel(load_config(name).replace(input_dims=preprocessing.out_widths)).eval()
        inputs = fusion_inputs(preprocessing, batch=batch, seed=1, nan_fraction=0.05)
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_graph(GRAPHS["fusion"], FoldedFusion(model, preprocessing).eval(), Path(tmp) / "f.onnx",
                                example_inputs("fusion"))
            kept = convert(fp32, Path(tmp) / "kept.onnx", GRAPHS["fusion"])
            convert(fp32, Path(tmp) / "none.onnx", replace(GRAPHS["fusion"], fp32_layers=()))
            found = [drift(fp32, Path(tmp) / f, inputs)["fp16_vs_fp32_max_abs"] for f in ("kept.onnx", "none.onnx")]
        print(f"| {name} | {found[0]:.1e} | {found[1]:.1e} | {len(kept)} |")


def fp16_backbone_drift(clips: int = 3, frames: int = 8) -> None:
    from tqscore.export.fp16 import convert, drift
    from tqscore.export.graphs import audio_module, visual_module
    from tqscore.features.backbones import AudioBackbone, VisualBackbone
    from tqscore.features.crops import centre_box, crop_square, normalize
    from tqscore.media import open_clip

    crops, waves = [], []
    for path in common.media_clips()[:clips]:
        with open_clip(path) as clip:
            batch = next(clip.iter_frames(chunk=frames))
            waves.append(clip.audio[None, : 4 * 16_000].astype(np.float32))
        crops.append(normalize(np.stack([crop_square(f, centre_box(f.shape[1], f.shape[0])) for f in batch])))
    with tempfile.TemporaryDirectory() as tmp:
        resnet, hubert = common.random_backbones(Path(tmp), full=True)
        visual = VisualBackbone(str(resnet)).model
        calibrate_batchnorm(visual, torch.from_numpy(np.concatenate(crops)))
        print("\n| graph (full size, random weights) | inputs | min cosine FP16 vs FP32 | max abs |\n|---|---|---|---|")
        for name, module, feeds in (("visual", visual_module(visual),
                                     [{"pixel_values": np.concatenate(crops)}]),
                                    ("audio", audio_module(AudioBackbone(str(hubert)).model),
                                     [{"input_values": w} for w in waves])):
            fp32 = export_graph(GRAPHS[name], module, Path(tmp) / GRAPHS[name].file, next(iter(feeds)))
            convert(fp32, Path(tmp) / GRAPHS[name].fp16_file, GRAPHS[name])
            found = [drift(fp32, Path(tmp) / GRAPHS[name].fp16_file, f) for f in feeds]
            rows = sum(len(next(iter(f.values()))) for f in feeds)
            print(f"| {name} | {rows} {'crops' if name == 'visual' else 'clips of 4 s'} | {min(f['fp16_vs_fp32_cosine_min'] for f in found):.6f} | "
                  f"{max(f['fp16_vs_fp32_max_abs'] for f in found):.2e} |")


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
