"""One-shot GPU check: everything the GPU path promises, measured in one command on one GPU.

Written to finish in <= 8 minutes on one H100/H200 (16 cores); on a machine without a GPU (and
with ``--smoke``: tiny models, one clip, seconds) every GPU part says "not measured: no GPU".
Each part is timed and recorded on its own, so a failure in one is reported, not fatal:

1. ``export``: full-size random-weight ResNet101, HuBERT-Base and a random fusion bundle to ONNX
   (``tqscore export --formats onnx``); random weights cost what trained weights cost.
2. ``engines``: TensorRT FP16 build time per graph, from the ONNX graphs alone (``--formats engine``).
3. ``fp16_vs_fp32``: |score difference| of the five outputs, TensorRT FP16 engines vs the FP32
   ONNX graphs (ONNX Runtime CPU), on the shared clips analysed once (goal <= 0.02).
4. ``nvdec``: NVDEC vs CPU decoding of the shared clips' standard frames (uint8 difference), and
   the score difference that causes (both analyses scored by the same engines). Training
   features come from CPU decoding, so NVDEC may serve ``--decode-device auto`` for scoring
   only at <= 0.02 (``tqscore.runtime.config.NVDEC_FOR_SCORING`` records the decision).
5. ``throughput``: ResNet101 images/s at batch 64 and 150, HuBERT 6-s clips/s at batch 1 and 8.
6. ``end_to_end``: ``tqscore batch`` clips/s on 6-s clips with the default workers (goal >= 25).
7. ``ort_tensorrt``: ONNX Runtime's TensorRT provider on the folder without our engines: the
   timing cache lands in its cache folder, HuBERT runs a length inside its profile.
8. ``peak_gpu_memory``: the largest ``nvidia-smi`` memory.used sampled during the run.

    python benchmarks/gpu_check.py --out gpu-check/      # report.json + report.md there
    python benchmarks/gpu_check.py --smoke --out /tmp/g  # tiny models, one clip (CPU: seconds)
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

import common

from tqscore.layout import LABELS, SAMPLE_RATE
from tqscore.testing.export_support import make_bundle

NO_GPU = "not measured: no GPU"
SCORE_GOAL = 0.02  # |score| difference that stays below the labels' own rounding (scores are 1-5)
E2E_GOAL = 25.0  # clips/s, issue 13
CLIP_S = 6.0  # the standard clip: 150 frames at 25 fps


class MemorySampler(threading.Thread):
    """Peak nvidia-smi memory.used (MiB) over the run, sampled twice a second."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_mib, self.stop = 0.0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                text = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                      capture_output=True, text=True, timeout=5).stdout
                self.peak_mib = max([self.peak_mib, *(float(v) for v in text.split())])
            except (OSError, ValueError, subprocess.SubprocessError):
                return
            self.stop.wait(0.5)


def gpu_target():
    from tqscore.export.trt import TensorRTUnavailable, detect_target

    try:
        return detect_target(), None
    except TensorRTUnavailable as exc:
        return None, str(exc)


def analyse(clips: list[Path], decode_device: str) -> list:
    from tqscore.runtime.analyse import ClipTask, analyse_clip, worker_init

    state = worker_init()
    return [analyse_clip(state, ClipTask(c.name, str(c), None, None, decode_device, True)) for c in clips]


def score(engines, analyses) -> list[dict | None]:
    from tqscore.runtime.scoring import EngineScorer

    scorer = EngineScorer(engines)
    out = []
    for a in analyses:  # a scorer drops a clip's inputs once scored: each call gets a copy
        finished = scorer.add([copy.copy(a)]) + scorer.flush()
        out.append(finished[0][1].values if finished[0][1] is not None else None)
    return out


def score_difference(a: list, b: list) -> dict:
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    if not pairs:
        return {"clips": 0}
    diffs = np.array([[abs(x[k] - y[k]) for k in LABELS] for x, y in pairs])
    return {"clips": len(pairs), "max_abs": float(diffs.max()), "mean_abs": float(diffs.mean()),
            "max_abs_per_label": {k: float(diffs[:, j].max()) for j, k in enumerate(LABELS)},
            "goal_max_abs": SCORE_GOAL, "met": bool(diffs.max() <= SCORE_GOAL)}


def rate(fn, items_per_call: int, seconds: float) -> float:
    fn()  # warm-up (first-call allocations, lazy kernel loading)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        calls += 1
    return calls * items_per_call / (time.perf_counter() - started)


def six_second_clips(clips: list[Path], folder: Path, copies: int) -> tuple[list[Path], str]:
    """6-s cuts of the shared clips (ffmpeg stream copy), repeated as symlinks to ``copies`` files."""
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg = shutil.which("ffmpeg")
    cuts = []
    for c in clips:
        target = folder / f"cut_{c.name}"
        if ffmpeg and subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(c), "-t", str(CLIP_S), "-c", "copy",
                                      str(target)], timeout=60).returncode == 0:
            cuts.append(target)
    how = f"6-s ffmpeg cuts of {len(cuts)} shared clips" if cuts else "the shared clips uncut (no ffmpeg here)"
    sources = cuts or clips
    batch = folder / "batch"
    batch.mkdir(exist_ok=True)
    for i in range(copies):
        os.symlink(sources[i % len(sources)], batch / f"{i:04d}_{sources[i % len(sources)].name}")
    return sources, how


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "tqscore-gpu-check",
                   help="folder for report.json and report.md (default: %(default)s)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started_run = time.perf_counter()
    full = not args.smoke
    clips = common.media_clips()[:1] if args.smoke else common.media_clips()
    target, no_gpu_reason = gpu_target()
    report: dict = {"machine": common.machine(), "gpu": target.model_dump() if target else None,
                    "no_gpu_reason": no_gpu_reason, "smoke": args.smoke, "parts": {}}
    sampler = MemorySampler()
    if target:
        sampler.start()

    def part(name: str, needs_gpu: bool, fn):
        tick = time.perf_counter()
        if needs_gpu and target is None:
            report["parts"][name] = {"status": NO_GPU}
            return None
        try:
            result = fn()
            report["parts"][name] = {"status": "ok", **(result or {})}
        except Exception as exc:  # one part failing must not lose the others' figures
            report["parts"][name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                                     "traceback": traceback.format_exc()[-2000:]}
            result = None
        report["parts"][name]["seconds"] = round(time.perf_counter() - tick, 1)
        return result

    with tempfile.TemporaryDirectory(prefix="tqscore-gpu-check-") as tmp:
        tmp = Path(tmp)
        from tqscore.export.formats import FORMATS, run_export
        from tqscore.export.job import ExportJob
        from tqscore.runtime.engines import EngineSet

        engine_dir = tmp / "engines"

        def export():
            resnet, hubert = common.random_backbones(tmp, full=full)
            job = ExportJob(make_bundle(tmp / "bundle"), engine_dir, str(resnet), str(hubert))
            run_export(job, [FORMATS["onnx"]])
            return {"graphs": {g: {"file": e.file, "mb": round((engine_dir / e.file).stat().st_size / 1e6, 1)}
                               for g, e in job.manifest.graphs.items()}, "full_size": full}

        part("export", False, export)

        def engines():
            job = ExportJob(None, engine_dir)  # from the graphs alone, as the serving image does
            run_export(job, [FORMATS["engine"]])
            return {"build_seconds": {e.graph: e.build_seconds for e in job.manifest.engines.values()},
                    "parity": {g: {k: v for k, v in f.items() if k.startswith("engine_vs_onnx")}
                               for g, f in job.manifest.parity.items()}}

        part("engines", True, engines)
        shared: dict = {}

        def analyse_cpu():
            shared["cpu"] = analyse(clips, "cpu")
            return {"clips": len(clips), "decode": "cpu"}

        part("analyse_cpu_decode", True, analyse_cpu)  # only the GPU parts compare scores
        cpu_analyses = shared.get("cpu", [])
        trt = {}

        def fp32():
            if "fp32" not in shared:
                shared["fp32"] = EngineSet.load(engine_dir, device="cpu", precision="fp32")
            return shared["fp32"]

        def fp16_vs_fp32():
            trt["engines"] = EngineSet.load(engine_dir, device="tensorrt")
            return score_difference(score(trt["engines"], cpu_analyses), score(fp32(), cpu_analyses))

        part("fp16_vs_fp32", True, fp16_vs_fp32)

        def nvdec():
            import decord

            from tqscore.media import decord_cuda_available, open_clip

            if not decord_cuda_available():
                raise RuntimeError("decord has no CUDA (NVDEC) support in this install")
            frames = []
            for c in clips:
                indices = [int(i) for i in open_clip(c, decode_device="cpu").frame_indices]
                cpu = decord.VideoReader(str(c), ctx=decord.cpu(0)).get_batch(indices).asnumpy().astype(np.int16)
                gpu = decord.VideoReader(str(c), ctx=decord.gpu(0)).get_batch(indices).asnumpy().astype(np.int16)
                diff = np.abs(cpu - gpu)
                frames.append({"clip": c.name, "mean_abs": float(diff.mean()), "max_abs": int(diff.max())})
            engines = trt.get("engines") or fp32()
            scores = score_difference(score(engines, analyse(clips, "cuda")), score(engines, cpu_analyses))
            return {"frames_uint8": frames, "scores": scores,
                    "nvdec_for_scoring": "allowed" if scores.get("met") else "not allowed: keep NVDEC_FOR_SCORING = False"}

        part("nvdec", True, nvdec)

        def throughput():
            engines = trt["engines"]
            rng = np.random.default_rng(0)
            out = {}
            for b in (64, 150):
                crops = rng.standard_normal((b, 3, 224, 224)).astype(np.float32)
                out[f"resnet101_images_per_s_batch{b}"] = round(rate(lambda: engines.visual(crops), b, 10), 1)
            for b in (1, 8):
                audio = (0.1 * rng.standard_normal((b, int(CLIP_S * SAMPLE_RATE)))).astype(np.float32)
                out[f"hubert_6s_clips_per_s_batch{b}"] = round(rate(lambda: engines.audio(audio), b, 10), 1)
            return out

        part("throughput", True, throughput)

        def end_to_end():
            from tqscore.runtime.config import BatchConfig, default_workers
            from tqscore.runtime.pipeline import run_batch

            sources, how = six_second_clips(clips, tmp / "e2e", copies=len(clips) * (2 if args.smoke else 40))
            cfg = BatchConfig(tmp / "e2e" / "batch", tmp / "e2e.parquet", engine_dir, progress=False)
            summary = run_batch(cfg)
            return {"clips": summary.processed, "of": how, "workers": default_workers(),
                    "clips_per_s": round(summary.clips_per_s, 2), "goal": E2E_GOAL, "met": summary.clips_per_s >= E2E_GOAL,
                    "statuses": dict(summary.status_counts)}

        part("end_to_end", True, end_to_end)

        def ort_tensorrt():
            import onnxruntime as ort

            if "TensorrtExecutionProvider" not in ort.get_available_providers():
                raise RuntimeError("this onnxruntime has no TensorRT execution provider")
            bare = tmp / "graphs-only"
            bare.mkdir()
            for f in engine_dir.iterdir():
                if f.suffix in (".onnx", ".json"):
                    shutil.copy(f, bare / f.name)
            from tqscore.export.manifest import read_manifest, write_manifest
            from tqscore.runtime.engines import ort_cache_dir

            manifest = read_manifest(bare)
            manifest.engines = {}
            write_manifest(bare, manifest)
            tick = time.perf_counter()
            engines = EngineSet.load(bare, device="cuda")
            audio = (0.1 * np.random.default_rng(0).standard_normal((1, int(CLIP_S * SAMPLE_RATE)))).astype(np.float32)
            hidden = engines.audio(audio)
            cache = ort_cache_dir(engines.manifest)
            return {"providers": engines.providers, "first_call_s": round(time.perf_counter() - tick, 1),
                    "hubert_steps": int(hidden.shape[1]), "cache_dir": str(cache),
                    "timing_cache_files": sorted(p.name for p in cache.glob("*timing*"))}

        part("ort_tensorrt", True, ort_tensorrt)

    if target:
        sampler.stop.set()
        sampler.join(timeout=5)
        report["parts"]["peak_gpu_memory"] = {"status": "ok", "mib": sampler.peak_mib}
    else:
        report["parts"]["peak_gpu_memory"] = {"status": NO_GPU}
    report["total_seconds"] = round(time.perf_counter() - started_run, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    lines = [f"GPU check on {report['gpu']['gpu'] if report['gpu'] else 'no GPU'} ({report['machine']['cpu']}, "
             f"{report['machine']['cores']} cores), {report['total_seconds']:.0f} s", "",
             "| part | status | s | figures |", "|---|---|---|---|"]
    for name, r in report["parts"].items():
        figures = {k: v for k, v in r.items() if k not in ("status", "seconds", "traceback")}
        lines.append(f"| {name} | {r['status']} | {r.get('seconds', '')} | `{json.dumps(figures, default=str)[:400]}` |")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    failed = [n for n, r in report["parts"].items() if r["status"] == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
