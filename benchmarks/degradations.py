"""Controlled degradations: does each training-free signal move the way it should as a real clip gets worse?

From every real clip in ../shared (media/real + corpus/real), a clean re-encode and each
degradation of ``tqscore.testing.degradations`` at its severities (mildest first); every copy goes
through the per-clip code of a signals-only ``tqscore batch`` (``run_frontend`` then
``compute_signals`` with ``load_signal_models()``, as ``tqscore.runtime.analyse`` calls them).
Per signal and degradation it prints the share of severity steps (clean -> s1 -> s2 -> s3)
in which the signal moved in its expected direction (strictly; a tie is no move), over all
clips and the per-clip minimum; ``**`` marks the signal meant to catch that degradation
(target: >= 90 % on every clip). Expected directions: the column's ``better`` read as "gets
worse" (``higher`` -> falls, ``lower`` -> rises, ``closer to 0`` -> |value| grows), except where
``EXPECTED`` (one table, with reasons) says otherwise; columns whose ``better`` is a range or
context are scored only where ``EXPECTED`` names them. Columns are read from SIGNAL_COLUMNS, so
new ones appear as they land. Also each signal group's cost per clip (``timings_ms``) against
the same run's decode + Face Mesh.

Audio degradations leave the video bit-identical to the clean copy and video degradations the
audio, so DNSMOS (the costliest signal) runs only where the audio changed; its columns show
``-`` for video degradations.

    python benchmarks/degradations.py                       # 8 real clips, whole (long: ~30 min on 2 cores)
    python benchmarks/degradations.py --seconds 5           # 5-s cuts (cheaper; lip sync reads worse)
    python benchmarks/degradations.py --json /tmp/deg.json  # also write every value
    python benchmarks/degradations.py --smoke               # one 4-s 256x256 clip, one severity each, no DNSMOS
    python benchmarks/degradations.py --syncnet syncnet.onnx  # SyncNet's rows too (user weights)

With ``--syncnet`` the table gains ``syncnet_lse_c`` / ``syncnet_lse_d`` / ``syncnet_offset_frames``:
the one lip reader the project can run that has learned what mouths look like. Whether its
``syncnet_lse_c`` catches a partly foreign audio track where ``sync_confidence`` does not (80 %,
worst clip 33 %) is measured by running this with real weights, which the project cannot ship.

Whole clips (3-20 s) by default, as users hand them over: 5-s cuts keep DNSMOS cheap, but the
lip-sync measures need length (MimicTalk's 5-s cut read +12 frames with
its own audio, the whole 20 s +1; docs/signals.md, "Where the ten targets stand").
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import common
import numpy as np
from tqdm import tqdm

from tqscore.features.frontend import run_frontend
from tqscore.model.reference import MIN_CONFIDENCE_SPEECH_S
from tqscore.signals import SIGNAL_COLUMNS, compute_signals, load_signal_models
from tqscore.testing.degradations import DEGRADATIONS, clean

SMOKE_CLIP = common.MEDIA / "real" / "WDA_KatieHill_000.mp4"

# The signal meant to catch each degradation.
TARGETS = {
    "face_blur": "face_sharpness",
    "mouth_blur": "mouth_face_sharpness_ratio",
    "compression": "blockiness",
    "visual_noise": "face_niqe",  # the brief's choice; FALLBACK when the column does not exist
    "freeze": "frozen_frame_ratio",
    "still_head": "head_rotation_speed_dps",
    "still_mouth": "mouth_motion_speech",
    "audio_noise": "dnsmos_ovrl",
    "audio_shift": "sync_offset_frames",
    "foreign_audio": "sync_confidence",
}
# Stand-ins, in order, for a target column that does not exist. No NIQE/BRISQUE column installs
# here (tqscore/signals/picture.py says why); face_noise (Immerkaer's noise sigma) measures the
# noise itself; per-frame independent noise is also frame-to-frame change that no motion
# explains, which is what temporal_flicker measures.
FALLBACK = {"face_niqe": ("face_brisque", "face_noise", "temporal_flicker")}

# Degradations defined against speech: noise at an SNR to the speech, speech shifted or replaced,
# a mouth still "while the audio speaks". They run on clips whose clean copy has at least
# MIN_CONFIDENCE_SPEECH_S of speech (Silero VAD), the span from which the project treats a clip's
# speech measures as evidence (tqscore/model/reference.py) and bands them in the real-footage
# reference (benchmarks/signal_reference.py); the rest are left out with a note:
# real__LIA__driving3's audio track is digital silence, FollowYourEmoji's a -47 dBFS hum, and
# LivePortrait_d12 holds 0.7 s of words in 7.3 s of room noise (its DNSMOS sits at the scale's
# floor, 1.1, with or without added noise).
NEEDS_SPEECH = {"audio_noise", "audio_shift", "foreign_audio", "still_mouth"}

# (degradation, signal) -> (expected direction, why). Overrides the default "gets worse".
EXPECTED: dict[tuple[str, str], tuple[str, str]] = {
    ("audio_shift", "sync_offset_frames"): (
        "higher", "sound k frames late raises the estimate by k (positive = sound late)"),
    ("audio_shift", "syncnet_offset_frames"): ("higher", "same sign convention as sync_offset_frames"),
    ("still_head", "head_rotation_speed_dps"): ("lower", "the head stands still for a growing share of the clip"),
    ("still_head", "head_still_ratio"): ("higher", "the still share of the clip grows"),
    ("still_head", "head_translation_iod"): ("lower", "no translation while the head stands still"),
    ("still_head", "head_yaw_range_deg"): ("lower", "no rotation while the head stands still"),
    ("still_head", "head_pitch_range_deg"): ("lower", "no rotation while the head stands still"),
    ("still_head", "head_roll_range_deg"): ("lower", "no rotation while the head stands still"),
    ("still_head", "blink_rate_per_min"): ("lower", "the still frame's eyes never blink"),
    ("still_head", "brow_motion"): ("lower", "the still frame's brows never move"),
    ("still_head", "expression_variability"): ("lower", "only the lower face still changes"),
    ("mouth_blur", "mouth_face_sharpness_ratio"): ("lower", "the mouth gets blurrier than the face"),
    ("compression", "mouth_face_sharpness_ratio"): ("none", "coding softens face and mouth alike"),
    ("visual_noise", "mouth_face_sharpness_ratio"): ("none", "noise lands on face and mouth alike"),
    ("freeze", "brow_motion"): ("lower", "held frames add frame pairs without brow motion"),
    ("freeze", "head_still_ratio"): ("higher", "a held frame's pose does not change"),
    ("freeze", "distinct_picture_rate"): ("lower", "held frames repeat the picture before them"),
    ("freeze", "head_rotation_speed_dps"): ("lower", "held frames add zero-speed frame pairs"),
    ("freeze", "expression_variability"): ("lower", "held frames repeat one expression"),
    ("still_mouth", "mouth_open_range"): ("lower", "the pasted lower face never opens"),
    ("still_mouth", "mouth_motion_silence"): ("lower", "the pasted lower face never moves, in silence either"),
    ("still_mouth", "expression_variability"): ("lower", "the lower face stops changing"),
    ("still_mouth", "sync_open_loudness_corr"): ("lower", "a still mouth cannot follow the loudness"),
    ("face_blur", "face_niqe"): ("higher", "NIQE rises (worse) with blur"),
    ("face_blur", "face_brisque"): ("higher", "BRISQUE rises (worse) with blur"),
    ("face_blur", "mouth_face_sharpness_ratio"): (
        "none", "face and mouth soften together; the ratio has no expected direction"),
    ("visual_noise", "face_sharpness"): (
        "none", "noise adds high-frequency energy: sharpness measures can rise, nothing is expected"),
    ("visual_noise", "mouth_sharpness"): ("none", "as face_sharpness"),
    ("visual_noise", "temporal_flicker"): ("higher", "independent noise per frame is change no motion explains"),
    ("face_blur", "face_noise"): ("none", "blur smooths grain away: a lower reading, not a worse picture"),
    ("mouth_blur", "face_noise"): ("none", "as face_blur, on the mouth only"),
    ("compression", "face_noise"): ("none", "coding removes grain first: a lower reading, not a better picture"),
    ("visual_noise", "landmark_jitter"): ("higher", "noise shakes the landmarks"),
    ("compression", "face_niqe"): ("higher", "NIQE rises (worse) with coding artefacts"),
    ("compression", "face_brisque"): ("higher", "BRISQUE rises (worse) with coding artefacts"),
    ("audio_noise", "speech_ratio"): (
        "none", "a VAD should keep its speech share; an energy detector's rises. Context, not a defect"),
    ("foreign_audio", "sync_open_loudness_corr"): ("lower", "the mouth does not follow another utterance's loudness"),
}


def expected_direction(degradation: str, column) -> str | None:
    """'higher', 'lower', 'away from 0' or None (no expectation) for this pair."""
    if (degradation, column.name) in EXPECTED:
        direction = EXPECTED[(degradation, column.name)][0]
        return None if direction == "none" else direction
    return {"higher": "lower", "lower": "higher", "closer to 0": "away from 0"}.get(column.better)


def moved(before: float, after: float, direction: str) -> bool:
    if direction == "higher":
        return after > before
    if direction == "lower":
        return after < before
    return abs(after) > abs(before)


def measure(path: Path, models: dict) -> tuple[dict, dict]:
    """One clip's signal row and timings: the calls ``tqscore.runtime.analyse`` makes."""
    frontend = run_frontend(path, syncnet_run=models.get("syncnet") is not None)
    timings: dict[str, float] = {}
    row = compute_signals(frontend, **models, timings_ms=timings)
    t = frontend.timings_ms
    timings["decode + Face Mesh (baseline)"] = t.get("open", 0.0) + t.get("decode", 0.0) + t.get("facemesh", 0.0)
    timings["observers (front end)"] = t.get("observers", 0.0)
    return row, timings


def run(clips: list[Path], severities: dict[str, tuple[float, ...]], seconds: float, models: dict,
        work: Path, skipped: list[str], size: tuple[int, int] | None = None) -> tuple[dict, list[dict]]:
    """values[clip][degradation] = [clean row, s1 row, ...]; and every run's timings. Pairs left
    out (``NEEDS_SPEECH`` on a clip without speech) are appended to ``skipped``. ``size``:
    (width, height) of the copies (default: the clip's own)."""
    audio_free = {**models, "dnsmos": None} if "dnsmos" in models else models
    values: dict[str, dict[str, list[dict]]] = {}
    timings: list[dict] = []
    jobs = [(clip, name) for clip in clips for name in severities]
    progress = tqdm(total=len(clips) + sum(len(severities[n]) for _, n in jobs), desc="degraded copies", unit="copy")
    for clip in clips:
        folder = work / clip.stem
        base_row, base_t = measure(clean(clip, folder, seconds=seconds, size=size), models)
        timings.append(base_t)
        progress.update()
        values[clip.name] = {}
        for name, levels in severities.items():
            degradation = DEGRADATIONS[name]
            speech_s = base_row.get("speech_s") or 0.0
            if name in NEEDS_SPEECH and speech_s < MIN_CONFIDENCE_SPEECH_S:
                skipped.append(f"{clip.name}: {name} ({speech_s:.1f} s of speech in the clean copy, "
                               f"under {MIN_CONFIDENCE_SPEECH_S:g} s)")
                progress.update(len(levels))
                continue
            rows = [base_row]
            for severity in levels:
                path = degradation.make(clip, folder, severity, seconds=seconds, size=size)
                row, t = measure(path, models if degradation.modality == "audio" else audio_free)
                rows.append(row)
                timings.append(t)
                path.unlink()
                progress.update()
            values[clip.name][name] = rows
    progress.close()
    return values, timings


def step_shares(values: dict, columns) -> dict:
    """shares[(degradation, signal)] = (moved, steps, per-clip minimum share or None)."""
    shares = {}
    degradations = {name for clip_values in values.values() for name in clip_values}
    for name in degradations:
        for column in columns:
            direction = expected_direction(name, column)
            if direction is None:
                continue
            total_moved = total_steps = 0
            per_clip = []
            for clip_values in values.values():
                if name not in clip_values:
                    continue
                series = [row.get(column.name) for row in clip_values[name]]
                steps = [(a, b) for a, b in pairwise(series) if a is not None and b is not None]
                hits = sum(moved(a, b, direction) for a, b in steps)
                total_moved, total_steps = total_moved + hits, total_steps + len(steps)
                if steps:
                    per_clip.append(hits / len(steps))
            if total_steps:
                shares[(name, column.name)] = (total_moved, total_steps, min(per_clip))
    return shares


def target_column(name: str, present: set[str]) -> str | None:
    return next((c for c in (TARGETS[name], *FALLBACK.get(TARGETS[name], ())) if c in present), None)


def table(shares: dict, degradations: list[str], columns, present: set[str]) -> str:
    targets = {name: target_column(name, present) for name in degradations}
    head = "| signal | " + " | ".join(f"{n}" for n in degradations) + " |"
    lines = [head, "|---|" + "---|" * len(degradations)]
    for column in columns:
        cells = []
        for name in degradations:
            if (name, column.name) not in shares:
                cells.append("-")
                continue
            hits, steps, low = shares[(name, column.name)]
            cell = f"{100 * hits / steps:.0f} % ({100 * low:.0f})"
            cells.append(f"**{cell}**" if targets[name] == column.name else cell)
        if any(c != "-" for c in cells):
            lines.append(f"| `{column.name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_lines(shares: dict, degradations: list[str], present: set[str]) -> list[str]:
    out = []
    for name in degradations:
        column = target_column(name, present)
        if column is None:
            out.append(f"- {name}: target `{TARGETS[name]}` is not a column yet; skipped")
            continue
        if (name, column) not in shares:
            out.append(f"- {name}: `{column}` was null on every copy; not measured")
            continue
        hits, steps, low = shares[(name, column)]
        verdict = "met" if low >= 0.9 else "MISSED"
        stand_in = f" (stand-in: `{TARGETS[name]}` is not a column)" if column != TARGETS[name] else ""
        out.append(f"- {name}: `{column}`{stand_in} moved in {hits}/{steps} steps ({100 * hits / steps:.0f} %), "
                   f"worst clip {100 * low:.0f} %: {verdict}")
    return out


def cost_table(timings: list[dict]) -> str:
    keys = sorted({k for t in timings for k in t}, key=lambda k: (not k.startswith("decode"), k))
    base = np.mean([t["decode + Face Mesh (baseline)"] for t in timings])
    lines = ["| signal group | ms per clip (mean) | runs | x decode + Face Mesh |", "|---|---|---|---|"]
    for key in keys:
        ms = [t[key] for t in timings if key in t]
        lines.append(f"| {key} | {np.mean(ms):.1f} | {len(ms)} | {np.mean(ms) / base:.3f} |")
    return "\n".join(lines)


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--seconds", type=float, help="cut every clip to this length [whole clips]")
    p.add_argument("--clips", nargs="*", type=Path, help="clips to degrade [every real clip in ../shared]")
    p.add_argument("--only", help="comma-separated degradations to run [all]")
    p.add_argument("--json", type=Path, help="also write every value, share and timing here")
    p.add_argument("--syncnet", type=Path, help="SyncNet weights from `tqscore export-syncnet`: adds the syncnet_* rows")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    names = args.only.split(",") if args.only else list(DEGRADATIONS)
    unknown = sorted(set(names) - set(DEGRADATIONS))
    if unknown:
        p.error(f"unknown degradations: {', '.join(unknown)} (known: {', '.join(DEGRADATIONS)})")
    if args.smoke:
        # 4 s: over 3 s of speech, so the speech degradations run too; 256x256, a quarter of the
        # pixels to encode, blur and decode (the face stays larger than Face Mesh's 192-px input)
        clips, seconds, size = [SMOKE_CLIP], 4.0, (256, 256)
        severities = {n: DEGRADATIONS[n].severities[-1:] for n in names}
        models = {**load_signal_models(args.syncnet), "dnsmos": None}
    else:
        clips = args.clips or (sorted((common.MEDIA / "real").glob("*.mp4")) + sorted((common.CORPUS / "real").glob("*")))
        seconds, size = args.seconds, None
        severities = {n: DEGRADATIONS[n].severities for n in names}
        models = load_signal_models(args.syncnet)

    machine = common.machine()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tqscore-degradations-") as work:
        skipped: list[str] = []
        values, timings = run(clips, severities, seconds, models, Path(work), skipped, size)
    columns = [c for c in SIGNAL_COLUMNS if c.dtype in ("float32", "int32")]
    present = {c.name for c in columns}
    shares = step_shares(values, columns)

    print(f"# Controlled degradations ({len(clips)} real clips, {f'{seconds:g}-s cuts' if seconds else 'whole'}, "
          f"{'smoke: one severity each' if args.smoke else 'severities ' + ', '.join(f'{n} {DEGRADATIONS[n].severities}' for n in names)})")
    print(f"\nmachine: {machine['cpu']}, {machine['cores']} cores; load before: {machine['load']}; "
          f"wall {time.perf_counter() - started:.0f} s\n")
    print("Share of severity steps in which the signal moved in its expected direction, all clips "
          "(worst clip in brackets); **bold** = the signal meant to catch the degradation; - = no expectation or null.\n")
    print(table(shares, names, columns, present))
    print("\nTargets (>= 90 % on every clip):\n")
    print("\n".join(target_lines(shares, names, present)))
    if skipped:
        print("\nLeft out:\n")
        print("\n".join(f"- {line}" for line in skipped))
    print("\nExpected directions other than \"gets worse\":\n")
    print("\n".join(f"- {d} / `{s}`: {direction} ({why})" for (d, s), (direction, why) in EXPECTED.items()
                    if d in names and s in present))
    print("\nCost per clip (every run; DNSMOS only where the audio changed):\n")
    print(cost_table(timings))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine, "seconds": seconds, "clips": [c.name for c in clips],
            "severities": severities, "skipped": skipped, "values": values, "timings_ms": timings,
            "shares": {f"{d}/{s}": {"moved": m, "steps": n, "worst_clip": w} for (d, s), (m, n, w) in shares.items()},
        }, indent=1, default=float))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
