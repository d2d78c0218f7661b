"""GPU check that fits a lent machine: a prepared folder, parts in order of value, a report that
survives a kill.

On the CPU, ``--prepare DIR`` builds a folder of at most ~55 MiB: the PyNvVideoCodec wheel
(NVIDIA's NVDEC decoder, 26 MB on PyPI), three small shared clips, their CPU-decoded (PyAV)
standard frames and centre crops, their audio, and a random fusion bundle's FP32 and FP16 graphs.
On the GPU, ``--work DIR`` runs the parts below, each in its own process with a deadline, and
rewrites ``DIR/report.json`` and ``DIR/report.md`` after every part, so a kill at any moment
keeps every finished figure; a rerun with the same ``--work`` skips parts already done
(``--redo`` runs them again), ``--parts`` runs a subset. The GPU side imports only what the lent
machine has (PyTorch, transformers, onnx, onnxruntime CPU, CuPy, NumPy) plus the wheel it carries.

Parts, in order of value (deadline in seconds):

1. ``cuda_driver`` (30): ``tqscore.export.cuda`` on a real device: facts, a context, 96 MB
   through page-locked host and device buffers and back, bit-exact, with GB/s each way.
2. ``model_fp16`` (150): random-weight ResNet101 (BatchNorm statistics measured on the clips'
   crops) and HuBERT-Base built from their configs, FP16 vs FP32 in PyTorch on the GPU: feature cosine on the clips' crops and audio, images/s at batch 64
   and 150 and the FP16/FP32 ratio measured in the same run.
3. ``fusion_fp16`` (30): the FP16 fusion graph vs the FP32 one (ONNX Runtime) on the bundle's
   statistics: max |score difference| (goal <= 0.02).
4. ``nvdec`` (60): the clips decoded by ``tqscore.media.nvdec`` (PyNvVideoCodec) vs the PyAV
   reference frames: max and mean pixel difference per clip.
5. ``engines`` (240): TensorRT / onnxruntime-gpu engine builds, only where they are installed.

    python benchmarks/gpu_check.py --prepare gpu-prep       # here, on the CPU (not committed)
    python benchmarks/gpu_check.py --work gpu-prep          # on the GPU, the folder carried along, <= 5 min
    python benchmarks/gpu_check.py --smoke --work /tmp/g    # CPU: tiny models, under a minute

The repository's tracked files are about 2 MB, so the prepared folder and the tree travel
together within the lent machine's 64 MiB per command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# The lent GPU machine runs this script from a bare copy of the tree, with no `pip install`.
sys.path.insert(0, str(REPO))

CLIPS = ("generated/sadtalker_camera_radio31.mp4", "generated/sadtalker_art2_radio31.mp4", "real/demo1_video.mp4")
FRAMES_PER_CLIP = 3  # standard frames kept as references per clip (full size, compressed)
SCORE_GOAL = 0.02  # |score difference| FP16 vs FP32, scores on 1-5: below the labels' rounding
SIZE_LIMIT_MB = 55  # what travels with one command on the lent machine, less the working tree
DEADLINES = {"cuda_driver": 30, "model_fp16": 150, "fusion_fp16": 30, "nvdec": 60, "engines": 240}
SMOKE_DEADLINES = {"cuda_driver": 20, "model_fp16": 60, "fusion_fp16": 30, "nvdec": 20, "engines": 20}
NOT_HERE = "skipped"


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).reshape(len(a), -1), np.asarray(b, np.float64).reshape(len(b), -1)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)).min())


# --- preparation (here, on the CPU) ----------------------------------------------------------------
def prepare(folder: Path, wheel: bool = True) -> dict:
    """Fixtures, graphs and (``wheel``) the PyNvVideoCodec wheel into ``folder``; returns its manifest."""
    from tqscore.testing import MEDIA

    folder.mkdir(parents=True, exist_ok=True)
    for rel in CLIPS:
        prepare_clip(MEDIA / rel, folder / "clips")
    prepare_fusion(folder / "fusion")
    if wheel:
        subprocess.run([sys.executable, "-m", "pip", "download", "PyNvVideoCodec", "--no-deps", "--python-version", "3.12",
                        "--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--platform",
                        "manylinux_2_28_x86_64", "-d", str(folder / "wheels")], check=True)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in files) / 2**20
    if size > SIZE_LIMIT_MB:
        raise SystemExit(f"{folder}: {size:.1f} MiB, over the {SIZE_LIMIT_MB} MiB that can travel")
    manifest = {"files": {str(p.relative_to(folder)): p.stat().st_size for p in files}, "mib": round(size, 2)}
    (folder / "prepared.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def prepare_clip(path: Path, out: Path) -> None:
    from tqscore.features.crops import centre_box, crop_square
    from tqscore.media import open_clip

    out.mkdir(parents=True, exist_ok=True)
    with open_clip(path, backend="pyav") as clip:
        indices = clip.frame_indices[:FRAMES_PER_CLIP]
        frames = next(clip.iter_frames_at(indices, chunk=FRAMES_PER_CLIP))
        audio = clip.audio[: 4 * 16_000].astype(np.float32)
        rotation = clip.info.rotation
    crops = np.stack([crop_square(f, centre_box(f.shape[1], f.shape[0])) for f in frames])
    (out / path.name).write_bytes(path.read_bytes())
    np.savez_compressed(out / f"{path.stem}.npz", indices=indices, frames=frames, crops=crops, audio=audio,
                        rotation=rotation)


def prepare_fusion(out: Path) -> None:
    from tqscore.export.fold import FoldedFusion
    from tqscore.export.fp16 import convert
    from tqscore.export.graphs import GRAPHS, example_inputs, export_graph
    from tqscore.export.parity import fusion_inputs
    from tqscore.model.bundle import load_bundle
    from tqscore.testing.export_support import make_bundle

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # the bundle stays here: the graphs are what travels
        bundle = load_bundle(make_bundle(Path(tmp) / "bundle"))
    fp32 = export_graph(GRAPHS["fusion"], FoldedFusion(bundle.model, bundle.preprocessing), out / "fusion.onnx",
                        example_inputs("fusion"))
    convert(fp32, out / "fusion.fp16.onnx", GRAPHS["fusion"])
    np.savez_compressed(out / "inputs.npz", **fusion_inputs(bundle.preprocessing, batch=2))  # 5 MB of noise


# --- the parts (on the GPU; each runs in its own process) -------------------------------------------
def part_cuda_driver(work: Path, smoke: bool) -> dict:
    from tqscore.export import cuda

    try:
        gpu, capability = cuda.device_facts(0)
        cuda.check_device(0)
    except cuda.CudaUnavailable as exc:
        return {"status": NOT_HERE, "why": str(exc)}
    nbytes = 96 << 20  # about one 150-crop FP32 batch (90 MB)
    host, back, device, stream = cuda.PinnedBuffer(nbytes), cuda.PinnedBuffer(nbytes), cuda.DeviceBuffer(nbytes), cuda.CudaStream()
    host.array[:] = np.random.default_rng(0).integers(0, 256, nbytes, dtype=np.uint8)
    rates = {}
    for name, copy in (("to_device", lambda: stream.to_device(device, host, nbytes)),
                       ("to_host", lambda: stream.to_host(back, device, nbytes))):
        copy(), stream.synchronize()
        tick = time.perf_counter()
        for _ in range(10):
            copy()
        stream.synchronize()
        rates[f"{name}_gb_per_s"] = round(10 * nbytes / (time.perf_counter() - tick) / 1e9, 2)
    return {"status": "ok", "gpu": gpu, "compute_capability": capability, "bit_exact": bool(np.array_equal(host.array, back.array)),
            **rates}


def backbones(smoke: bool):
    import torch
    from transformers import HubertConfig, HubertModel, ResNetConfig, ResNetModel

    torch.manual_seed(0)
    if smoke:
        resnet = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 2048], depths=[1, 1, 1, 1], layer_type="bottleneck")
        hubert = HubertConfig(hidden_size=768, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                              conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    else:
        resnet = ResNetConfig(depths=[3, 4, 23, 3], hidden_sizes=[256, 512, 1024, 2048], layer_type="bottleneck")
        hubert = HubertConfig()  # HuBERT-Base
    return ResNetModel(resnet).eval(), HubertModel(hubert).eval()


def calibrate_batchnorm(model, crops) -> None:
    """BatchNorm statistics of a random-weight network measured on ``crops`` (a torch tensor), as
    training would set them: with the default ones (mean 0, variance 1) eval-mode BatchNorm
    normalises nothing, and a random ResNet101's activations grow block after block past FP16's
    65504 (measured: the FP16 graph gives infinities); trained weights keep them bounded."""
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batch
    model.train()
    with torch.no_grad():
        model(pixel_values=crops)
    model.eval()


def clip_fixtures(work: Path) -> list[dict]:
    return [dict(np.load(p)) for p in sorted((work / "clips").glob("*.npz"))]


def normalise(crops: np.ndarray) -> np.ndarray:
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)  # ImageNet
    return ((crops.astype(np.float32) / 255.0 - mean) / std).transpose(0, 3, 1, 2).copy()


def rate(fn, items: int, seconds: float, sync) -> float:
    fn(), sync()
    calls, tick = 0, time.perf_counter()
    while time.perf_counter() - tick < seconds:
        fn()
        calls += 1
    sync()
    return round(calls * items / (time.perf_counter() - tick), 1)


def part_model_fp16(work: Path, smoke: bool) -> dict:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    resnet, hubert = (m.to(device) for m in backbones(smoke))
    clips = clip_fixtures(work)
    crops = torch.from_numpy(normalise(np.concatenate([c["crops"] for c in clips]))).to(device)
    calibrate_batchnorm(resnet, crops)
    out = {"status": "ok", "device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "full_size": not smoke}
    with torch.no_grad():
        visual = {dt: resnet.to(dt)(pixel_values=crops.to(dt)).pooler_output.flatten(1).float().cpu().numpy()
                  for dt in (torch.float32, torch.float16)}
        out["resnet101_cosine_min"] = cosine(visual[torch.float16], visual[torch.float32])
        audio = [torch.from_numpy(c["audio"][None]).to(device) for c in clips]
        hidden = {dt: [hubert.to(dt)(input_values=a.to(dt)).last_hidden_state[0].float().cpu().numpy() for a in audio]
                  for dt in (torch.float32, torch.float16)}
        out["hubert_cosine_min"] = min(cosine(h16, h32) for h16, h32 in zip(hidden[torch.float16], hidden[torch.float32]))
        for batch in (64, 150) if not smoke else (4,):
            x = torch.randn(batch, 3, 224, 224, device=device)
            for dt in (torch.float32, torch.float16):
                model, xs = resnet.to(dt), x.to(dt)
                out[f"resnet101_{str(dt)[6:]}_images_per_s_batch{batch}"] = rate(lambda: model(pixel_values=xs), batch,
                                                                                  1 if smoke else 8, sync)
            out[f"fp16_speedup_batch{batch}"] = round(out[f"resnet101_float16_images_per_s_batch{batch}"]
                                                      / out[f"resnet101_float32_images_per_s_batch{batch}"], 2)
    return out


def part_fusion_fp16(work: Path, smoke: bool) -> dict:
    import onnxruntime as ort

    inputs = dict(np.load(work / "fusion" / "inputs.npz"))
    scores = [ort.InferenceSession(str(work / "fusion" / f), providers=["CPUExecutionProvider"]).run(None, inputs)[0]
              for f in ("fusion.onnx", "fusion.fp16.onnx")]
    diff = float(np.abs(scores[1].astype(np.float64) - scores[0]).max())
    return {"status": "ok", "max_abs_score_difference": diff, "goal": SCORE_GOAL, "met": diff <= SCORE_GOAL,
            "measured_with": "onnxruntime CPUExecutionProvider"}


def part_nvdec(work: Path, smoke: bool) -> dict:
    wheels, site = sorted((work / "wheels").glob("*.whl")), work / "site"
    if not site.is_dir() and wheels and not smoke:  # the carried wheel, unpacked beside the fixtures
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--target", str(site),
                        str(wheels[-1])], check=True)
    sys.path.insert(0, str(site))
    try:
        import PyNvVideoCodec  # noqa: F401
    except ImportError as exc:
        return {"status": NOT_HERE, "why": f"PyNvVideoCodec is not importable ({exc}); no wheel prepared or smoke run"}
    rows, worst = [], 0
    for fixture, clip in zip(clip_fixtures(work), sorted((work / "clips").glob("*.mp4"))):
        frames = nvdec_frames(clip, fixture)
        diff = np.abs(frames.astype(np.int16) - fixture["frames"].astype(np.int16))
        rows.append({"clip": clip.name, "max_abs": int(diff.max()), "mean_abs": round(float(diff.mean()), 3)})
        worst = max(worst, int(diff.max()))
    return {"status": "ok", "frames": rows, "max_abs": worst}


def nvdec_frames(path: Path, fixture: dict) -> np.ndarray:
    """The reference frames' indices decoded by tqscore's NVDEC backend (``tqscore.media.nvdec``).

    Loaded without ``tqscore.media``'s package __init__, which imports PyAV (not on the lent machine).
    """
    import importlib
    import types

    if "tqscore.media" not in sys.modules:
        package = types.ModuleType("tqscore.media")
        package.__path__ = [str(REPO / "tqscore" / "media")]
        sys.modules["tqscore.media"] = package
    nvdec = importlib.import_module("tqscore.media.nvdec")
    source = nvdec.NvdecFrames(path, tuple(fixture["frames"].shape[1:3]), int(fixture["rotation"]))
    try:
        return np.stack([source.frame(int(i)) for i in fixture["indices"]])
    finally:
        source.close()


def part_engines(work: Path, smoke: bool) -> dict:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return {"status": NOT_HERE, "why": "tensorrt is not installed (the lent machine has none: gigabytes)"}
    from tqscore.export.trt import BuildPlan, build_engine, detect_target, load_tensorrt, profiles_for

    target, trt, seconds = detect_target(), load_tensorrt(), {}
    plan = BuildPlan("fusion", work / "fusion" / "fusion.fp16.onnx", work / "fusion.engine", work / "timing.cache",
                     profiles_for("fusion"))
    seconds["fusion"] = round(build_engine(plan, trt).seconds, 1)
    return {"status": "ok", "target": target.model_dump(), "build_seconds": seconds}


PARTS = {name[5:]: fn for name, fn in globals().items() if name.startswith("part_")}


# --- the runner: one process per part, the report rewritten after each -------------------------------
def write_report(work: Path, report: dict) -> None:
    """report.json and report.md, each replaced atomically (a kill leaves the previous whole file)."""
    lines = [f"GPU check, {report['device']}: {report['seconds']:.0f} s", "", "| part | status | s | figures |",
             "|---|---|---|---|"]
    for name, r in report["parts"].items():
        figures = {k: v for k, v in r.items() if k not in ("status", "seconds")}
        lines.append(f"| {name} | {r['status']} | {r.get('seconds', '')} | `{json.dumps(figures)[:600]}` |")
    for name, text in (("report.json", json.dumps(report, indent=2) + "\n"), ("report.md", "\n".join(lines) + "\n")):
        tmp = work / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, work / name)


def run_part(name: str, work: Path, smoke: bool, deadline: float) -> dict:
    """``name`` in a child process, killed at ``deadline`` seconds; its figures or why there are none."""
    out = work / "parts" / f"{name}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--work", str(work), "--one-part", name, *(["--smoke"] if smoke else [])]
    tick = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=deadline)
    except subprocess.TimeoutExpired:
        return {"status": "deadline", "deadline_s": deadline, "seconds": round(time.perf_counter() - tick, 1)}
    seconds = round(time.perf_counter() - tick, 1)
    if proc.returncode != 0 or not out.is_file():
        return {"status": "failed", "error": (proc.stderr or proc.stdout)[-1500:], "seconds": seconds}
    return json.loads(out.read_text()) | {"seconds": seconds}


def run_parts(work: Path, parts: list[str], smoke: bool, redo: bool, deadlines: dict[str, float]) -> dict:
    previous = json.loads((work / "report.json").read_text()) if (work / "report.json").is_file() else {}
    report = {"device": "CPU smoke" if smoke else "GPU", "smoke": smoke, "seconds": 0.0,
              "parts": {} if redo else {k: v for k, v in previous.get("parts", {}).items() if v.get("status") == "ok"}}
    (work / "parts").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for name in parts:
        if name in report["parts"]:
            continue  # finished in an earlier run with this --work
        report["parts"][name] = run_part(name, work, smoke, deadlines[name])
        report["seconds"] = round(time.perf_counter() - started, 1)
        if report["parts"][name].get("gpu"):
            report["device"] = report["parts"][name]["gpu"]
        write_report(work, report)
        print(f"{name}: {report['parts'][name]['status']} ({report['parts'][name]['seconds']} s)", flush=True)
    return report


def deadline_overrides(text: str) -> dict[str, float]:
    pairs = [item.split("=") for item in text.split(",") if item]
    return {k: float(v) for k, v in pairs}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prepare", type=Path, metavar="DIR", help="build the folder the GPU run needs (here, on the CPU)")
    p.add_argument("--no-wheel", dest="wheel", action="store_false", help="with --prepare: leave out the PyNvVideoCodec wheel")
    p.add_argument("--work", type=Path, metavar="DIR", help="a prepared folder: run the parts, report there")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset, in order (default: all)")
    p.add_argument("--deadline", type=deadline_overrides, default={}, metavar="PART=S,...", help="change parts' deadlines")
    p.add_argument("--redo", action="store_true", help="run parts again that an earlier run finished")
    p.add_argument("--smoke", action="store_true", help="tiny models on the CPU: proves the report, deadlines and kills")
    p.add_argument("--one-part", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.prepare:
        manifest = prepare(args.prepare, wheel=args.wheel)
        print(f"{args.prepare}: {len(manifest['files'])} files, {manifest['mib']} MiB")
        return 0
    if args.work is None and not args.smoke:
        p.error("--prepare DIR or --work DIR")
    if args.work is None:  # --smoke alone: a throwaway prepared folder, without the wheel
        args.work = Path(tempfile.mkdtemp(prefix="gpu-check-smoke-"))
        prepare(args.work, wheel=False)
    if args.one_part:
        result = PARTS[args.one_part](args.work, args.smoke)
        (args.work / "parts" / f"{args.one_part}.json").write_text(json.dumps(result, default=float) + "\n")
        return 0
    parts = [n.strip() for n in args.parts.split(",") if n.strip()]
    unknown = [n for n in parts if n not in PARTS]
    if unknown:
        p.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    deadlines = (SMOKE_DEADLINES if args.smoke else DEADLINES) | args.deadline
    report = run_parts(args.work, parts, args.smoke, args.redo, deadlines)
    print((args.work / "report.md").read_text())
    return 1 if any(r["status"] in ("failed", "deadline") for r in report["parts"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
