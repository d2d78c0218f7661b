"""Seconds per clip of each extract stage, and the peak memory of ``tqscore extract``.

Full-size backbones with random weights (they cost the same as trained ones): ResNet101
(``ResNetConfig`` with depths [3, 4, 23, 3], hidden sizes [256, 512, 1024, 2048]) and HuBERT-Base
(``HubertConfig()`` defaults), saved to a temporary folder and loaded by path, as a user
without hub access would. One ``tqscore extract`` run over the clips in a child process gives
everything: each record's ``timings_ms`` holds the per-stage times of that clip, and the child's
``ru_maxrss`` is the peak resident memory of the whole run.

Ratios are against the decode time measured in the same run, and against the clip's length
(real-time factor: seconds of work per second of video).

    python benchmarks/features_timing.py                    # the shared clips
    python benchmarks/features_timing.py --smoke            # tiny backbones, a 4-s clip
    python benchmarks/features_timing.py --videos DIR --device cuda
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

STAGES = ("open", "decode", "facemesh", "crops", "aus", "resnet", "hubert")


def link_clips(sources: list[Path], folder: Path) -> None:
    for source in sources:
        target = folder / source.parent.name / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source.resolve())


def run_extract(videos: Path, out: Path, resnet: Path, hubert: Path, device: str) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, return code) of one ``tqscore extract`` child process."""
    command = [sys.executable, "-m", "tqscore.cli", "extract", str(videos), "--out", str(out),
               "--resnet", str(resnet), "--hubert", str(hubert), "--device", device, "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=common.REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    sys.stderr.write(proc.stderr[-2000:] if proc.returncode else "")
    print(proc.stdout.strip())
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    return wall, peak_kib / 1024, proc.returncode


def report(out: Path) -> None:
    from tqscore.features.manifest import ok_records
    from tqscore.features.record import read_meta

    rows = []
    for path in ok_records(out):
        meta = read_meta(path)
        timings = meta["timings_ms"]
        rows.append((path.name.removesuffix(".safetensors"), meta["clip"]["duration_s"], [timings.get(s, 0.0) / 1000 for s in STAGES]))
    if not rows:
        print("no records: nothing to report")
        return
    header = f"{'clip':40s} {'len s':>6s} " + " ".join(f"{s:>9s}" for s in STAGES) + f" {'total':>8s} {'x RT':>6s}"
    print("\nseconds per clip, by stage")
    print(header)
    for name, duration, secs in rows:
        total = sum(secs)
        print(f"{name[:40]:40s} {duration:6.2f} " + " ".join(f"{v:9.3f}" for v in secs) + f" {total:8.2f} {total / duration:6.2f}")
    matrix = np.array([secs for _, _, secs in rows])
    mean = matrix.mean(axis=0)
    mean_duration = float(np.mean([d for _, d, _ in rows]))
    print(f"{'mean':40s} {mean_duration:6.2f} " + " ".join(f"{v:9.3f}" for v in mean) + f" {mean.sum():8.2f} {mean.sum() / mean_duration:6.2f}")
    decode = mean[STAGES.index("open")] + mean[STAGES.index("decode")]
    print("\nmean per clip, as a multiple of decoding (open + decode) measured in the same run")
    for stage, value in zip(STAGES, mean):
        print(f"  {stage:9s} {value:8.3f} s  {value / decode:7.2f} x decode  {100 * value / mean.sum():5.1f} % of total")


def main() -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--videos", type=Path, help="folder of videos (default: the shared real + generated clips)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--keep", type=Path, help="keep models and records here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tqscore-bench-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        tick = time.perf_counter()
        resnet, hubert = common.random_backbones(work, full=not args.smoke)
        print(f"built random {'tiny' if args.smoke else 'ResNet101 + HuBERT-Base'} backbones in {time.perf_counter() - tick:.1f} s")
        videos = args.videos
        if videos is None:
            videos = work / "videos"
            link_clips([common.smoke_clip(work)] if args.smoke else common.media_clips(), videos)
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
        wall, peak_mib, rc = run_extract(videos, work / "features", resnet, hubert, args.device)
        print(f"tqscore extract: {wall:.1f} s wall, peak RSS {peak_mib:.0f} MiB, exit code {rc}")
        print(f"load average at end {os.getloadavg()[0]:.1f}")
        report(work / "features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
