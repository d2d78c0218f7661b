"""End-to-end `tqscore batch` against a PyTorch-eager reference pipeline, in one run.

Speed (full-size random-weight ResNet101 + HuBERT-Base, the default "optimized" fusion model
with random weights and preprocessing, exported to FP32 ONNX through the export code):

- reference: the PyTorch path one clip after another (front end, signals, ResNet, HuBERT,
  fusion in eager mode), each stage timed;
- runtime: `run_batch` with ONNX Runtime engines, CPU workers overlapping the engines;
- each runtime stage alone: the worker stage (front end + signals, `batch` without engines,
  same worker count), the visual / audio / fusion engines on the same clips' inputs.
Printed: clips/s per stage and in total, runtime / reference, runtime / slowest stage alone.

Memory: a long run (default 210 files, symlinks cycling over the shared clips) through the
real command with tiny engines; resident memory (main process, and main + workers) sampled for
15 s from file 20 and from file 200: the floor (memory kept between clips) and the peak.

    python benchmarks/runtime_e2e.py                       # both parts
    python benchmarks/runtime_e2e.py --long-run 0          # speed only
    python benchmarks/runtime_e2e.py --clips 0             # memory only
    python benchmarks/runtime_e2e.py --smoke               # tiny models, a 4-s clip, two files
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common
from tqscore.layout import STREAM_NAMES, STREAMS

log = logging.getLogger("runtime_e2e")


def random_bundle(folder: Path, config: str, seed: int = 0) -> Path:
    """A bundle of the given config with random weights and random orthonormal PCA bases."""
    import torch

    from tqscore.model.bundle import save_bundle
    from tqscore.model.config import load_config
    from tqscore.model.fusion import FusionModel
    from tqscore.model.preprocess import ModalityTransform, Preprocessing

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    transforms = {}
    for s in STREAMS:
        basis, _ = np.linalg.qr(rng.standard_normal((s.width, s.pca_components)))
        transforms[s.name] = ModalityTransform(
            median=rng.standard_normal(s.width), mean=rng.standard_normal(s.width) * 0.1,
            scale=rng.uniform(0.5, 2.0, s.width), components=basis.T, pca_mean=np.zeros(s.width), variance_kept=0.95,
        )
    prep = Preprocessing(transforms)
    cfg = load_config(config).replace(input_dims=prep.out_widths)
    return save_bundle(folder / f"bundle-{config}", FusionModel(cfg).eval(), prep, cfg)


def export(bundle: Path, resnet: Path, hubert: Path, out: Path) -> Path:
    from tqscore.export.formats import run_export, select_formats
    from tqscore.export.job import ExportJob

    run_export(ExportJob(bundle, out, resnet=str(resnet), hubert=str(hubert)), select_formats("onnx"))
    return out


def clip_folder(folder: Path, n: int, names: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = names[i % len(names)]
        link = folder / f"{i:04d}_{src.name}"
        if not link.is_symlink():
            os.symlink(src, link)
    return folder


# ----------------------------------------------------------------------------------- speed
def reference_pipeline(paths, bundle_dir, resnet, hubert) -> dict[str, float]:
    """PyTorch eager, one clip after another; seconds per stage summed over the clips."""
    from tqscore.features.backbones import AudioBackbone, VisualBackbone
    from tqscore.features.crops import normalize
    from tqscore.features.frontend import pad_to_layout, run_frontend
    from tqscore.model.bundle import load_bundle
    from tqscore.runtime.analyse import worker_init
    from tqscore.signals import compute_signals

    state = worker_init()
    bundle = load_bundle(bundle_dir)
    visual, audio = VisualBackbone(str(resnet)), AudioBackbone(str(hubert))
    seconds = dict.fromkeys(("frontend", "signals", "visual", "audio", "fusion"), 0.0)
    for path in paths:
        tick = time.perf_counter()
        fe = run_frontend(path)
        seconds["frontend"] += time.perf_counter() - tick
        tick = time.perf_counter()
        compute_signals(fe, **state.signal_models)
        seconds["signals"] += time.perf_counter() - tick
        tick = time.perf_counter()
        vis = visual(normalize(fe.crops))
        seconds["visual"] += time.perf_counter() - tick
        tick = time.perf_counter()
        aud = audio.at_times(fe.clip.audio, fe.clip.frame_times)
        seconds["audio"] += time.perf_counter() - tick
        tick = time.perf_counter()
        mask = fe.clip.frame_mask
        n = fe.clip.n_valid
        raw = {"visual": vis, "audio": aud, "landmarks": fe.landmarks.reshape(n, -1), "aus": fe.aus}
        streams = {m: pad_to_layout(raw[m], mask)[None] for m in STREAM_NAMES}
        bundle.predict(streams, mask[None])
        seconds["fusion"] += time.perf_counter() - tick
    return seconds


def engine_stages_alone(paths, engine_dir, batch_size) -> dict[str, float]:
    """Seconds each engine needs for these clips' real inputs, run alone (no workers running)."""
    from tqscore.features.crops import normalize
    from tqscore.features.frontend import run_frontend
    from tqscore.runtime.analyse import ModelInputs
    from tqscore.runtime.engines import EngineSet
    from tqscore.features.backbones import hubert_windows
    from tqscore.runtime.scoring import _features

    engines = EngineSet.load(engine_dir, "cpu")
    fronts = [run_frontend(p) for p in paths]
    crops = np.concatenate([f.crops for f in fronts])
    seconds = dict.fromkeys(("visual", "audio", "fusion"), 0.0)
    tick = time.perf_counter()
    for start in range(0, len(crops), batch_size):
        batch = np.zeros((batch_size, *crops.shape[1:]), np.uint8)
        part = crops[start : start + batch_size]
        batch[: len(part)] = part
        engines.visual(normalize(batch))
    seconds["visual"] = time.perf_counter() - tick
    for f in fronts:
        tick = time.perf_counter()
        for window in hubert_windows(f.clip.audio, f.clip.frame_times, engines.audio_normalize):
            engines.audio(window[None])
        seconds["audio"] += time.perf_counter() - tick
        x = ModelInputs(f.crops, f.landmarks, f.aus, f.clip.frame_mask, f.clip.frame_times, f.clip.audio)
        feats = _features(x, np.zeros((len(f.crops), 2048), np.float32), np.zeros((len(f.crops), 768), np.float32))
        tick = time.perf_counter()
        engines.fusion(feats[None], f.clip.frame_mask[None].astype(np.float32))
        seconds["fusion"] += time.perf_counter() - tick
    return seconds


def run_runtime(folder: Path, out: Path, engine_dir: Path | None, workers: int, batch_size: int) -> float:
    from tqscore.runtime.config import BatchConfig
    from tqscore.runtime.pipeline import run_batch

    tick = time.perf_counter()
    run_batch(BatchConfig(folder, out, engine_dir, device="cpu", workers=workers, batch_size=batch_size,
                          resume=False, progress=False))
    return time.perf_counter() - tick


def startup_seconds(engine_dir: Path | None, workers: int) -> float:
    """What a run pays once before its first clip: loading the engines, starting the workers."""
    from tqscore.runtime.analyse import analyse_clip, worker_init
    from tqscore.runtime.scoring import load_scorer
    from tqscore.runtime.workers import WorkerPool

    tick = time.perf_counter()
    load_scorer(engine_dir, "cpu")
    with WorkerPool(workers, analyse_clip, worker_init):
        ready = time.perf_counter()
    return ready - tick


def speed(args, work: Path) -> None:
    resnet, hubert = common.random_backbones(work, full=not args.smoke)
    bundle = random_bundle(work, args.config)
    tick = time.perf_counter()
    engine_dir = export(bundle, resnet, hubert, work / f"engines-{'tiny' if args.smoke else 'full'}")
    print(f"export of {'tiny' if args.smoke else 'full-size'} ONNX graphs: {time.perf_counter() - tick:.0f} s")
    frontal = [common.smoke_clip(work)] if args.smoke else [p for p in common.media_clips() if p.name != "demo1_video.mp4"]
    folder = clip_folder(work / "speed-clips", args.clips, frontal)
    paths = sorted(folder.iterdir())
    n = len(paths)

    ref = reference_pipeline(paths, bundle, resnet, hubert)
    e2e_wall = run_runtime(folder, work / "e2e.parquet", engine_dir, args.workers, args.batch_size)
    e2e_start = startup_seconds(engine_dir, args.workers)
    worker_wall = run_runtime(folder, work / "front.parquet", None, args.workers, args.batch_size)
    worker_start = startup_seconds(None, args.workers)
    alone = engine_stages_alone(paths, engine_dir, args.batch_size)
    alone["workers (front end + signals)"] = worker_wall - worker_start

    ref_total = sum(ref.values())
    print(f"\n{n} clips ({', '.join(sorted({p.resolve().name for p in paths}))}); {os.cpu_count()} CPUs; "
          f"workers={args.workers}, batch={args.batch_size}, fusion config '{args.config}'")
    print("\nPyTorch eager reference (serial):")
    print("| stage | s total | clips/s |\n|---|---|---|")
    for k, v in ref.items():
        print(f"| {k} | {v:.1f} | {n / v:.3f} |")
    print(f"| **total** | {ref_total:.1f} | {n / ref_total:.3f} |")
    print("\nruntime stages measured alone:")
    print("| stage | s total | clips/s |\n|---|---|---|")
    for k, v in alone.items():
        print(f"| {k} | {v:.1f} | {n / v:.3f} |")
    slowest_name, slowest = max(alone.items(), key=lambda kv: kv[1])
    e2e = e2e_wall - e2e_start
    print(f"(workers: `batch` without engines, minus its measured start-up of {worker_start:.1f} s)")
    print(f"\nruntime end to end: {e2e_wall:.1f} s wall ({n / e2e_wall:.3f} clips/s); start-up (engine load + "
          f"worker start) {e2e_start:.1f} s; without it {e2e:.1f} s ({n / e2e:.3f} clips/s)")
    print(f"runtime / PyTorch eager reference: {ref_total / e2e:.2f}x without start-up, "
          f"{ref_total / e2e_wall:.2f}x with it  (target >= 2x)")
    print(f"runtime / slowest stage alone ({slowest_name}, {n / slowest:.3f} clips/s): "
          f"{slowest / e2e * 100:.0f} % without start-up, {slowest / e2e_wall * 100:.0f} % with it  (target >= 80 %)")


# ----------------------------------------------------------------------------------- memory
def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(main process, main + all descendants) resident memory in MB, from /proc."""

    def rss(p: int) -> float:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def children(p: int) -> list[int]:
        out = []
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                out += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return out

    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        total += rss(p)
        stack += children(p)
    return rss(pid), total


def memory(args, work: Path) -> None:
    engine_dir = work / "engines-tiny"
    if not engine_dir.is_dir():  # --smoke: speed() exported the same tiny engines already
        resnet, hubert = common.random_backbones(work, full=False)
        export(random_bundle(work, "standard"), resnet, hubert, engine_dir)
    clips = [common.smoke_clip(work)] if args.smoke else common.media_clips()
    folder = clip_folder(work / "long-run", args.long_run, clips)
    out = work / "long.parquet"
    parts = out.with_name(out.name + ".parts")
    window_start: dict[int, float] = {}
    cmd = [sys.executable, "-m", "tqscore.cli", "batch", str(folder), "--out", str(out), "--engines", str(engine_dir),
           "--workers", str(args.workers), "--part-rows", "1", "--no-progress", "--device", "cpu", "--no-resume"]
    tick = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    # The last mark sits before the end, so the workers are still alive when it is taken.
    marks = [20, 200] if args.long_run > 200 else [min(20, args.long_run - 1), args.long_run - 1]
    # A sample lands at a random point inside a clip, when frames, crops and decoder buffers of
    # up to 1080x1920 frames are live; the floor over the next ~15 s (several clips) is the
    # memory the pipeline keeps between clips, the quantity that must not grow.
    seen: dict[int, list[tuple[float, float]]] = {}
    while proc.poll() is None:
        done = len(list(parts.glob("part-*.parquet"))) if parts.exists() else 0
        for m in marks:
            if done >= m and (m not in seen or time.monotonic() - window_start[m] < args.window_s):
                if m not in seen:
                    seen[m], window_start[m] = [], time.monotonic()
                seen[m].append(tree_rss_mb(proc.pid))
        if len(seen) == len(marks) and time.monotonic() - window_start[marks[-1]] >= args.window_s:
            break
        time.sleep(0.1)
    for m in marks:
        if m in seen:
            mains, totals = zip(*seen[m])
            print(f"file {m} (+{args.window_s:.0f} s): main {min(mains):.0f}-{max(mains):.0f} MB, "
                  f"main + workers {min(totals):.0f}-{max(totals):.0f} MB (floor-peak over {len(mains)} samples)")
    stdout, _ = proc.communicate()
    print(stdout.strip())
    print(f"long run: {args.long_run} files in {time.perf_counter() - tick:.0f} s")
    if marks[0] == marks[1]:
        print(f"RSS floor growth: not measured, the two marks need --long-run >= 3 (given {args.long_run})")
    elif len(seen) == 2:
        floor = {m: (min(v[0] for v in seen[m]), min(v[1] for v in seen[m])) for m in marks}
        (a_main, a_all), (b_main, b_all) = floor[marks[0]], floor[marks[1]]
        print(f"RSS floor growth file {marks[0]} -> {marks[1]}: main {100 * (b_main / a_main - 1):+.1f} %, "
              f"main + workers {100 * (b_all / a_all - 1):+.1f} %  (goal < 10 %)")
    else:
        print(f"RSS floor growth: not measured, the run ended before file {marks[1]} was sampled")


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--clips", type=int, default=4, help="clips for the speed comparison (0: skip)")
    parser.add_argument("--long-run", type=int, default=210, help="files in the memory run (0: skip)")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--window-s", type=float, default=15.0, help="seconds of RSS samples after each mark")
    parser.add_argument("--config", default="optimized", choices=("standard", "optimized"))
    parser.add_argument("--work", type=Path, help="folder for models and outputs (default: a temp folder)")
    args = parser.parse_args()
    if args.smoke:  # tiny backbones, the standard fusion config, common.smoke_clip, a two-file memory run
        args.clips, args.long_run, args.config, args.window_s = 1, 2, "standard", 1.0
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tqscore-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.clips:
            speed(args, work)
        if args.long_run:
            memory(args, work)


if __name__ == "__main__":
    main()
