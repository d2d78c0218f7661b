"""Seconds per clip to make the standard clip: open_clip (probe, index, audio) + all its frames.

Measured for both CPU frame backends (decord, seeking by index, and PyAV, the CPU default)
against a baseline in the same run on the same clips: a bare PyAV loop (sequential threaded
decode, RGB conversion of the same selected frames, the same audio decode) without the probe. Wall time and CPU time (all
threads of this process) are both reported: on a shared machine the wall time mostly measures
the neighbours.

    python benchmarks/media_decode.py [--repeats 3] [--chunk 32] [--smoke] [CLIP ...]
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import av
import numpy as np

import common
from tqscore.media import load_audio, open_clip



def timed(fn, *args) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def ours(path: Path, chunk: int, backend: str) -> None:
    with open_clip(path, backend=backend) as clip:
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
    parser = common.parser(__doc__)
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=32)
    args = parser.parse_args()
    clips = args.clips or common.media_clips()
    if args.smoke:
        clips, args.repeats = clips[:1], 1
    columns = ("decord", "pyav", "bare pyav")
    print(f"{'clip':36s} {'codec':6s} {'size':>9s} {'open s':>6s} "
          + " ".join(f"{name + ' wall/cpu s':>20s}" for name in columns) + f" {'decord/pyav cpu':>15s}")
    sums = np.zeros((len(columns), 2))
    for path in clips:
        with open_clip(path) as clip:
            info, indices = clip.info, set(clip.frame_indices.tolist())
        open_s = statistics.median(timed(lambda: open_clip(path, backend="decord").close())[0] for _ in range(args.repeats))
        row = np.array([
            median_times([timed(ours, path, args.chunk, "decord") for _ in range(args.repeats)]),
            median_times([timed(ours, path, args.chunk, "pyav") for _ in range(args.repeats)]),
            median_times([timed(pyav_baseline, path, indices, info.duration_s) for _ in range(args.repeats)]),
        ])
        sums += row
        print(f"{path.name:36s} {info.video_codec:6s} {info.width:>4d}x{info.height:<4d} {open_s:6.3f} "
              + " ".join(f"{w:>11.3f} / {c:6.3f}" for w, c in row) + f" {row[0, 1] / row[1, 1]:15.2f}")
    mean = sums / len(clips)
    print(f"{'mean per clip':36s} {'':6s} {'':9s} {'':6s} " + " ".join(f"{w:>11.3f} / {c:6.3f}" for w, c in mean)
          + f" {sums[0, 1] / sums[1, 1]:15.2f}")
    print(f"(median of {args.repeats} runs per clip: open_clip + all frames + audio; chunk = {args.chunk}; "
          f"open s = open_clip alone, decord)")


if __name__ == "__main__":
    main()
