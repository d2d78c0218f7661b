"""Seconds per clip to make the standard clip: open_clip (probe, index, audio) + all its frames.

Baseline, measured in the same run on the same clips: a plain PyAV pipeline (sequential
threaded decode, RGB conversion of the same selected frames, the same audio decode). The ratio
ours / baseline says what decord's decode-by-index costs or saves here. Wall time and CPU time
(all threads of this process) are both reported: on a shared machine the wall time mostly
measures the neighbours.

    python benchmarks/media_decode.py [--repeats 3] [--chunk 32] [CLIP ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import av

from tqscore.media import load_audio, open_clip

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"


def timed(fn, *args) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def ours(path: Path, chunk: int) -> None:
    with open_clip(path) as clip:
        for _ in clip.iter_frames(chunk=chunk):
            pass


def pyav_baseline(path: Path, indices: set[int], duration_s: float) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i in indices:
                frame.to_ndarray(format="rgb24")
    load_audio(path, duration_s)


def median_times(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=32)
    args = parser.parse_args()
    clips = args.clips or sorted(SHARED.glob("*/*.mp4"))
    header = f"{'clip':36s} {'codec':6s} {'size':>9s} {'open s':>7s} {'wall s':>7s} {'cpu s':>6s} {'pyav wall':>9s} {'pyav cpu':>8s} {'cpu ratio':>9s}"
    print(header)
    sums = [0.0, 0.0, 0.0, 0.0]
    for path in clips:
        with open_clip(path) as clip:
            info, indices = clip.info, set(clip.frame_indices.tolist())
        open_wall = statistics.median(timed(lambda: open_clip(path).close())[0] for _ in range(args.repeats))
        wall, cpu = median_times([timed(ours, path, args.chunk) for _ in range(args.repeats)])
        base_wall, base_cpu = median_times(
            [timed(pyav_baseline, path, indices, info.duration_s) for _ in range(args.repeats)]
        )
        for i, value in enumerate((wall, cpu, base_wall, base_cpu)):
            sums[i] += value
        print(f"{path.name:36s} {info.video_codec:6s} {info.width:>4d}x{info.height:<4d} {open_wall:7.3f} {wall:7.3f} "
              f"{cpu:6.3f} {base_wall:9.3f} {base_cpu:8.3f} {cpu / base_cpu:9.2f}")
    n = len(clips)
    print(f"{'mean per clip':36s} {'':6s} {'':9s} {'':7s} {sums[0] / n:7.3f} {sums[1] / n:6.3f} {sums[2] / n:9.3f} "
          f"{sums[3] / n:8.3f} {sums[1] / sums[3]:9.2f}")
    print(f"(median of {args.repeats} runs per clip; wall/cpu = open_clip + all frames + audio; chunk = {args.chunk})")


if __name__ == "__main__":
    main()
