"""The head-pose fit's noise floor: rotation speed measured on pictures that do not move.

One frame of each shared real clip is held for 4 s at 25 fps and x264-encoded (CRF 23, x264's
default quality), once as it is and once with fresh Gaussian brightness noise of sigma 2 grey
levels on every frame (a camera's sensor noise, so the codec cannot repeat the picture
exactly). The decoded frames go through Face Mesh (the project's tracker) and
``tqscore.signals.head.rotation_speeds_dps``; any speed measured there is noise. The printed 99th
percentile is where ``head.STILL_DPS`` comes from.

    python benchmarks/head_noise_floor.py [--smoke]
"""

from __future__ import annotations

import io
import sys

import av
import numpy as np

import common
from tqscore.features.landmarks import FaceMeshTracker
from tqscore.signals.head import STILL_DPS, fit_pose, rotation_speeds_dps

HOLD_S, FPS, SENSOR_SIGMA = common.HOLD_S, common.HOLD_FPS, common.SENSOR_SIGMA


def _held_clip(frame: np.ndarray, n: int, sigma: float, seed: int = 0) -> np.ndarray:
    """Encode ``n`` copies of ``frame`` (plus per-frame noise) with x264 and decode them again."""
    buffer = common.encode_held(frame, n, sigma, io.BytesIO(), seed, container_format="matroska")
    buffer.seek(0)
    with av.open(buffer) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def main() -> int:
    args = common.parser(__doc__).parse_args()
    clips = common.media_clips()
    clips = [p for p in clips if "/real/" in str(p)]
    clips = clips[:1] if args.smoke else clips + sorted((common.CORPUS / "real").glob("*.mp4"))
    n = int((1.0 if args.smoke else HOLD_S) * FPS)
    print("machine:", common.machine())
    print(f"{'clip':34s} {'sensor noise':>12s} {'p50 dps':>8s} {'p95 dps':>8s} {'p99 dps':>8s} {'max dps':>8s}")
    worst = 0.0
    for path in clips:
        frame = common.first_frame(path)
        for sigma in (0.0, SENSOR_SIGMA):
            frames = _held_clip(frame, n, sigma)
            with FaceMeshTracker() as tracker:
                landmarks, found = tracker.process(frames)
            if found.sum() < 2:
                print(f"{path.stem[:34]:34s} no face")
                break
            speeds = rotation_speeds_dps(fit_pose(landmarks, frames.shape[2] / frames.shape[1], found),
                                         np.arange(len(frames)) / FPS)
            p50, p95, p99 = np.percentile(speeds, [50, 95, 99])
            worst = max(worst, p99)
            print(f"{path.stem[:34]:34s} {sigma:12.1f} {p50:8.3f} {p95:8.3f} {p99:8.3f} {speeds.max():8.3f}")
    print(f"largest p99: {worst:.3f} deg/s; head.STILL_DPS = {STILL_DPS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
