"""What real talking-face recordings show for each signal: the real-footage reference.

Measured by ``python benchmarks/signal_reference.py`` over every real recording in ``../shared``
(``media/real``, ``corpus/real``, ``validation/real``, ``validation/adthqa-dev/real``: 31
recordings) from a signals table of ``tqscore batch``, and stored beside this module in
``reference.json``: per signal its 5th, 25th, 50th, 75th and 95th percentiles over the
recordings that had a value, how many did, and the scale it is compared on.

How the bands are drawn, and why. With a few dozen recordings the extremes are single clips (a
60-s interview, a 160-px broadcast cut), so nothing is read from the minimum or the maximum.
The reference is the robust centre and spread of the real distribution: the median, and the
interquartile range divided by 1.349 (the ratio of the interquartile range to the standard
deviation of a normal distribution), on a log scale where every real recording showed a
positive value (speeds, ranges, rates, sharpness: ratios matter there, and half the median is as
far out whatever the unit) and on the signal's own scale otherwise. ``Band.z`` places a value
on that scale: how many robust standard deviations it lies above the real median. A signal
whose quartiles coincide takes its spread from the 5th-95th percentile range divided by 3.29
(that range of a normal distribution). ``low`` and ``high`` are the 5th and 95th percentiles:
"the range real footage shows" in the report.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REFERENCE_FILE = Path(__file__).with_name("reference.json")

# Interquartile range and 5th-95th percentile range of a standard normal distribution, in
# standard deviations: 2 x 0.6745 and 2 x 1.6449.
NORMAL_IQR = 1.349
NORMAL_P05_P95 = 3.290


@dataclass(frozen=True)
class Band:
    low: float  # 5th percentile
    high: float  # 95th percentile
    median: float
    n: int  # recordings with a value
    q25: float | None = None
    q75: float | None = None
    log: bool = False  # compared as ratios (every real recording showed a positive value)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def _scale(self, value: float) -> float:
        if not self.log:
            return value
        return math.log(value) if value > 0 else -math.inf

    @property
    def spread(self) -> float:
        """Robust standard deviation of the real recordings on the band's scale (0: no spread)."""
        if self.q25 is not None and self.q75 is not None:
            iqr = self._scale(self.q75) - self._scale(self.q25)
            if iqr > 0:
                return iqr / NORMAL_IQR
        return max(0.0, self._scale(self.high) - self._scale(self.low)) / NORMAL_P05_P95

    def z(self, value: float) -> float:
        """Robust standard deviations by which ``value`` lies above the real median (below: < 0).

        Infinite for a departure from a band without spread, and for 0 on a log-scale band.
        """
        distance = self._scale(value) - self._scale(self.median)
        if distance == 0:
            return 0.0
        spread = self.spread
        return distance / spread if spread > 0 else math.copysign(math.inf, distance)

    def at_z(self, z: float) -> float:
        """The value ``z`` robust standard deviations above the real median (inverse of ``z``)."""
        moved = self._scale(self.median) + z * self.spread
        return math.exp(moved) if self.log else moved


@lru_cache(maxsize=1)
def load_reference(path: Path = REFERENCE_FILE) -> dict:
    """The whole reference file: ``measured_with``, ``recordings``, ``layout_version``, ``signals``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def reference_band(name: str) -> Band | None:
    """The real-footage band of signal ``name``; None when no real recording had a value for it
    (e.g. the SyncNet columns without weights) or the signal is not in the reference."""
    entry = load_reference()["signals"].get(name)
    if entry is None:
        return None
    return Band(entry["q05"], entry["q95"], entry["median"], entry["n"], entry["q25"], entry["q75"], entry["log"])


@lru_cache(maxsize=1)
def reference_digest(path: Path = REFERENCE_FILE) -> str:
    """First 12 hex digits of the reference file's SHA-256: the bands the grades and rules read."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
