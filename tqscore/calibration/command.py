"""``tqscore agree`` and ``tqscore calibrate``: a scores table against human labels.

- ``tqscore agree SCORES.parquet --labels FILE --out REPORT`` measures agreement per dimension
  (SRCC, PLCC after the four-parameter logistic, KRCC, RMSE for opinion scores; vote-weighted
  two-alternative, majority agreement and ceiling for pairs), with 200x bootstrap 95 % intervals;
  writes REPORT.json and REPORT.md and prints the table.
- ``tqscore calibrate SCORES.parquet --labels FILE --out scorer.yaml`` fits the reference
  scorer's evidence weights and a monotone mapping to the labels, reports cross-validated
  agreement beside the default scorer's, and writes a calibration file for
  ``tqscore batch --scorer scorer.yaml``.

Labels are a CSV of opinion scores (a file column and score columns) or of pairwise judgements
(``dimension,video_a,video_b,votes_a,votes_b`` or ``winner``); docs/calibration.md has the
formats and a worked example. Exit codes: 0 done; 2 unusable input, one line naming the file
(and line) on stderr.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _section(command: str) -> str:
    bullets = __doc__.split("\n- ")[1:]
    text = next(b for b in bullets if b.startswith(f"``tqscore {command}"))
    return " ".join(text.split("\n\n")[0].split())


def _label_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scores", type=Path, metavar="SCORES.parquet", help="a table written by `tqscore batch`")
    p.add_argument("--labels", required=True, type=Path, metavar="FILE",
                   help="CSV of opinion scores or pairwise judgements; video paths relative to its folder, "
                        "or file names")
    p.add_argument("--label-map", metavar="SRC=DST,...",
                   help="rename columns (Video=path,Score=overall) or map a pair file's dimension names onto ours "
                        "(head_motion=expression); known formats (THQA-NTIRE, ADTH-QA pairs) need none")
    p.add_argument("--scale", metavar="LOW,HIGH",
                   help="the scale of opinion scores (default 1,5; THQA-NTIRE files 0,5); a value outside it is "
                        "an error")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("agree", help="agreement of a scores table with human labels, with bootstrap intervals",
                              description=_section("agree"))
    _label_arguments(p)
    p.add_argument("--out", required=True, type=Path, metavar="REPORT",
                   help="report path without extension: REPORT.json and REPORT.md are written")
    p.set_defaults(func=run_agree)

    from tqscore.calibration.labels import GROUP_BY

    p = subparsers.add_parser("calibrate", help="fit the reference scorer's evidence weights to human labels",
                              description=_section("calibrate"))
    _label_arguments(p)
    p.add_argument("--group-by", choices=GROUP_BY, default="auto",
                   help="unit of the cross-validation split: auto = pairs by the file name both sides share (the "
                        "person in ADTH-QA), opinion scores by folder when they span 3 or more, else by video; "
                        "generator = the last _-separated part of the file name (THQA-NTIRE) [auto]")
    p.add_argument("--out", required=True, type=Path, metavar="scorer.yaml", help="calibration file to write")
    p.set_defaults(func=run_calibrate)


def _labels(args):
    from tqscore.calibration.labels import load_labels, parse_scale

    return load_labels(args.labels, args.label_map, parse_scale(args.scale))


def run_agree(args) -> int:
    from tqscore.calibration.agree import agree, to_markdown, write_report

    report = agree(args.scores, _labels(args))
    json_path, md_path = write_report(report, args.out)
    print(to_markdown(report), end="")
    log.info("wrote %s and %s", json_path, md_path)
    return 0


def run_calibrate(args) -> int:
    from tqscore.calibration.calibrate import calibrate, summary
    from tqscore.calibration.labels import CalibrationError
    from tqscore.calibration.scorer import save_calibration

    calibration = calibrate(args.scores, _labels(args), args.group_by)
    print(summary(calibration), end="")
    if not calibration.calibrated():
        reasons = "; ".join(f"{k}: {d.why}" for k, d in calibration.dimensions.items())
        raise CalibrationError(f"no dimension beats the default out of sample, nothing written: {reasons}", args.labels)
    path = save_calibration(calibration, args.out)
    log.info("wrote %s (model_id %s): score with `tqscore batch DIR --out FILE --scorer %s`", path,
             calibration.model_id, path)
    return 0
