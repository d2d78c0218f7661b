"""INT8 ResNet101 on this CPU: speed and fidelity against FP32, ONNX Runtime vs OpenVINO, in one run.

One run, so every ratio compares figures measured minutes apart under the same load:

1. full-size random-weight ResNet101, HuBERT-Base and a random fusion bundle exported by
   ``tqscore export`` (formats onnx + onnx-int8); the INT8 graph is calibrated on the face crops
   of ../shared/corpus (the "user's clips"), and measured on ../shared/media (clips it never saw);
2. images/s of the visual graph: FP32 vs INT8 in ONNX Runtime (the serving path,
   ``EngineSet.visual``, 64 crops per call as ``batch --batch-size``), and the same two files in
   OpenVINO's runtime, interleaved repetitions, best of each;
3. cosine of the 2048-d features INT8 vs FP32 on real face crops of the shared clips;
4. |score difference| of the five outputs on the shared clips: each clip analysed once by the
   runtime's worker code, then scored by an FP32 and an INT8 ``EngineScorer``.

    python benchmarks/int8.py            # full size (a few minutes on 2 cores)
    python benchmarks/int8.py --smoke    # tiny models, one clip
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

from tqscore.layout import LABELS
from tqscore.testing.export_support import make_bundle

CALL = 64  # crops per visual call: the runtime's default --batch-size


def cpu_flags() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("Flags")), [])
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    return ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)


def face_crops(clips: list[Path], per_clip: int) -> np.ndarray:
    from tqscore.features.crops import CROP_FACE, normalize
    from tqscore.features.frontend import run_frontend

    out = []
    for clip in clips:
        frontend = run_frontend(clip, observers=[])
        faces = frontend.crops[frontend.crop_kinds == CROP_FACE]
        if len(faces):
            out.append(normalize(faces[np.linspace(0, len(faces) - 1, min(per_clip, len(faces))).round().astype(int)]))
    return np.concatenate(out)


def openvino_runner(path: Path, threads: int):
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    return lambda crops: request.infer({0: crops})[0].copy()


def images_per_second(runners: dict, crops: np.ndarray, repeats: int) -> dict[str, float]:
    best = dict.fromkeys(runners, 0.0)
    for run in runners.values():
        run(crops[:CALL])  # warm-up: first-call allocations and kernel selection
    for _ in range(repeats):
        for name, run in runners.items():
            started = time.perf_counter()
            for i in range(0, len(crops), CALL):
                run(crops[i : i + CALL])
            best[name] = max(best[name], len(crops) / (time.perf_counter() - started))
    return best


def score_drift(engine_dir: Path, clips: list[Path]) -> tuple[np.ndarray, list[str]]:
    """(clips, 5) |INT8 - FP32| scores through the runtime's own analysis and scorer."""
    from tqscore.runtime.analyse import ClipTask, analyse_clip, worker_init
    from tqscore.runtime.engines import EngineSet
    from tqscore.runtime.scoring import EngineScorer

    state = worker_init()
    scorers = {p: EngineScorer(EngineSet.load(engine_dir, device="cpu", precision=p)) for p in ("fp32", "int8")}
    diffs, names = [], []
    for clip in clips:
        analysis = analyse_clip(state, ClipTask(clip.name, str(clip), None, None, "cpu", True))
        scores = {}
        for p, scorer in scorers.items():
            # A scorer drops a clip's inputs once scored: each gets its own shallow copy.
            finished = scorer.add([copy.copy(analysis)]) + scorer.flush()
            scores[p] = finished[0][1]
        if scores["fp32"] is None or any(v is None for v in scores["fp32"].values.values()):
            continue  # no face / no audio: no model scores to compare
        diffs.append([abs(scores["int8"].values[k] - scores["fp32"].values[k]) for k in LABELS])
        names.append(clip.name)
    return np.asarray(diffs), names


def main() -> int:
    args = common.parser(__doc__).parse_args()
    logging.basicConfig(level=logging.WARNING)
    full = not args.smoke
    threads = os.cpu_count() or 1
    print(f"machine: {common.machine()}")
    print(f"cpu flags: {cpu_flags()}")
    with tempfile.TemporaryDirectory(prefix="tqscore-int8-bench-") as tmp:
        tmp = Path(tmp)
        media = [common.smoke_clip(tmp)] if args.smoke else common.media_clips()
        calibration = media if args.smoke else sorted(p for p in common.CORPUS.rglob("*.mp4"))
        from tqscore.export.formats import run_export, select_formats
        from tqscore.export.job import ExportJob

        resnet, hubert = common.random_backbones(tmp, full=full)
        calibrate = tmp / "calibrate"
        calibrate.mkdir()
        for i, clip in enumerate(calibration):
            os.symlink(clip, calibrate / f"{i:02d}_{clip.name}")
        job = ExportJob(make_bundle(tmp / "bundle"), tmp / "engines", str(resnet), str(hubert), calibrate=calibrate)
        started = time.perf_counter()
        run_export(job, select_formats("onnx,onnx-int8"))
        export_s = time.perf_counter() - started
        entry = job.manifest.quantized["visual"]
        print(f"\nexport (onnx + onnx-int8, calibrated on {entry.calibration['crops']} face crops of "
              f"{len(entry.calibration['clips'])} corpus clips): {export_s:.0f} s")

        from tqscore.export.int8 import feature_cosines
        from tqscore.runtime.engines import EngineSet

        crops = face_crops(media, per_clip=8 if args.smoke else 32)
        if args.smoke:
            crops = crops[:16]
        fp32 = EngineSet.load(job.out, device="cpu", precision="fp32")
        int8 = EngineSet.load(job.out, device="cpu", precision="int8")
        runners = {"ONNX Runtime FP32": fp32.visual, "ONNX Runtime INT8 (QDQ)": int8.visual}
        try:
            runners["OpenVINO FP32"] = openvino_runner(job.out / "resnet101.onnx", threads)
            runners["OpenVINO INT8 (same QDQ file)"] = openvino_runner(job.out / entry.file, threads)
        except ImportError:
            print("OpenVINO: not measured: openvino is not installed (pip install openvino)")
        speed = images_per_second(runners, crops, repeats=1 if args.smoke else 3)
        reference = fp32.visual(crops)
        tag = "full-size" if full else "tiny"
        print(f"\n| {tag} random-weight ResNet101, {len(crops)} real face crops of {len(media)} shared clips | "
              f"images/s | vs ORT FP32 | cosine vs ORT FP32 min / mean |")
        print("|---|---|---|---|")
        for name, run in runners.items():
            cos = feature_cosines(np.concatenate([run(crops[i : i + CALL]) for i in range(0, len(crops), CALL)]), reference)
            print(f"| {name} | {speed[name]:.1f} | {speed[name] / speed['ONNX Runtime FP32']:.2f}x | "
                  f"{cos.min():.5f} / {cos.mean():.5f} |")

        diffs, names = score_drift(job.out, media)
        print(f"\n| |INT8 - FP32| score, random-weight fusion ({len(names)} shared clips) | max | mean |")
        print("|---|---|---|")
        for j, label in enumerate(LABELS):
            column = diffs[:, j] if len(diffs) else np.zeros(0)
            print(f"| {label} | {column.max() if len(column) else float('nan'):.2e} | "
                  f"{column.mean() if len(column) else float('nan'):.2e} |")
    print(f"\nload after: {common.machine()['load']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
