"""How often a short cut of a real recording reads a false sync offset as certain, by its speech.

Every recording with speech is cut into pieces of 3.5, 4, 5, 6, 8, 10, 12, 15 and 20 s (starts
every 0.5 s, at most ``MAX_STARTS`` evenly spread per length, so a 60-s interview does not
outweigh the 5-s clips), and ``tqscore.signals.sync.estimate_sync`` reads each piece as
``tqscore batch`` would read it as a file: frame times re-based to the cut, the audio cut to
match. A cut's speech is the VAD mask's frames inside it. Each piece is read four ways:

- ``own``: its own audio. A real recording is in sync, so a certain offset beyond
  ``tolerance_frames()`` is false (it lowers lip_sync and, past ITU-R BT.1359, raises a
  ``sound_late`` or ``sound_early`` reason);
- ``shift``: its own audio delayed by +/-4, 6 and 10 frames (taken from the whole recording's
  audio, so real sound fills the cut; every second start): a real delay, which a certain
  reading should find (right: within one frame of the whole recording's reading + the delay);
- ``displaced``: the same recording's audio ``DISPLACE_S`` further on (wrapping round): the same
  voice, unrelated to these lips;
- ``foreign``: the next real recording's audio from the same start: another voice.

A reading is certain when ``tqscore.model.reference.sync_uncertainty`` finds nothing wrong with a
row of the cut's ``speech_s``, ``sync_offset_frames`` and ``sync_confidence``: the shipped rule,
beside the baseline of the same function with ``peak_scale=0`` (at least 3 s of speech and a
peak above the real recordings' 5th percentile, nothing that grows with less speech), both in
this run. The reasons and verdicts are ``tqscore.model.rules.evaluate`` on that row.

Printed, per speech-seconds bin: the real cuts with their own audio read certain and false
(beyond the tolerance; or further than the tolerance's half-width from the whole recording's
reading, which differs only where a whole reading lies near the tolerance's edge), per real
recording; the unrelated-audio readings' confidence percentiles and how many read certain, and
the 95th / 99th percentile of confidence x sqrt(speech_s), the measurement behind
``SYNC_PEAK_SCALE``; the delayed cuts read certain and right; the generated clips' cuts read
certain and far from their own whole reading. ``--out FILE`` keeps every reading (Parquet),
``--readings FILE`` prints the tables of such a file again.

Inputs: clips (the front end and the VAD run here; a path with a folder ``real`` is a real
recording), or ``--frames DIR``: their dense passes saved once by
``python benchmarks/dense_passes.py --out DIR``.

    python benchmarks/sync_short.py --frames DIR --out /tmp/sync_short.parquet   # ~9 min on 2 cores
    python benchmarks/sync_short.py              # every clip in ../shared, front end included
    python benchmarks/sync_short.py ../shared/media/real/*.mp4
    python benchmarks/sync_short.py --smoke        # the first 6 s of one real recording, seconds
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import common
import dense_passes
import numpy as np
import polars as pl

from tqscore.layout import FPS, SAMPLE_RATE
from tqscore.model.reference import (
    MIN_CONFIDENCE_SPEECH_S,
    SEARCH_EDGE_FRAMES,
    SYNC_PEAK_SCALE,
    sync_uncertainty,
    tolerance_frames,
)
from tqscore.model.rules import evaluate
from tqscore.signals.sync import estimate_sync

LENGTHS_S = (3.5, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
STEP_S = 0.5
MAX_STARTS = 40  # per recording and length
SHIFTS = (-10, -6, -4, 4, 6, 10)  # frames, + = sound late
SHIFT_EVERY = 2  # the delayed copies are read on every second start: 6 copies per such cut
DISPLACE_S = 2.5  # far beyond the +/-15-frame (0.6-s) search: no offset lines these up
SMOKE_SOURCE = common.MEDIA / "real" / "WDA_KatieHill_000.mp4"
SMOKE_SECONDS, SMOKE_LENGTHS = 6.0, (4.0, 5.0)  # 8 cuts, 46 readings


@dataclass
class Recording:
    name: str
    real: bool
    times: np.ndarray
    landmarks: np.ndarray
    face_found: np.ndarray
    fps: float
    aspect: float
    audio: np.ndarray
    speech: np.ndarray

    @property
    def span_s(self) -> float:
        return float(self.times[-1] + 1.0 / self.fps) if len(self.times) else 0.0


def from_dense(dense: dict) -> Recording:
    """A recording from its dense pass (``dense_passes.analyse`` or ``dense_passes.load``)."""
    rel = dense["path"]
    return Recording(rel, common.is_real(rel), dense["times"], dense["landmarks"], dense["face_found"],
                     dense["fps"], dense["aspect"], dense["audio"], dense["speech"])


def audio_piece(audio: np.ndarray, start_s: float, length_s: float, wrap: bool = False) -> np.ndarray:
    """``length_s`` of ``audio`` from ``start_s`` (may be negative): zeros outside, or wrapped round."""
    a, n = int(round(start_s * SAMPLE_RATE)), int(round(length_s * SAMPLE_RATE))
    idx = np.arange(a, a + n)
    if wrap:
        return audio[idx % len(audio)]
    inside = (idx >= 0) & (idx < len(audio))
    out = np.zeros(n, np.float32)
    out[inside] = audio[idx[inside]]
    return out


def read(rec: Recording, start_s: float, length_s: float, audio: np.ndarray) -> tuple[int, float] | None:
    """(offset, confidence) of the cut [start_s, start_s + length_s) with ``audio`` as its sound."""
    sel = (rec.times >= start_s - 1e-9) & (rec.times < start_s + length_s - 1e-9)
    result = estimate_sync(rec.landmarks[sel], rec.face_found[sel], rec.times[sel] - start_s, audio,
                           fps=FPS, aspect=rec.aspect)
    return None if result is None else (result.offset_frames, result.confidence)


def speech_in(rec: Recording, start_s: float, length_s: float, wrap: bool = False) -> float:
    """Seconds of speech (VAD mask frames) in [start_s, start_s + length_s), wrapping round if asked."""
    times = rec.times - start_s
    if wrap:
        times = times % rec.span_s
    return float(rec.speech[(times >= -1e-9) & (times < length_s - 1e-9)].sum() / rec.fps)


def starts(span_s: float, length_s: float, step_s: float) -> np.ndarray:
    if span_s < length_s - 1e-9:
        return np.zeros(0)
    grid = np.arange(0.0, span_s - length_s + 1e-9, step_s)
    return grid if len(grid) <= MAX_STARTS else np.linspace(0.0, grid[-1], MAX_STARTS)


def copies(rec: Recording, foreign: Recording | None, t0: float, length: float, delays: bool) -> dict:
    """(audio kind, delay) -> (the cut's audio, its speech seconds): own audio; on a real
    recording also the displaced and foreign audio and, when ``delays``, the delayed copies."""
    own = speech_in(rec, t0, length)
    out = {("own", 0): (audio_piece(rec.audio, t0, length), own)}
    if not rec.real:
        return out
    out[("displaced", 0)] = (audio_piece(rec.audio, t0 + DISPLACE_S, length, wrap=True),
                             speech_in(rec, t0 + DISPLACE_S, length, wrap=True))
    if foreign is not None:
        out[("foreign", 0)] = (audio_piece(foreign.audio, t0, length, wrap=True), speech_in(foreign, t0, length, wrap=True))
    if delays:
        out |= {("shift", k): (audio_piece(rec.audio, t0 - k / FPS, length), own) for k in SHIFTS}
    return out


def readings(rec: Recording, foreign: Recording | None, lengths=LENGTHS_S) -> list[dict]:
    """Every cut of ``rec`` read with each of its ``copies``."""
    whole = read(rec, 0.0, rec.span_s, rec.audio)
    rows = []
    for length in lengths:
        for i, t0 in enumerate(starts(rec.span_s, length, STEP_S)):
            base = {"recording": rec.name, "real": rec.real, "length_s": length, "start_s": float(t0),
                    "whole_offset": None if whole is None else whole[0]}
            for (kind, shift), (audio, speech_s) in copies(rec, foreign, t0, length, i % SHIFT_EVERY == 0).items():
                got = read(rec, t0, length, audio)
                rows.append(base | {"audio": kind, "shift": shift, "speech_s": speech_s,
                                    "offset": None if got is None else got[0],
                                    "confidence": None if got is None else got[1]})
    return rows


def has_speech(rec: Recording) -> bool:
    return len(rec.audio) > 0 and bool(rec.speech.any())


def collect(recordings: list[Recording], lengths=LENGTHS_S) -> pl.DataFrame:
    """Every reading of every recording with speech; a real one's foreign audio is the next real one's."""
    from tqdm import tqdm

    spoken = [r for r in recordings if has_speech(r)]
    real = [r for r in spoken if r.real]
    rows = []
    for rec in tqdm(spoken, desc="recordings", unit="rec"):
        foreign = real[(real.index(rec) + 1) % len(real)] if rec.real and len(real) > 1 else None
        rows += readings(rec, foreign, lengths)
    return pl.DataFrame(rows, infer_schema_length=None)


LIP_SYNC_CODES = ("sound_late", "sound_early", "lips_ignore_audio")
BINS_S = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0)  # speech seconds; under 3 s no offset is read at all


def speech_bin(seconds: float) -> str:
    if seconds < BINS_S[0]:
        return f"< {BINS_S[0]:g}"
    upper = next((b for b in BINS_S if b > seconds), None)
    lower = max(b for b in BINS_S if b <= seconds)
    return f"{lower:g}-{upper:g}" if upper else f">= {lower:g}"


def judged(table: pl.DataFrame) -> pl.DataFrame:
    """The readings with speech, each judged as the scorer and the rules judge a row with these
    three columns: certain under the shipped rule and the baseline, false (beyond the tolerance,
    far from the whole recording's reading), right (a shifted copy read at its shift), and
    whether a lip-sync reason or a fail comes of it."""
    low, high = tolerance_frames()
    half_width = (high - low) / 2.0
    out = []
    for r in table.filter(pl.col("speech_s") > 0).to_dicts():
        row = {"status": "ok", "has_audio": True, "face_present_ratio": 1.0, "speech_s": r["speech_s"],
               "sync_offset_frames": r["offset"], "sync_confidence": r["confidence"]}
        read_at_all = r["offset"] is not None
        verdict, reasons = evaluate(row)
        whole = r["whole_offset"]
        known = whole is not None and abs(whole) < SEARCH_EDGE_FRAMES
        out.append(r | {
            "bin": speech_bin(r["speech_s"]),
            "certain_base": read_at_all and sync_uncertainty(row, peak_scale=0.0) is None,
            "certain": read_at_all and sync_uncertainty(row) is None,
            "beyond": read_at_all and not low <= r["offset"] <= high,
            "far": read_at_all and known and abs(r["offset"] - whole) > half_width,
            "right": read_at_all and known and abs(r["offset"] - whole - r["shift"]) <= 1,
            "known": known,
            "lip_reason": any(x.split(":")[0] in LIP_SYNC_CODES for x in reasons),
            "fail": verdict == "fail",
        })
    bins = [speech_bin(b) for b in (0.0, *BINS_S)]
    return pl.DataFrame(out, infer_schema_length=None).with_columns(
        pl.col("bin").cast(pl.Enum(bins)))


def _pct(part: int, whole: int) -> str:
    return f"{part} ({100.0 * part / whole:.1f} %)" if whole else "-"


def _table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def _by_bin(frame: pl.DataFrame, cells) -> list[list]:
    """One row per speech bin (in order): the bin, then ``cells(group)``; a last row over all."""
    rows = [[b, *cells(g)] for (b,), g in frame.sort("bin").group_by("bin", maintain_order=True)]
    return rows + [["all", *cells(frame)]] if len(frame) else rows


def _both(g: pl.DataFrame, flag: str) -> str:
    n = len(g)
    return f"{_pct((g['certain_base'] & g[flag]).sum(), n)} / {_pct((g['certain'] & g[flag]).sum(), n)}"


def own_tables(j: pl.DataFrame) -> None:
    own = j.filter(pl.col("real") & (pl.col("audio") == "own"))
    _table("Real recordings, cuts with their own audio (in sync): a certain offset beyond the tolerance is false",
           ["speech (s)", "cuts", "recordings", "certain: baseline / shipped", "false certain: baseline / shipped",
            "far from the whole reading: baseline / shipped", "shipped: lip-sync reason", "shipped: fail"],
           _by_bin(own, lambda g: [len(g), g["recording"].n_unique(),
                                   f"{_pct(g['certain_base'].sum(), len(g))} / {_pct(g['certain'].sum(), len(g))}",
                                   _both(g, "beyond"), _both(g, "far"), _pct(g["lip_reason"].sum(), len(g)),
                                   _pct(g["fail"].sum(), len(g))]))
    per = own.group_by("recording").agg(
        cuts=pl.len(), whole=pl.col("whole_offset").first(),
        base=(pl.col("certain_base") & pl.col("beyond")).sum(), shipped=(pl.col("certain") & pl.col("beyond")).sum(),
        reason=pl.col("lip_reason").sum()).sort("base", "recording", descending=[True, False])
    _table("Per real recording, cuts with their own audio", ["recording", "cuts", "whole reading",
           "false certain: baseline", "shipped", "shipped: lip-sync reason"],
           [[r["recording"], r["cuts"], r["whole"], _pct(r["base"], r["cuts"]), _pct(r["shipped"], r["cuts"]),
             _pct(r["reason"], r["cuts"])] for r in per.iter_rows(named=True)])


def null_tables(j: pl.DataFrame) -> None:
    null = j.filter(pl.col("real") & pl.col("audio").is_in(["displaced", "foreign"]))
    conf = pl.col("confidence")
    _table("Real recordings' cuts with audio unrelated to their lips (the same recording's further on, "
           "another recording's): any certain offset is false",
           ["speech (s)", "readings", "confidence 95th / 99th percentile", "certain: baseline / shipped",
            "shipped: lip-sync reason"],
           _by_bin(null, lambda g: [len(g), f"{g['confidence'].quantile(0.95) or 0:.3f} / "
                                            f"{g['confidence'].quantile(0.99) or 0:.3f}",
                                    f"{_pct(g['certain_base'].sum(), len(g))} / {_pct(g['certain'].sum(), len(g))}",
                                    _pct(g["lip_reason"].sum(), len(g))]))
    scaled = null.filter((pl.col("speech_s") >= MIN_CONFIDENCE_SPEECH_S) & conf.is_not_null()).select(
        conf * pl.col("speech_s").sqrt()).to_series()
    if len(scaled):
        print(f"\nconfidence x sqrt(speech_s) of these readings with >= {MIN_CONFIDENCE_SPEECH_S:g} s of speech "
              f"({len(scaled)}): 95th percentile {scaled.quantile(0.95):.3f}, 99th {scaled.quantile(0.99):.3f} "
              f"(SYNC_PEAK_SCALE = {SYNC_PEAK_SCALE})")


def shift_tables(j: pl.DataFrame) -> None:
    shifted = j.filter(pl.col("real") & (pl.col("audio") == "shift") & pl.col("known"))
    cells = lambda g: [len(g), _both(g, "right"), _both(g, "wrong")]  # noqa: E731
    shifted = shifted.with_columns(wrong=~pl.col("right"))
    _table("Real recordings' cuts with their audio delayed (a real offset): certain and read at the shift "
           "(within one frame of the whole reading + the shift), or certain and not",
           ["speech (s)", "cuts", "certain and right: baseline / shipped", "certain and wrong: baseline / shipped"],
           _by_bin(shifted, cells))
    rows = [[k, *cells(g)] for (k,), g in shifted.sort("shift").group_by("shift", maintain_order=True)]
    _table("The same by delay", ["delay (frames, + = sound late)", "cuts", "certain and right: baseline / shipped",
                                 "certain and wrong: baseline / shipped"], rows)


def generated_table(j: pl.DataFrame) -> None:
    gen = j.filter(~pl.col("real") & pl.col("known"))
    _table("Generated clips' cuts with their own audio, against the clip's whole reading",
           ["speech (s)", "cuts", "clips", "certain: baseline / shipped", "certain and far from the whole reading: "
            "baseline / shipped", "shipped: fail"],
           _by_bin(gen, lambda g: [len(g), g["recording"].n_unique(),
                                   f"{_pct(g['certain_base'].sum(), len(g))} / {_pct(g['certain'].sum(), len(g))}",
                                   _both(g, "far"), _pct(g["fail"].sum(), len(g))]))


def report(table: pl.DataFrame) -> None:
    low, high = tolerance_frames()
    print(f"tolerance {low}..{high} frames; baseline: >= {MIN_CONFIDENCE_SPEECH_S:g} s of speech and a peak above the "
          f"real 5th percentile; shipped: also sync_confidence >= {SYNC_PEAK_SCALE} / sqrt(speech_s)")
    j = judged(table)
    own_tables(j)
    null_tables(j)
    shift_tables(j)
    generated_table(j)


def smoke_recording(folder: Path, vad) -> Recording:
    """The first ``SMOKE_SECONDS`` of one real recording, re-encoded and analysed here."""
    from tqscore.testing.media_variants import reencode

    clip = reencode(SMOKE_SOURCE, folder / f"real_{SMOKE_SOURCE.stem}.mp4", seconds=SMOKE_SECONDS)
    rec = from_dense(dense_passes.analyse(clip, vad))
    rec.real = True
    return rec


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("clips", nargs="*", type=Path,
                   help="clips to analyse here (a path with a folder 'real' is real); default: every clip in ../shared")
    p.add_argument("--frames", type=Path, help="a folder of saved dense passes (dense_passes.py --out), instead of clips")
    p.add_argument("--readings", type=Path, help="print the tables of readings written before by --out")
    p.add_argument("--out", type=Path, help="write every reading here (Parquet)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print("machine:", common.machine())
    if args.readings:
        report(pl.read_parquet(args.readings))
        return 0
    lengths = SMOKE_LENGTHS if args.smoke else LENGTHS_S
    if not (args.frames or args.clips or args.smoke):
        args.clips = dense_passes.shared_clips()
    if args.frames:
        recordings = [from_dense(dense_passes.load(f)) for f in sorted(args.frames.glob("*.npz"))]
    else:
        import tempfile

        from tqscore.signals.vad import SileroVad

        vad = SileroVad()
        with tempfile.TemporaryDirectory() as tmp:
            recordings = ([smoke_recording(Path(tmp), vad)] if args.smoke
                          else [from_dense(dense_passes.analyse(c, vad)) for c in args.clips])
    if not recordings:
        p.error("no recordings: give clips or a --frames folder with .npz files")
    table = collect(recordings, lengths)
    if args.out:
        table.write_parquet(args.out)
    report(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
