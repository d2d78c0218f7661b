"""Recompute the real-footage reference (tqscore/signals/reference.json) and hold the generated
clips against it.

Every real recording of ../shared/media/real and ../shared/corpus/real goes through the product
path (run_frontend, compute_signals with DNSMOS and Silero VAD, no SyncNet weights); per signal
the file stores the lowest, median and highest value and how many recordings had one. Then the
generated clips (../shared/media/generated, ../shared/corpus/generated) are scored the same way
and the table printed says, per signal, how many fall below / above the real band.

    python benchmarks/signal_reference.py            # writes tqscore/signals/reference.json
    python benchmarks/signal_reference.py --smoke    # one real, one generated clip; writes to a temp file
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path

import numpy as np

import common
from tqscore.features.frontend import run_frontend
from tqscore.layout import LAYOUT_VERSION
from tqscore.model.reference import MIN_CONFIDENCE_SPEECH_S
from tqscore.signals import SIGNAL_NAMES, compute_signals, load_signal_models
from tqscore.signals.reference import REFERENCE_FILE

COMMAND = "python benchmarks/signal_reference.py"


def rows_for(paths: list[Path], models: dict) -> dict[str, dict]:
    rows = {}
    for path in paths:
        rows[path.name] = compute_signals(run_frontend(path), **models)
        logging.info("%s done", path.name)
    return rows


def numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# Measures of speech (lip sync against it, its quality) are banded from the recordings that have
# some: at least MIN_CONFIDENCE_SPEECH_S of it, the span below which the sync estimator scores
# own and foreign audio alike (tqscore/model/reference.py). Without this, FollowYourEmoji's hum
# (no speech) set the top of the sync_confidence band and LivePortrait's 0.7 s of words amid
# noise the bottom of the DNSMOS bands.
SPEECH_MEASURES = ("sync_", "syncnet_", "dnsmos_")


def bands(rows: dict[str, dict]) -> dict[str, dict]:
    names = [n for n in SIGNAL_NAMES] + sorted({k for r in rows.values() for k in r} - set(SIGNAL_NAMES))
    speaking = [r for r in rows.values() if (r.get("speech_s") or 0.0) >= MIN_CONFIDENCE_SPEECH_S]
    out = {}
    for name in names:
        banded = speaking if name.startswith(SPEECH_MEASURES) else rows.values()
        values = [r[name] for r in banded if numeric(r.get(name))]
        if values:
            out[name] = {"low": float(min(values)), "high": float(max(values)),
                         "median": float(np.median(values)), "n": len(values)}
    return out


def main() -> None:
    args = common.parser(__doc__).parse_args()
    logging.basicConfig(level=logging.WARNING)
    real = sorted((common.MEDIA / "real").glob("*.mp4")) + sorted((common.CORPUS / "real").glob("*"))
    generated = sorted((common.MEDIA / "generated").glob("*.mp4")) + sorted((common.CORPUS / "generated").glob("*"))
    if args.smoke:
        real, generated = real[1:2], generated[2:3]  # KatieHill, sadtalker_camera: small and short
    print("machine:", common.machine())
    models = load_signal_models()
    real_rows = rows_for(real, models)
    table = bands(real_rows)
    reference = {"measured_with": COMMAND, "layout_version": LAYOUT_VERSION,
                 "recordings": [str(p.relative_to(common.SHARED)) for p in real], "signals": table}
    target = Path(tempfile.mkdtemp()) / "reference.json" if args.smoke else REFERENCE_FILE
    target.write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target} ({len(table)} signals from {len(real)} recordings)")

    gen_rows = rows_for(generated, models)
    print(f"\n| signal | real low | real median | real high | generated below | generated above | generated with a value |")
    print("|---|---|---|---|---|---|---|")
    for name, band in table.items():
        values = [r[name] for r in gen_rows.values() if numeric(r.get(name))]
        below = sum(v < band["low"] for v in values)
        above = sum(v > band["high"] for v in values)
        print(f"| `{name}` | {band['low']:.3g} | {band['median']:.3g} | {band['high']:.3g} | {below} | {above} | "
              f"{len(values)}/{len(gen_rows)} |")


if __name__ == "__main__":
    main()
