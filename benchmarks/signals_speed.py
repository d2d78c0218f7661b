"""Signals-only `tqscore batch`: each clip's row cost against its own decode + Face Mesh time.

Runs the real command (no engines, so no model scores; one worker, so per-clip stage times do
not share cores) over ../shared/media and ../shared/corpus and reads the per-clip stage
columns of the output. The baseline is measured in the same run on the same clip:
``ms_decode + ms_face_mesh``; the printed ratio is ``ms_total / (ms_decode + ms_face_mesh)``
per clip (median and mean over clips), so the shared machine's load cancels to first order.
Peak resident memory is the worker process's high-water mark (``VmHWM`` of /proc, read while
it runs): one worker scores every clip, so its peak is the peak over clips.

    python benchmarks/signals_speed.py                     # every shared clip
    python benchmarks/signals_speed.py --tree /tmp/old     # the same, with another checkout's code
    python benchmarks/signals_speed.py --smoke             # one short clip
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common

STAGES = ("decode", "face_mesh", "crops", "signals", "total")


def clip_folder(folder: Path, clips: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        (folder / f"{clip.parent.parent.name}__{clip.parent.name}__{clip.name}").symlink_to(clip)
    return folder


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def watch_workers(proc: subprocess.Popen, peaks: dict[int, float]) -> None:
    """Record every descendant's VmHWM (peak RSS) until the command exits."""
    while proc.poll() is None:
        stack = _children(proc.pid)
        while stack:
            pid = stack.pop()
            peaks[pid] = max(peaks.get(pid, 0.0), _hwm_mb(pid))
            stack += _children(pid)
        time.sleep(0.2)


def run_batch(folder: Path, out: Path, tree: Path | None) -> tuple[float, float]:
    """(wall seconds, peak worker RSS MiB) of a signals-only batch over ``folder``."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-c", "import sys; from tqscore.cli import main; sys.exit(main())",
           "batch", str(folder), "--out", str(out), "--workers", "1", "--decode-device", "cpu",
           "--no-progress", "--no-resume"]
    peaks: dict[int, float] = {}
    tick = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=tree or common.REPO)
    watcher = threading.Thread(target=watch_workers, args=(proc, peaks), daemon=True)
    watcher.start()
    proc.wait()
    watcher.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"tqscore batch failed with exit code {proc.returncode}")
    return time.perf_counter() - tick, max(peaks.values(), default=0.0)


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--tree", type=Path, default=None, help="import tqscore from this checkout instead")
    args = p.parse_args()
    import polars as pl

    if args.smoke:
        clips = [common.MEDIA / "generated" / "latentsync_demo1_out.mp4"]
    else:
        clips = common.media_clips() + sorted((common.CORPUS / "real").glob("*")) + sorted(
            (common.CORPUS / "generated").glob("*"))
    print("machine:", common.machine())
    with tempfile.TemporaryDirectory() as tmp:
        folder = clip_folder(Path(tmp) / "clips", clips)
        wall, peak = run_batch(folder, Path(tmp) / "out.parquet", args.tree)
        table = pl.read_parquet(Path(tmp) / "out.parquet")
    table = table.filter(pl.col("status") != "error").with_columns(
        base=pl.col("ms_decode") + pl.col("ms_face_mesh"))
    table = table.with_columns(ratio=pl.col("ms_total") / pl.col("base"))
    print(f"| clip | duration s | {' | '.join(STAGES)} s | row / (decode + Face Mesh) |")
    print("|---|---|" + "---|" * (len(STAGES) + 1))
    for r in table.sort("path").iter_rows(named=True):
        cells = " | ".join(f"{r[f'ms_{s}'] / 1000:.2f}" for s in STAGES)
        print(f"| {r['path'][:40]} | {r['duration_s']:.1f} | {cells} | {r['ratio']:.2f} |")
    means = " | ".join(f"{table[f'ms_{s}'].mean() / 1000:.2f}" for s in STAGES)
    print(f"| **mean** | {table['duration_s'].mean():.1f} | {means} | {table['ratio'].mean():.2f} |")
    print(f"clips {len(table)}, wall {wall:.0f} s; row / (decode + Face Mesh): median {table['ratio'].median():.2f}, "
          f"sum-ratio {table['ms_total'].sum() / table['base'].sum():.2f}; peak worker RSS {peak:.0f} MiB; "
          f"load after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
