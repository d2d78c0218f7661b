"""Validity of the reference scorer: human judgements, real footage, generators, degradations.

Takes a signals table of ``tqscore batch`` over ../shared (or runs that batch first, resumable),
re-scores every row with the current reference scorer and rules (the scorer reads a row's
signals alone, so this takes a second), and prints:

(a) on ``validation/adthqa-dev`` (a published study's pairwise judgements: four generators x
    five people, 15 raters per pair), for the five scores, every evidence grade and every signal
    column: the study's vote-weighted agreement, plain majority agreement and the ceiling per
    judged question, and leave-one-person-out agreement for every number fitted to these pairs;
(b) every real recording's verdict and reasons, and how often each rule fires on real footage
    (and, for contrast, on generated clips);
(c) real-vs-generated AUC per score (the chance that a real recording outscores a generated clip);
(d) per generator that also appears in ``labels/thqa-ntire``, the mean scores beside the NTIRE
    2025 challenge's mean opinion score, with Spearman's rank correlation over those generators;
(e) with ``--degradations``, a reduced run of ``benchmarks/degradations.py`` (one real clip,
    every degradation and severity): its signal targets, and whether the score meant to catch
    each degradation falls with it.

    python benchmarks/validity.py --table TABLE.parquet   # a `tqscore batch` table of ../shared
    python benchmarks/validity.py                      # runs `tqscore batch ../shared` first
    python benchmarks/validity.py --table T --degradations
    python benchmarks/validity.py --smoke              # two 4-s cuts, two degradations: plumbing only
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import polars as pl

import common
from common import is_real
from tqscore.layout import LABELS
from tqscore.model.reference import DEFAULT_WEIGHTS, ReferenceScorer
from tqscore.model.rules import evaluate, load_rules
from tqscore.signals.columns import SIGNAL_COLUMNS
from tqscore.testing.media_variants import reencode
from tqscore.training.pairs import pair_agreement

STUDY = common.SHARED / "validation" / "adthqa-dev"
NTIRE = common.SHARED / "labels" / "thqa-ntire"
EXTENSIONS = "mp4,mov,mkv,avi,webm,m4v,mpg"
DEFAULT_TABLE = Path(tempfile.gettempdir()) / "tqscore-validity" / "shared.parquet"

# The judged question of each study dimension, the score held to it, and the agreement it must reach.
QUESTIONS = {"lip_sync": "lip_sync", "head_motion": "expression", "visual_quality": "overall"}
TARGETS = {"lip_sync": 0.72, "head_motion": 0.80, "visual_quality": 0.70}
AUC_TARGETS = {"expression": 0.70, "lip_sync": 0.60, "cross_modal": 0.60}

# NTIRE file names end in the generator; these spellings name our generators there. EchoMimic
# appears in NTIRE without a version; ours is EchoMimic V3.
NTIRE_NAMES = {"sadtalker": ("sadtalker", "sad"), "makeittalk": ("makeittalk", "mkittalk"), "dinet": ("dinet",),
               "dreamtalk": ("dreamtalk",), "wav2lip": ("wavlip",), "echomimic_v3": ("echomimic",)}


# --------------------------------------------------------------------------------------------
# The table and its clips


def generator(path: str) -> str | None:
    """The generator of a generated clip, from its folder (adthqa-dev) or file name; None if real."""
    if is_real(path):
        return None
    parts = Path(path).parts
    if parts[:2] == ("validation", "adthqa-dev"):
        return parts[2]
    name = parts[-1]
    return name.split("__")[0] if "__" in name else name.split("_")[0]


def shared_table(out: Path = DEFAULT_TABLE, smoke: bool = False) -> Path:
    """Run ``tqscore batch`` over ../shared into ``out`` (resumable) and return it; with ``smoke``,
    over the first ``common.SMOKE_SECONDS`` of two clips of ../shared/media (same folders and
    names) in a temporary folder."""
    root = common.SHARED
    if smoke:
        root = Path(tempfile.mkdtemp(prefix="tqscore-validity-"))
        for folder, name in (("real", "WDA_KatieHill_000.mp4"), ("generated", "sadtalker_camera_radio31.mp4")):
            (root / folder).mkdir()
            reencode(common.MEDIA / folder / name, root / folder / name, seconds=common.SMOKE_SECONDS)
        out = root / "shared.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    # Two 4-s clips: a second worker's start-up costs more than the clip it would analyse
    # (5.4 s wall with one worker, 6.4-13 s with two, load ~4 on 2 cores).
    workers = "1" if smoke else "2"
    command = [sys.executable, "-m", "tqscore.cli", "batch", str(root), "--out", str(out), "--ext", EXTENSIONS,
               "--workers", workers, "--no-progress"]
    print("running:", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return out


def read_rows(table: Path) -> list[dict]:
    return pl.read_parquet(table).to_dicts()


def rescore(rows: list[dict], scorer: ReferenceScorer, rules) -> list[dict]:
    """Every row with this scorer's scores and evidence and these rules' verdict and reasons."""
    out = []
    for row in rows:
        row = dict(row)
        if row.get("status") != "error":
            result = scorer.score(row)
            row.update(result.values)
            row["evidence"] = result.parts
            row["verdict"], row["reasons"] = evaluate(row, rules, causes=result.causes)
        else:
            row["evidence"] = {}
            row["verdict"], row["reasons"] = evaluate(row, rules)
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------
# (a) the study's pairs


def read_pairs(path: Path = STUDY / "pairs.csv") -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{**p, "votes_a": int(p["votes_a"]), "votes_b": int(p["votes_b"]),
                 "person": Path(p["video_a"]).stem.split("_")[0]} for p in csv.DictReader(f)]


def measures(rows: list[dict]) -> dict[str, dict[str, float | None]]:
    """measure name -> {path: value}: the five scores, every evidence grade, every signal column."""
    out: dict[str, dict[str, float | None]] = defaultdict(dict)
    numeric = [c.name for c in SIGNAL_COLUMNS if c.dtype in ("float32", "int32")]
    for row in rows:
        for label in LABELS:
            out[label][row["path"]] = row.get(label)
        for label, grades in row.get("evidence", {}).items():
            for name, value in grades.items():
                out[f"{label}.{name}"][row["path"]] = value
        for name in numeric:
            out[name][row["path"]] = row.get(name)
    return out


def agreement(values: dict[str, float | None], pairs: list[dict], higher_is_better: bool = True):
    prefix = "validation/adthqa-dev/"
    return pair_agreement([values.get(prefix + p["video_a"]) for p in pairs],
                          [values.get(prefix + p["video_b"]) for p in pairs],
                          [p["votes_a"] for p in pairs], [p["votes_b"] for p in pairs], higher_is_better)


def by_question(pairs: list[dict]) -> dict[str, list[dict]]:
    return {q: [p for p in pairs if p["dimension"] == q] for q in QUESTIONS}


def part_a(rows: list[dict], pairs: list[dict]) -> dict[str, float]:
    """Print the agreement table; return the study measure of each question's score."""
    questions = by_question(pairs)
    found = measures(rows)
    print("\n## (a) Agreement with the study's pairwise judgements (validation/adthqa-dev)\n")
    print("Vote-weighted agreement (the study's measure; 0.5 = chance), majority agreement in brackets, "
          "higher value = picked. Below 0.5: the lower value agrees.\n")
    print("| measure | " + " | ".join(questions) + " |")
    print("|---|" + "---|" * len(questions))
    ceiling = {q: agreement(found["overall"], ps).ceiling for q, ps in questions.items()}
    print("| *ceiling* | " + " | ".join(f"{ceiling[q]:.3f}" for q in questions) + " |")
    held = {}
    for name, values in found.items():
        cells = []
        for q, ps in questions.items():
            a = agreement(values, ps)
            if a.n == 0:
                cells.append("-")
                continue
            bold = name == QUESTIONS[q]
            if bold:
                held[q] = a.weighted
            cell = f"{a.weighted:.3f} ({a.majority:.2f})" + (f" n={a.n}" if a.missing else "")
            cells.append(f"**{cell}**" if bold else cell)
        if any(c != "-" for c in cells):
            print(f"| `{name}` | " + " | ".join(cells) + " |")
    print("\nTargets (bold above): " + ", ".join(
        f"{QUESTIONS[q]} on {q} {held.get(q, math.nan):.3f} (>= {t}: {'met' if held.get(q, 0) >= t else 'not met'})"
        for q, t in TARGETS.items()))
    return held


def part_a_fitted(rows: list[dict], pairs: list[dict]) -> None:
    """Leave-one-person-out for each weight chosen while looking at these pairs (``FITTED``): the
    weight is chosen again from its candidates on four people's pairs and scored on the fifth's."""
    print("\n### Chosen while looking at these pairs, left out one person at a time\n")
    questions = by_question(pairs)
    persons = sorted({p["person"] for p in pairs})
    print("| weight | question | candidates | shipped | agreement, shipped | leave-one-person-out |")
    print("|---|---|---|---|---|---|")
    for label, grade, question, candidates in FITTED:
        ps = questions[question]
        values = {c: _scores_with(rows, label, grade, c) for c in candidates}
        score = lambda c, subset: agreement(values[c], subset).weighted  # noqa: E731
        earned = 0.0
        for person in persons:
            train = [p for p in ps if p["person"] != person]
            test = [p for p in ps if p["person"] == person]
            earned += score(max(candidates, key=lambda c: score(c, train)), test) * len(test)
        shipped = DEFAULT_WEIGHTS[label].get(grade, 0.0)
        print(f"| `{label}.{grade}` | {question} | {', '.join(f'{c:g}' for c in candidates)} | {shipped:g} | "
              f"{score(shipped, ps):.3f} | {earned / len(ps):.3f} |")


def _scores_with(rows: list[dict], label: str, grade: str, weight: float) -> dict[str, float | None]:
    weights = {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
    weights[label][grade] = weight
    scorer = ReferenceScorer(weights)
    return {r["path"]: scorer.score(r).values[label] for r in rows if r.get("status") != "error"}


# Weights set while looking at the study's pairs: (label, grade, question, candidates, shipped first).
FITTED = [
    ("lip_sync", "lag", "lip_sync", (1.0, 0.0, 0.5, 2.0)),
    ("expression", "face_changes", "head_motion", (0.0, 1.0)),
    ("overall", "lip_sync", "visual_quality", (0.0, 0.5, 1.0)),
    ("overall", "expression", "visual_quality", (0.0, 0.5, 1.0)),
    ("overall", "steady", "visual_quality", (0.0, 1.0, 3.0, 10.0)),
]


# --------------------------------------------------------------------------------------------
# (b) real footage, (c) AUC, (d) generators


def part_b(rows: list[dict]) -> dict[str, int]:
    real = [r for r in rows if is_real(r["path"])]
    generated = [r for r in rows if not is_real(r["path"])]
    print(f"\n## (b) Verdicts on the {len(real)} real recordings\n")
    print("| recording | duration s | speech s | verdict | reasons |")
    print("|---|---|---|---|---|")
    for r in sorted(real, key=lambda r: r["path"]):
        reasons = "; ".join(r["reasons"]).replace("|", "\\|")
        print(f"| {r['path']} | {r.get('duration_s') or 0:.1f} | {r.get('speech_s') or 0:.1f} | {r['verdict']} | "
              f"{reasons} |")
    verdicts = Counter(r["verdict"] for r in real)
    gen_verdicts = Counter(r["verdict"] for r in generated)
    print(f"\nReal: {dict(verdicts)}; generated ({len(generated)}): {dict(gen_verdicts)}\n")
    fires = {kind: Counter(reason.split(":")[0] for r in group for reason in set(r["reasons"]))
             for kind, group in (("real", real), ("generated", generated))}
    print("| reason code | real recordings | generated clips |")
    print("|---|---|---|")
    for code in sorted(set(fires["real"]) | set(fires["generated"])):
        print(f"| `{code}` | {fires['real'][code]} / {len(real)} | {fires['generated'][code]} / {len(generated)} |")
    return dict(verdicts)


def auc(positives: list[float], negatives: list[float]) -> float:
    """P(a positive outscores a negative), ties counting half (the Mann-Whitney U / n1 n2)."""
    a, b = np.asarray(positives, float)[:, None], np.asarray(negatives, float)[None, :]
    return float(((a > b) + 0.5 * (a == b)).mean())


def part_c(rows: list[dict]) -> dict[str, float]:
    print("\n## (c) Real above generated: AUC per score over every clip\n")
    print("| score | AUC (real > generated) | real | generated | target |")
    print("|---|---|---|---|---|")
    out = {}
    for label in LABELS:
        real = [r[label] for r in rows if is_real(r["path"]) and r.get(label) is not None]
        gen = [r[label] for r in rows if not is_real(r["path"]) and r.get(label) is not None]
        if not real or not gen:
            print(f"| {label} | - | {len(real)} | {len(gen)} | |")
            continue
        out[label] = auc(real, gen)
        target = AUC_TARGETS.get(label)
        mark = "" if target is None else f">= {target}: {'met' if out[label] >= target else 'not met'}"
        print(f"| {label} | {out[label]:.3f} | {len(real)} | {len(gen)} | {mark} |")
    return out


def ntire_mos(folder: Path = NTIRE) -> dict[str, tuple[float, int]]:
    """Our generator name -> (mean opinion score over its NTIRE clips, clips)."""
    scores: dict[str, list[float]] = defaultdict(list)
    suffix = {alias: ours for ours, aliases in NTIRE_NAMES.items() for alias in aliases}
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                name = Path(row["Video"]).stem.rsplit("_", 1)[-1]
                if name in suffix:
                    scores[suffix[name]].append(float(row["Score"]))
    return {g: (float(np.mean(v)), len(v)) for g, v in scores.items()}


def spearman(x: list[float], y: list[float]) -> float:
    rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)  # noqa: E731
    if len(x) < 3:
        return math.nan
    return float(np.corrcoef(rank(np.asarray(x)), rank(np.asarray(y)))[0, 1])


def part_d(rows: list[dict]) -> None:
    mos = ntire_mos()
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if generator(r["path"]) in mos:
            groups[generator(r["path"])].append(r)
    print(f"\n## (d) Generators also in NTIRE 2025 (talking head track): {len(groups)}\n")
    print("| generator | NTIRE MOS (clips) | our clips | " + " | ".join(LABELS) + " |")
    print("|---|---|---|" + "---|" * len(LABELS))
    names = sorted(groups, key=lambda g: -mos[g][0])
    means = {}
    for g in names:
        means[g] = {label: np.mean([r[label] for r in groups[g] if r.get(label) is not None] or [math.nan])
                    for label in LABELS}
        print(f"| {g} | {mos[g][0]:.2f} ({mos[g][1]}) | {len(groups[g])} | "
              + " | ".join(f"{means[g][label]:.2f}" for label in LABELS) + " |")
    rhos = {label: spearman([mos[g][0] for g in names], [means[g][label] for g in names]) for label in LABELS}
    print(f"\nSpearman rho over {len(names)} generators (few: one clip's worth of evidence per generator, "
          "and EchoMimic's NTIRE version is unknown): " + ", ".join(f"{k} {v:+.2f}" for k, v in rhos.items()))


# --------------------------------------------------------------------------------------------
# (e) degradations


# The score meant to catch each degradation of tqscore/testing/degradations.py.
DEGRADATION_SCORE = {"face_blur": "overall", "mouth_blur": "overall", "compression": "overall",
                     "visual_noise": "overall", "freeze": "overall", "still_head": "expression",
                     "still_mouth": "lip_sync", "audio_noise": "audio_quality", "audio_shift": "lip_sync",
                     "foreign_audio": "cross_modal"}


def _degradation_bench():
    """benchmarks/degradations.py (benchmarks import each other by name)."""
    import degradations

    return degradations


def part_e(smoke: bool, scorer: ReferenceScorer) -> None:
    from tqscore.signals import load_signal_models

    bench = _degradation_bench()
    DEGRADATIONS = bench.DEGRADATIONS
    names = ["freeze", "audio_shift"] if smoke else list(DEGRADATIONS)
    clip = common.MEDIA / "real" / ("WDA_KatieHill_000.mp4" if smoke else "WDA_AlexandriaOcasioCortez_000.mp4")
    severities = {n: DEGRADATIONS[n].severities[-1:] if smoke else DEGRADATIONS[n].severities for n in names}
    models = load_signal_models(None)
    if smoke:
        models["dnsmos"] = None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tqscore-validity-deg-") as work:
        # The smoke's copies at 256x256, as benchmarks/degradations.py --smoke makes them.
        values, _ = bench.run([clip], severities, 4.0 if smoke else None, models, Path(work), skipped := [],
                              (256, 256) if smoke else None)
    columns = [c for c in SIGNAL_COLUMNS if c.dtype in ("float32", "int32")]
    present = {c.name for c in columns}
    print(f"\n## (e) Degradations, reduced run: {clip.name}, {'4-s 256x256 cut' if smoke else 'whole'}, "
          f"{time.perf_counter() - started:.0f} s\n")
    print("Signal targets of benchmarks/degradations.py (one clip here; the full run has eight):\n")
    print("\n".join(bench.target_lines(bench.step_shares(values, columns), names, present)))
    print("\nThe score meant to catch each degradation, clean then each severity:\n")
    print("| degradation | score | values | falls at every step |")
    print("|---|---|---|---|")
    for name in names:
        label = DEGRADATION_SCORE[name]
        series = [scorer.score({**row, "status": "ok", "has_audio": True}).values[label]
                  for row in values[clip.name].get(name, [])]
        falls = all(b is not None and a is not None and b < a for a, b in zip(series, series[1:]))
        print(f"| {name} | {label} | {' -> '.join('-' if v is None else f'{v:.2f}' for v in series)} | "
              f"{'yes' if falls and len(series) > 1 else 'NO'} |")
    for line in skipped:
        print(f"- left out: {line}")


# --------------------------------------------------------------------------------------------


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--table", type=Path, help="signals table of `tqscore batch` over ../shared [run one]")
    p.add_argument("--rules", type=Path, help="verdict rules table [tqscore/model/rules.yaml]")
    p.add_argument("--degradations", action="store_true", help="also (e): a reduced degradation run (minutes)")
    p.add_argument("--as-stored", action="store_true",
                   help="the scores, verdicts and reasons stored in the table (the scorer that wrote it), "
                        "not re-scored")
    args = p.parse_args()
    table = args.table or shared_table(smoke=args.smoke)
    scorer, rules = ReferenceScorer(), load_rules(args.rules)
    started = time.perf_counter()
    rows = read_rows(table)
    if args.as_stored:
        model = ", ".join(sorted({str(r.get("model_id")) for r in rows}))
        print(f"# Validity of the stored scores ({model}) on {table} ({len(rows)} rows)\n")
    else:
        rows = rescore(rows, scorer, rules)
        print(f"# Validity of {scorer.model_id} on {table} ({len(rows)} rows, re-scored in "
              f"{time.perf_counter() - started:.2f} s)\n")
    print(f"machine: {common.machine()}")
    pairs = read_pairs()
    part_a(rows, pairs)
    if not args.as_stored:
        part_a_fitted(rows, pairs)
    part_b(rows)
    part_c(rows)
    part_d(rows)
    if args.degradations or args.smoke:
        part_e(args.smoke, scorer)
    else:
        print("\n## (e) Degradations: not run (add --degradations for a reduced run, a few minutes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
