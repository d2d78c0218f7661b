"""Backbone throughput of the exported graphs against PyTorch eager, measured in the same run.

ResNet101 (images/s at each --image-batches size) and HuBERT-Base (clips/s, --clip-seconds
long, --audio-batch clips per call), full size with random weights unless --resnet/--hubert
name real ones. The baseline is PyTorch eager FP32 on the same device, in the same process.

- CPU: ONNX Runtime (CPUExecutionProvider) vs eager.
- GPU (CUDA torch + tensorrt): TensorRT FP16 engines built here through the export code
  (FP16 graphs, profiles, timing cache; build time reported) vs eager, plus ONNX Runtime on
  CUDA when onnxruntime-gpu is installed; then FP16 engine vs FP32 ONNX max |score difference|
  on the shared real clips, through `tqscore batch` (`--device cuda`, checked to have served the
  engines, vs `--device cpu`). Engine calls copy through reused page-locked buffers
  (``tqscore.runtime.engines.TrtGraph``), so the rate includes one host copy into them per call.

    python benchmarks/export_throughput.py [--image-batches 64,150] [--audio-batch 8] [--repeats 3]
    python benchmarks/export_throughput.py --image-batches 8,16 --audio-batch 2   # small CPU run

Outputs: a table on stdout and, with --json PATH, the same numbers as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

from tqscore.export.graphs import GRAPHS, audio_module, export_graph, visual_module
from tqscore.export.parity import compare
from tqscore.layout import SAMPLE_RATE

log = logging.getLogger("export_throughput")


def build_backbones(args, folder: Path):
    """Full-size ResNet101 / HuBERT-Base: the named weights, or random ones of the same shapes
    (the tests' tiny ones with --smoke)."""
    from transformers import HubertModel, ResNetModel

    from tqscore.features.backbones import DEFAULT_HUBERT, DEFAULT_RESNET, load_pretrained

    random_resnet, random_hubert = common.random_backbones(folder, full=not args.smoke)
    args.resnet, args.hubert = args.resnet or str(random_resnet), args.hubert or str(random_hubert)
    resnet = load_pretrained(ResNetModel, args.resnet, "ResNet", "--resnet", DEFAULT_RESNET)
    hubert = load_pretrained(HubertModel, args.hubert, "HuBERT", "--hubert", DEFAULT_HUBERT)
    return visual_module(resnet.eval()), audio_module(hubert.eval())


def time_calls(fn, repeats: int, warmup: int) -> float:
    """Median seconds of one call, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def eager_runner(module, device: str):
    import torch

    module = module.to(device)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(x).to(device))
            return out.float().cpu().numpy()

    return run


def ort_runner(path: Path, providers: list[str], threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=providers)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0], session.get_providers()[0]


def engine_runners(onnx_paths: dict[str, Path], folder: Path, args) -> tuple[dict, dict]:
    """Build TensorRT FP16 engines through the export code; returns runners and build seconds."""
    from tqscore.export.trt import (
        BuildPlan,
        build_engine,
        detect_target,
        engine_filename,
        load_tensorrt,
        profiles_for,
        timing_cache_filename,
    )
    from tqscore.runtime.engines import TrtGraph

    trt, target = load_tensorrt(), detect_target()
    runners, build_s = {}, {}
    from tqscore.export.fp16 import convert

    for graph, path in onnx_paths.items():
        spec = GRAPHS[graph]
        half = folder / spec.fp16_file
        kept = convert(path, half, spec)
        plan = BuildPlan(graph, half, folder / engine_filename(spec, target), folder / timing_cache_filename(target),
                         profiles_for(graph, args.image_batches, (1, args.audio_batch)), tuple(kept))
        result = build_engine(plan, trt)
        plan.engine_path.write_bytes(result.engine)
        build_s[graph] = result.seconds
        engine = TrtGraph(plan.engine_path, trt)
        name = spec.inputs[0].name
        runners[graph] = lambda x, engine=engine, name=name: engine({name: x})
    return runners, {"target": target.model_dump(), "build_s": build_s}


def measure(args) -> dict:
    import torch

    gpu = torch.cuda.is_available()
    device = "cuda" if gpu else "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"device": torch.cuda.get_device_name(0) if gpu else f"CPU ({os.cpu_count()} cores)", "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        visual, audio = build_backbones(args, folder)
        rng = np.random.default_rng(0)
        samples = int(args.clip_seconds * SAMPLE_RATE)
        onnx_paths = {}
        for graph, module, example in (
            ("visual", visual, {"pixel_values": rng.standard_normal((2, 3, 224, 224), np.float32)}),
            ("audio", audio, {"input_values": (0.1 * rng.standard_normal((2, samples))).astype(np.float32)}),
        ):
            start = time.perf_counter()
            onnx_paths[graph] = export_graph(GRAPHS[graph], module, folder / GRAPHS[graph].file, example)
            results[f"{graph}_onnx_export_s"] = time.perf_counter() - start
        backends = {"visual": {}, "audio": {}}
        for graph, module in (("visual", visual), ("audio", audio)):
            backends[graph]["torch eager fp32"] = eager_runner(module, device)
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else ["CPUExecutionProvider"]
        for graph in ("visual", "audio"):
            run, used = ort_runner(onnx_paths[graph], providers, args.threads)
            backends[graph][f"onnxruntime {used.removesuffix('ExecutionProvider')} fp32"] = run
        if gpu:
            runners, build = engine_runners(onnx_paths, folder, args)
            results["tensorrt"] = build
            for graph, run in runners.items():
                backends[graph]["tensorrt fp16"] = run
        cases = [("visual", b, rng.standard_normal((b, 3, 224, 224), np.float32), b) for b in args.image_batches]
        cases.append(("audio", args.audio_batch, (0.1 * rng.standard_normal((args.audio_batch, samples))).astype(np.float32), args.audio_batch))
        for graph, batch, x, items in cases:
            reference = None
            for name, run in backends[graph].items():
                out = run(x)
                seconds = time_calls(lambda: run(x), args.repeats, args.warmup)
                row = {"graph": graph, "batch": batch, "backend": name, "items_per_s": items / seconds, "s_per_call": seconds}
                if reference is None:
                    reference, baseline = out, seconds
                else:
                    row |= {"speedup_vs_eager": baseline / seconds, **{f"vs_eager_{k}": v for k, v in compare(out, reference).items()}}
                results["rows"].append(row)
                log.info("%s", row)
        if gpu and not args.skip_scores:
            results["real_clip_scores"] = real_clip_score_diff(folder, args)
    return results


def real_clip_score_diff(folder: Path, args) -> dict:
    """FP16 engines vs FP32 ONNX graphs end to end: `tqscore batch` twice on the shared real clips."""
    import polars as pl

    from tqscore.export.formats import run_export, select_formats
    from tqscore.export.job import ExportJob
    from tqscore.layout import LABELS

    bundle = Path(args.bundle) if args.bundle else fitted_random_bundle(folder, args.resnet, args.hubert)
    resnet, hubert = args.resnet, args.hubert
    engines = folder / "engines"
    run_export(ExportJob(bundle, engines, resnet, hubert, tuple(args.image_batches), (1, args.audio_batch)), select_formats("onnx,engine"))
    tables = {}
    # `tqscore batch --device cuda` serves our engines when they fit this GPU (else ONNX Runtime
    # CUDA): the engine_id column says which, and a run that did not use them is refused below.
    for device in ("cuda", "cpu"):
        out = folder / f"scores-{device}.parquet"
        subprocess.run([sys.executable, "-m", "tqscore.cli", "batch", str(common.MEDIA / "real"), "--out", str(out),
                        "--engines", str(engines), "--device", device, "--no-progress"], check=False)
        tables[device] = pl.read_parquet(out).sort("path")
    used = set(tables["cuda"]["engine_id"].drop_nulls().to_list())
    if not all("tensorrt-" in e for e in used):
        raise RuntimeError(f"the GPU run did not use the TensorRT engines (engine ids {used})")
    diff = {k: float((tables["cuda"][k] - tables["cpu"][k]).abs().max()) for k in LABELS}
    return {"bundle": str(bundle), "clips": tables["cpu"].height, "max_abs_score_diff": diff,
            "max_over_labels": max(diff.values())}


def fitted_random_bundle(folder: Path, resnet: str, hubert: str) -> Path:
    """A random-weight standard fusion model whose preprocessing is fitted on the real clips' features."""
    import torch

    from tqscore.features.extract import ExtractOptions, extract_folder
    from tqscore.features.record import load_records
    from tqscore.model.bundle import save_bundle
    from tqscore.model.config import load_config
    from tqscore.model.fusion import FusionModel
    from tqscore.model.preprocess import fit_preprocessing

    features = folder / "features"
    extract_folder(common.MEDIA, features, ExtractOptions(resnet=resnet, hubert=hubert,
                                                    device="cuda", progress=False))
    batch = load_records(sorted((features / "records").rglob("*.safetensors")))
    prep = fit_preprocessing(batch.streams, batch.masks["frame_mask"], components={"visual": 20, "audio": 20, "landmarks": 20})
    torch.manual_seed(0)
    cfg = load_config("standard").replace(input_dims=prep.out_widths)
    return save_bundle(folder / "bundle", FusionModel(cfg).eval(), prep, cfg)


def print_table(results: dict) -> None:
    print(f"device: {results['device']}")
    for graph in ("visual", "audio"):
        print(f"  {graph} ONNX export: {results[f'{graph}_onnx_export_s']:.1f} s")
    if "tensorrt" in results:
        print(f"  TensorRT {results['tensorrt']['target']}: build s {results['tensorrt']['build_s']}")
    print("| graph | batch | backend | items/s | x eager | max rel diff vs eager |")
    print("|---|---|---|---|---|---|")
    for r in results["rows"]:
        unit = "images/s" if r["graph"] == "visual" else "clips/s"
        print(f"| {r['graph']} | {r['batch']} | {r['backend']} | {r['items_per_s']:.2f} {unit} | "
              f"{r.get('speedup_vs_eager', 1.0):.2f} | {r.get('vs_eager_max_rel', 0.0):.1e} |")
    if "real_clip_scores" in results:
        print(f"FP16 engines vs FP32 ONNX on the real clips: {results['real_clip_scores']}")


def main() -> None:
    parser = common.parser(__doc__)
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    parser.add_argument("--image-batches", type=ints, default=[64, 150])
    parser.add_argument("--audio-batch", type=int, default=8)
    parser.add_argument("--clip-seconds", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for torch and onnxruntime")
    parser.add_argument("--resnet", default=None, help="ResNet101 folder or hub id (default: random full-size weights)")
    parser.add_argument("--hubert", default=None, help="HuBERT-Base folder or hub id (default: random full-size weights)")
    parser.add_argument("--bundle", default=None, help="fusion bundle for the real-clip score comparison (GPU only)")
    parser.add_argument("--skip-scores", action="store_true", help="GPU: skip the real-clip score comparison")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.image_batches, args.audio_batch, args.clip_seconds, args.repeats, args.warmup = [2], 1, 2.0, 1, 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results = measure(args)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
