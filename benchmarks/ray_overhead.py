"""What `tqscore batch --ray` costs against the local `batch` on the same clips, in one run.

Both modes score the same folder (symlinks cycling over the shared clips) on the same cores:
the local pool and a local Ray instance of as many CPUs. Without engines, the local pool has one
worker per core and Ray one clip task per CPU; with engines, the local engines run in the main
process beside CPUs - 1 workers (the default) and Ray's engine actor holds one CPU beside
CPUs - 1 clip tasks. The runs come in pairs, local and Ray, in alternating order (local-Ray,
Ray-local, ...), so a change in the shared machine's load hits both; each writes a fresh output.
Printed per run: seconds and clips/s; per pair Ray / local; then the median of the pairs'
overheads (Ray / local - 1).

Start-up is reported apart: the time `ray.init` takes to start the local instance (paid once
per command; a cluster that is already running, `--ray auto`, does not pay it). The first Ray
run also starts Ray's worker processes and loads their models (as the local pool does on every
run); later Ray runs reuse them ("warm"), so the first pair is also shown alone.

    python benchmarks/ray_overhead.py                   # 16 files, 2 pairs, no engines
    python benchmarks/ray_overhead.py --files 32 --pairs 4
    python benchmarks/ray_overhead.py --engines tiny    # tiny random engines (the actor pool)
    python benchmarks/ray_overhead.py --engines DIR     # an engine folder of `tqscore export`
    python benchmarks/ray_overhead.py --smoke           # 2 files of a 4-s clip, one pair
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import common

log = logging.getLogger("ray_overhead")

def clip_folder(folder: Path, n: int, clips: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = clips[i % len(clips)]
        os.symlink(src, folder / f"{i:04d}_{src.name}")
    return folder


def one_run(videos: Path, out: Path, engines: Path | None, workers: int, ray: str | None) -> tuple[float, int, int]:
    """(seconds, files processed, error rows): every shared clip decodes, so an error row here is a
    worker the machine killed (OOM on a shared host) and makes the run not comparable."""
    from tqscore.runtime.config import BatchConfig
    from tqscore.runtime.pipeline import run_batch

    cfg = BatchConfig(videos, out, engines, workers=workers, progress=False, resume=False, ray=ray)
    summary = run_batch(cfg)
    return summary.seconds, summary.processed, summary.status_counts.get("error", 0)


def tiny_engines(folder: Path) -> Path:
    """Tiny random backbones and the standard fusion config, exported to FP32 ONNX (as the tests')."""
    from runtime_e2e import export, random_bundle

    resnet, hubert = common.random_backbones(folder, full=False)
    return export(random_bundle(folder, "standard"), resnet, hubert, folder / "engines-tiny")


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--files", type=int, default=16, help="files in the folder (symlinks over the shared clips)")
    p.add_argument("--pairs", type=int, default=2, help="pairs of runs (local + Ray), in alternating order")
    p.add_argument("--engines", default=None,
                   help="'tiny' (random tiny engines built here) or an engine folder; default none (reference-1)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import ray

    cpus = os.cpu_count() or 2
    files, pairs = (2, 1) if args.smoke else (args.files, args.pairs)
    info = common.machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, GPU {info['gpu']}, "
          f"load at start {info['load']}")
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as tmp:
        tmp = Path(tmp)
        clips = [common.smoke_clip(tmp)] if args.smoke else common.media_clips()
        videos = clip_folder(tmp / "videos", files, clips)
        engines = tiny_engines(tmp) if args.engines == "tiny" else (Path(args.engines) if args.engines else None)
        workers = max(1, cpus - 1) if engines else cpus
        tick = time.monotonic()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
        startup = time.monotonic() - tick
        runs: list[tuple[int, str, float, int, int]] = []
        try:
            for pair in range(pairs):
                for mode in (("local", "ray") if pair % 2 == 0 else ("ray", "local")):
                    seconds, n, errors = one_run(videos, tmp / f"{mode}-{pair}.parquet", engines, workers,
                                                 None if mode == "local" else "auto")
                    runs.append((pair, mode, seconds, n, errors))
        finally:
            ray.shutdown()
    print(f"\n{files} files, {cpus} CPUs, engines: {args.engines or 'none (reference-1)'}, local --workers {workers}; "
          f"Ray start-up (ray.init, local instance): {startup:.1f} s, not in the runs below\n")
    print("| run | pair | mode | seconds | clips/s | error rows (a killed worker: not comparable) |\n|---|---|---|---|---|---|")
    for i, (pair, mode, seconds, n, errors) in enumerate(runs, 1):
        shown = mode if mode == "local" or pair == 0 else "ray (warm)"
        print(f"| {i} | {pair + 1} | {shown} | {seconds:.1f} | {n / seconds:.3f} | {errors} |")
    overheads = []
    for pair in range(pairs):
        local = next(s for p_, m, s, _, _ in runs if p_ == pair and m == "local")
        remote = next(s for p_, m, s, _, _ in runs if p_ == pair and m == "ray")
        overheads.append(remote / local - 1)
        print(f"pair {pair + 1}: local {files / local:.3f} clips/s, Ray {files / remote:.3f} clips/s, "
              f"overhead {overheads[-1]:+.1%}{' (cold Ray workers)' if pair == 0 else ''}")
    print(f"median overhead over {pairs} pair(s): {statistics.median(overheads):+.1%} (target <= +15 %)")
    print(f"load at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
