"""What `tqscore batch --ray` costs against the local `batch` on the same clips, in one run.

Both modes score the same folder (symlinks cycling over the shared clips) with the same CPUs:
the local pool with `--workers` = the cores, Ray with a local instance of as many CPUs (one
clip task per CPU). The runs alternate (local, Ray, local, Ray, ...) so a change in the shared
machine's load hits both; each is a fresh output (nothing resumed). Printed per run: seconds and
clips/s; then the median of each mode and Ray's overhead = Ray / local - 1.

Start-up is reported apart: the time `ray.init` takes to start the local instance (paid once
per command; a cluster that is already running, `--ray auto`, does not pay it). The first Ray
run also starts Ray's worker processes and loads each one's models (as the local pool does on
every run); later Ray runs reuse them, so they are shown as "warm" and the comparison uses the
cold first Ray run as well as the median.

    python benchmarks/ray_overhead.py                 # 16 files, 2 runs of each mode
    python benchmarks/ray_overhead.py --files 32 --repeats 3
    python benchmarks/ray_overhead.py --engines DIR   # with an engine folder (actor pool)
    python benchmarks/ray_overhead.py --smoke         # 2 small files, one run of each
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

SMOKE_CLIPS = ("sadtalker_camera_radio31.mp4", "sadtalker_art2_radio31.mp4")  # the two smallest shared clips


def clip_folder(folder: Path, n: int, clips: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = clips[i % len(clips)]
        os.symlink(src, folder / f"{i:04d}_{src.name}")
    return folder


def one_run(videos: Path, out: Path, engines: Path | None, cpus: int, ray: str | None) -> tuple[float, int]:
    from tqscore.runtime.config import BatchConfig
    from tqscore.runtime.pipeline import run_batch

    cfg = BatchConfig(videos, out, engines, workers=cpus, progress=False, resume=False, ray=ray)
    summary = run_batch(cfg)
    return summary.seconds, summary.processed


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--files", type=int, default=16, help="files in the folder (symlinks over the shared clips)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each mode, alternating")
    p.add_argument("--engines", type=Path, default=None, help="engine folder (default: none, the reference scorer)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import ray

    cpus = os.cpu_count() or 2
    if args.smoke:
        clips = [c for c in common.media_clips() if c.name in SMOKE_CLIPS]
        files, repeats = len(clips), 1
    else:
        clips, files, repeats = common.media_clips(), args.files, args.repeats
    info = common.machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, GPU {info['gpu']}, "
          f"load at start {info['load']}")
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as tmp:
        tmp = Path(tmp)
        videos = clip_folder(tmp / "videos", files, clips)
        tick = time.monotonic()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
        startup = time.monotonic() - tick
        runs: list[tuple[str, float, int]] = []
        try:
            for r in range(repeats):
                for mode in ("local", "ray"):
                    seconds, n = one_run(videos, tmp / f"{mode}-{r}.parquet", args.engines, cpus,
                                         None if mode == "local" else "auto")
                    runs.append((mode if mode == "local" or r == 0 else "ray (warm)", seconds, n))
        finally:
            ray.shutdown()
    print(f"\n{files} files, {cpus} CPUs, engines: {args.engines or 'none (reference-1)'}; "
          f"Ray start-up (ray.init, local instance): {startup:.1f} s, not in the runs below\n")
    print("| run | mode | seconds | clips/s |\n|---|---|---|---|")
    for i, (mode, seconds, n) in enumerate(runs, 1):
        print(f"| {i} | {mode} | {seconds:.1f} | {n / seconds:.3f} |")
    local = statistics.median(s for m, s, _ in runs if m == "local")
    cold = next(s for m, s, _ in runs if m == "ray")
    every_ray = statistics.median(s for m, s, _ in runs if m != "local")
    print(f"\nlocal median {local:.1f} s ({files / local:.3f} clips/s); "
          f"Ray cold {cold:.1f} s ({files / cold:.3f} clips/s), overhead {cold / local - 1:+.1%}; "
          f"Ray median of all runs {every_ray:.1f} s, overhead {every_ray / local - 1:+.1%} (target <= +15 %)")
    print(f"load at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
