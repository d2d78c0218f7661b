"""The range real talking-face recordings show for each signal: the real-footage reference.

Measured by ``python benchmarks/signal_reference.py`` over the real recordings of the shared
media (``../shared/media/real``: 3 clips) and corpus (``../shared/corpus/real``: 5 clips), with
the product path (``run_frontend`` + ``compute_signals`` with DNSMOS and Silero VAD, no
SyncNet weights), and stored beside this module in ``reference.json``: per signal the lowest,
median and highest value over the recordings that had one, and how many did. The reference
scorer and the report read it through ``reference_band``; "inside the real-footage range"
(the ``better`` of natural quantities such as head motion) means ``low <= value <= high``.

Eight recordings are few: a band is what these eight showed, not a population range, and a
clip just outside it is not necessarily unnatural. The file records the layout version and
the recordings it was measured on, so a stale reference is visible; rerun the script after a
signal changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REFERENCE_FILE = Path(__file__).with_name("reference.json")


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    median: float
    n: int  # recordings with a value

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@lru_cache(maxsize=1)
def load_reference(path: Path = REFERENCE_FILE) -> dict:
    """The whole reference file: ``measured_with``, ``recordings``, ``layout_version``, ``signals``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def reference_band(name: str) -> Band | None:
    """The real-footage band of signal ``name``; None when no real recording had a value for it
    (e.g. the SyncNet columns without weights) or the signal is not in the reference."""
    entry = load_reference()["signals"].get(name)
    return None if entry is None else Band(entry["low"], entry["high"], entry["median"], entry["n"])


@lru_cache(maxsize=1)
def reference_digest(path: Path = REFERENCE_FILE) -> str:
    """First 12 hex digits of the reference file's SHA-256: the bands the grades and rules read."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
