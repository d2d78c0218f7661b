"""Where ``tqscore.signals.face.FROZEN_MAD`` comes from: the mean |difference| of consecutive grey
face thumbnails of the dense pass on moving real faces against the same on a held picture.

For every real clip of ../shared (media/real and corpus/real): the front end's dense-pass
thumbnail differences (``SignalFrames.pair_mad``: 64 x 64 grey, both frames of a pair cut at the
same box) of the clip itself, and of its first frame
held for 4 s at 25 fps and x264-encoded at CRF 23 (x264's default quality), once as it is and
once with fresh Gaussian brightness noise of sigma 2 grey levels per frame (sensor noise, so
the codec cannot repeat the picture exactly). Printed per clip: the 1st / 5th percentile and
median of the real clip's consecutive-pair MAD and the share of its pairs under FROZEN_MAD;
for the held clips (every pair there is a frozen pair) the median, 90th percentile and maximum
MAD and the share of their pairs under FROZEN_MAD (what ``frozen_frame_ratio`` reads on them).

Then, where ``MIN_HOLD_PAIRS`` comes from: for every shared clip (real and generated), the runs
of consecutive pairs under FROZEN_MAD: how many are one pair long (an isolated repeated frame, a
frame-rate conversion's signature) and the lengths of the longer ones (holds).

    python benchmarks/frozen_threshold.py [--smoke]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import common
from tqscore.features.frontend import run_frontend
from tqscore.signals.face import FROZEN_MAD, MIN_HOLD_PAIRS, frozen_frame_ratio, identical_runs

HOLD_S, FPS, SENSOR_SIGMA = common.HOLD_S, common.HOLD_FPS, common.SENSOR_SIGMA


def pair_mad(path: Path) -> np.ndarray:
    """MAD of consecutive dense-pass thumbnails of the frames with a face on both sides."""
    signal = run_frontend(path).signal
    mad = signal.pair_mad
    both = signal.face_found[1:] & signal.face_found[:-1]
    return mad[both]


def main() -> int:
    args = common.parser(__doc__).parse_args()
    clips = [p for p in common.media_clips() if "/real/" in str(p)] + sorted((common.CORPUS / "real").glob("*"))
    n = int((1.0 if args.smoke else HOLD_S) * FPS)
    print("machine:", common.machine())
    print(f"FROZEN_MAD = {FROZEN_MAD}")
    print("| clip | real pairs | real MAD p1 / p5 / median | real pairs under FROZEN_MAD | "
          "held CRF 23: median / p90 / max, share under | held + sensor noise: median / p90 / max, share under |")
    print("|---|---|---|---|---|---|")
    real_low, held_high = [], []
    with tempfile.TemporaryDirectory() as tmp:
        clips = [common.smoke_clip(Path(tmp))] if args.smoke else clips
        for clip in clips:
            real = pair_mad(clip)
            frame = common.first_frame(clip)
            held = [pair_mad(common.encode_held(frame, n, sigma, Path(tmp) / f"held_{sigma}.mp4")) for sigma in (0.0, SENSOR_SIGMA)]
            cells = []
            for values in held:
                if len(values):
                    med, p90 = np.percentile(values, [50, 90])
                    cells.append(f"{med:.3f} / {p90:.3f} / {values.max():.3f}, {np.mean(values < FROZEN_MAD):.2f}")
                else:
                    cells.append("no face")
                held_high += list(values)
            if len(real):
                p1, p5, med = np.percentile(real, [1, 5, 50])
                real_low.append(p1)
                print(f"| {clip.name[:36]} | {len(real)} | {p1:.3f} / {p5:.3f} / {med:.3f} | "
                      f"{np.mean(real < FROZEN_MAD):.3f} | {cells[0]} | {cells[1]} |")
        if held_high and real_low:
            print(f"all held pairs: median {np.median(held_high):.3f}, p90 {np.percentile(held_high, 90):.3f}, "
                  f"p95 {np.percentile(held_high, 95):.3f}; lowest real-clip p1 {min(real_low):.3f}")
        print_hold_runs(clips if args.smoke else [*common.media_clips(), *sorted(common.CORPUS.glob("*/*"))])
    return 0


def print_hold_runs(clips: list[Path]) -> None:
    print(f"\nMIN_HOLD_PAIRS = {MIN_HOLD_PAIRS}")
    print("| clip | fps | identical pairs | runs of 1 pair | longer runs (pairs) | frozen_frame_ratio |")
    print("|---|---|---|---|---|---|")
    for clip in clips:
        signal = run_frontend(clip, model_inputs=False).signal
        runs = identical_runs(signal.pair_mad)
        if len(runs):
            ratio = frozen_frame_ratio(signal.pair_mad)
            print(f"| {clip.parent.name}/{clip.name[:40]} | {signal.fps:.2f} | {np.mean(signal.pair_mad < FROZEN_MAD):.3f} "
                  f"| {int(np.sum(runs == 1))} | {', '.join(map(str, sorted(runs[runs > 1]))) or '-'} | {ratio:.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
