"""Recompute the real-footage reference (tqscore/signals/reference.json) from a signals table, and
hold the generated clips against it.

The reference is drawn from every real recording of ../shared (any clip under a folder named
``real``: media/real, corpus/real, validation/real, validation/adthqa-dev/real) in a table written
by ``tqscore batch`` (the product path: decode, Face Mesh, compute_signals with DNSMOS and Silero
VAD, no SyncNet weights). Each value is taken as the scorer compares it
(``tqscore.model.reference.comparable_value``: the four head ranges read at the reference
duration, every other signal as measured). Per signal it stores the 5th, 25th, 50th, 75th and 95th percentiles,
how many recordings had a value and whether the signal is compared as a ratio (log scale, where
every real value is positive); tqscore/signals/reference.py says why these and not the extremes.
Then it prints, per signal, how many generated clips of the same table lie below the real 5th
and above the real 95th percentile.

    python benchmarks/signal_reference.py --table TABLE.parquet   # from a `tqscore batch` table of ../shared
    python benchmarks/signal_reference.py             # runs `tqscore batch ../shared` first (resumable)
    python benchmarks/signal_reference.py --smoke     # two 4-s cuts; writes to a temp file
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np

import common
from tqscore.layout import LAYOUT_VERSION
from tqscore.model.reference import MIN_CONFIDENCE_SPEECH_S, comparable_value
from tqscore.signals import SIGNAL_NAMES
from tqscore.signals.reference import REFERENCE_FILE
from validity import is_real, read_rows, shared_table

COMMAND = "python benchmarks/signal_reference.py --table TABLE (a tqscore batch over ../shared)"
PERCENTILES = {"q05": 5, "q25": 25, "median": 50, "q75": 75, "q95": 95}

# Measures of speech (lip sync against it, its quality) are banded from the recordings that have
# some: at least MIN_CONFIDENCE_SPEECH_S of it, the span below which the sync estimator scores
# own and foreign audio alike (tqscore/model/reference.py). Without this, a hum (FollowYourEmoji)
# or 0.7 s of words amid room noise (LivePortrait d12) would stand for how real speech measures.
SPEECH_MEASURES = ("sync_", "syncnet_", "dnsmos_")
# These are compared on their own scale even where every real value is positive: offsets,
# correlations and opinion scores are intervals, not ratios (twice a correlation is not "twice
# as far" from none).
INTERVAL_SCALES = SPEECH_MEASURES


def numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def bands(rows: list[dict]) -> dict[str, dict]:
    """Percentiles per signal over ``rows`` (the real recordings)."""
    speaking = [r for r in rows if (r.get("speech_s") or 0.0) >= MIN_CONFIDENCE_SPEECH_S]
    out = {}
    for name in SIGNAL_NAMES:
        banded = speaking if name.startswith(SPEECH_MEASURES) else rows
        values = np.array([comparable_value(r, name) for r in banded if numeric(r.get(name))], dtype=np.float64)
        if len(values):
            entry = {key: float(np.percentile(values, p)) for key, p in PERCENTILES.items()}
            ratio = bool((values > 0).all()) and not name.startswith(INTERVAL_SCALES)
            out[name] = entry | {"n": len(values), "log": ratio}
    return out


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--table", type=Path, help="signals table of `tqscore batch` over ../shared [run one]")
    p.add_argument("--out", type=Path, help="where to write the reference [tqscore/signals/reference.json]")
    args = p.parse_args()
    table = args.table or shared_table(smoke=args.smoke)
    rows = read_rows(table)
    real = [r for r in rows if is_real(r["path"]) and r["status"] != "error"]
    generated = [r for r in rows if not is_real(r["path"]) and r["status"] != "error"]
    print("machine:", common.machine())
    table_bands = bands(real)
    reference = {"measured_with": COMMAND, "layout_version": LAYOUT_VERSION,
                 "recordings": sorted(r["path"] for r in real), "signals": table_bands}
    target = args.out or (Path(tempfile.mkdtemp()) / "reference.json" if args.smoke else REFERENCE_FILE)
    target.write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target} ({len(table_bands)} signals from {len(real)} real recordings of {table})")

    print("\n| signal | real p5 | real median | real p95 | scale | generated below p5 | above p95 | with a value |")
    print("|---|---|---|---|---|---|---|---|")
    for name, band in table_bands.items():
        values = [comparable_value(r, name) for r in generated if numeric(r.get(name))]
        below = sum(v < band["q05"] for v in values)
        above = sum(v > band["q95"] for v in values)
        print(f"| `{name}` | {band['q05']:.3g} | {band['median']:.3g} | {band['q95']:.3g} | "
              f"{'log' if band['log'] else 'linear'} | {below} | {above} | {len(values)}/{len(generated)} |")


if __name__ == "__main__":
    main()
