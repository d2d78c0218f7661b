"""DNSMOS cost per clip: the shared-frames implementation vs one P.835 run per 9.01-s segment.

Both paths run on the audio of every shared clip (../shared/media), interleaved per clip. Cost is
CPU seconds of this process (``time.process_time``, all threads), the best of the repetitions:
on the shared 2-core machine wall time mostly measures the other sessions. The table gives CPU
seconds per clip, the ratio, and the largest |score difference| over the four DNSMOS outputs
(the target: the same values, within 1e-4).

    python benchmarks/dnsmos_speed.py            # every shared clip, 3 repetitions each
    python benchmarks/dnsmos_speed.py --smoke    # one clip, one repetition
"""

from __future__ import annotations

import sys
import time

import common

from tqscore.media import load_audio
from tqscore.signals.dnsmos import Dnsmos, segment_starts
from tqscore.testing.dnsmos_reference import PerSegmentDnsmos


def clock(fn, audio, repeats: int) -> tuple[float, dict]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.process_time()
        result = fn(audio)
        best = min(best, time.process_time() - started)
    return best, result


def main() -> int:
    args = common.parser(__doc__).parse_args()
    clips = common.media_clips()[:1] if args.smoke else common.media_clips()
    repeats = 1 if args.smoke else 3
    new, old = Dnsmos(), PerSegmentDnsmos()
    print(f"machine: {common.machine()}")
    print("\n| clip | audio s | segments | before CPU s | after CPU s | before / after | max abs score diff |")
    print("|---|---|---|---|---|---|---|")
    totals = [0.0, 0.0]
    worst = 0.0
    for clip in clips:
        audio, _ = load_audio(clip)
        if not len(audio):
            continue
        t_old, r_old = clock(old, audio, repeats)
        t_new, r_new = clock(new, audio, repeats)
        diff = max(abs(r_old[k] - r_new[k]) for k in r_old)
        worst = max(worst, diff)
        totals[0] += t_old
        totals[1] += t_new
        segments = len(segment_starts(audio)[1])
        print(f"| {clip.name} | {len(audio) / 16000:.1f} | {segments} | {t_old:.2f} | {t_new:.2f} | "
              f"{t_old / t_new:.2f}x | {diff:.1e} |")
    print(f"| **all** | | | {totals[0]:.2f} | {totals[1]:.2f} | **{totals[0] / totals[1]:.2f}x** | {worst:.1e} |")
    print(f"\nload after: {common.machine()['load']}")
    if worst > 1e-4:
        print(f"FAIL: scores differ by {worst:.1e} > 1e-4", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
