"""``tqscore report SCORES.parquet --out report.html`` (the page a person opens after a run) and
``tqscore compare SCORES.parquet --group-by folder`` (the report's paired comparison and ranking
as text and CSV).

Bad input (a file that is not a ``tqscore batch`` table, an empty one, a ``--group-by`` that is
neither ``folder`` nor a regex with one capture group) raises ``ReportError``, which the console
script turns into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_TOP = 12
# Fail and review clips shown with pictures on the first screen: the screen shows about ten, the
# rest a scroll away; the table below holds every one of them, filtered by verdict.
DEFAULT_HELD = 24
GROUP_BY_HELP = ("`folder` (the first folder under the input the batch scanned: paths in the table are relative to "
                 "it) or a regular expression with one capture group, searched in each path, whose capture is the group")
MATCH_HELP = ("a regular expression with one capture group, searched in each file name, whose capture is the clip's "
              "input (default: the whole file name); clips of different groups with the same input are compared")


def add_parser(subparsers) -> None:
    _add_report(subparsers)
    _add_compare(subparsers)


def _add_report(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="one self-contained HTML page for a scored table",
        description="Write one self-contained HTML page (no network needed) for a `tqscore batch` table: first "
        "the fail and review clips to hold back and why, then (with --group-by) the groups ranked with intervals "
        "and a paired comparison, the worst clips per dimension with frames, mouth crops and the sync curve, a "
        "histogram per score and signal, the run, and a sortable, filterable table of every row.",
    )
    p.add_argument("scores", type=Path, metavar="SCORES.parquet", help="table written by `tqscore batch`")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument("--videos", type=Path, default=None,
                   help="the DIR the batch scanned: shown clips are decoded from it again for their frames, and "
                   "paths link to the files (relative to the page); without it neither")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help="worst clips shown per dimension (default: %(default)s)")
    p.add_argument("--held", type=int, default=DEFAULT_HELD,
                   help="fail and review clips shown with pictures on the first screen, most severe first "
                   "(default: %(default)s; the table holds all of them)")
    p.add_argument("--group-by", default=None, metavar="folder|REGEX",
                   help=GROUP_BY_HELP + "; adds the groups and paired-comparison sections and writes them as CSV "
                   "beside the HTML (OUT-groups.csv, OUT-pairs.csv, OUT-ranking.csv)")
    p.add_argument("--match", default=None, metavar="REGEX", help=MATCH_HELP + " (needs --group-by)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes decoding the shown clips again (default: one per core: %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run)


def _add_compare(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="paired comparison and ranking of groups (generators, settings) on shared inputs",
        description="For every pair of groups and every score: the share of the inputs both groups have on "
        "which each wins, with a bootstrap 95 % interval, ties and missing scores counted; then the groups "
        "ranked by win share. The same numbers as the paired section of `tqscore report --group-by`.",
    )
    p.add_argument("scores", type=Path, metavar="SCORES.parquet", help="table written by `tqscore batch`")
    p.add_argument("--group-by", required=True, metavar="folder|REGEX", help=GROUP_BY_HELP)
    p.add_argument("--match", default=None, metavar="REGEX", help=MATCH_HELP)
    p.add_argument("--out", type=Path, default=None, metavar="FILE.csv",
                   help="also write the paired table to FILE.csv and the ranking to FILE-ranking.csv")
    p.set_defaults(func=run_compare)


def run(args: argparse.Namespace) -> int:
    from tqscore.errors import ReportError
    from tqscore.report.build import ReportConfig

    if args.top < 0:
        raise ReportError(f"--top must be >= 0, got {args.top}")
    if args.held < 0:
        raise ReportError(f"--held must be >= 0, got {args.held}")
    if args.videos is not None and not args.videos.is_dir():
        raise ReportError("--videos is not a directory", args.videos)
    if args.workers < 1:
        raise ReportError(f"--workers must be >= 1, got {args.workers}")
    check_grouping(args.group_by, args.match)
    write_page(ReportConfig(args.scores, args.out, args.videos, args.top, args.progress, args.workers,
                            held=args.held, group_by=args.group_by, match=args.match), "report")
    return 0


def check_grouping(group_by: str | None, match: str | None) -> None:
    """Raise the ``ReportError`` of a bad ``--group-by`` / ``--match`` pair, before any work is done
    (``tqscore batch --report`` checks them before its run, not after it)."""
    from tqscore.errors import ReportError
    from tqscore.report.groups import compile_one_group, parse_grouping

    if match is not None and group_by is None:
        raise ReportError("--match needs --group-by (inputs are paired across groups)")
    if group_by is not None:
        parse_grouping(group_by)
    if match is not None:
        compile_one_group(match, "--match")


def write_page(cfg, command: str) -> None:
    """Write the page of ``cfg`` (a ``ReportConfig``) and its CSV tables, and print what was written."""
    from tqscore.report.build import write_report

    stats = write_report(cfg)
    print(f"tqscore {command}: wrote {cfg.out} ({stats.bytes / 1e6:.1f} MB, {stats.rows:,} rows, "
          f"{stats.clips_decoded} clips decoded, {stats.seconds:.1f} s)")
    for path in stats.csv:
        print(f"tqscore {command}: wrote {path}")


def run_compare(args: argparse.Namespace) -> int:
    from tqscore.io import write_text_atomic
    from tqscore.report.compare_text import comparison_text
    from tqscore.report.data import load_scores
    from tqscore.report.groups import assign_groups, compile_one_group, parse_grouping
    from tqscore.report.paired import compare, pair_frame, ranking_frame

    grouping = parse_grouping(args.group_by)
    match = compile_one_group(args.match, "--match") if args.match else None
    frame = load_scores(args.scores)
    cmp = compare(frame, assign_groups(frame.get_column("path"), grouping), match)
    print(comparison_text(cmp))
    if args.out is not None:
        ranking = args.out.with_name(f"{args.out.stem}-ranking.csv")
        write_text_atomic(args.out, pair_frame(cmp).write_csv())
        write_text_atomic(ranking, ranking_frame(cmp).write_csv())
        print(f"tqscore compare: wrote {args.out} and {ranking}")
    return 0
