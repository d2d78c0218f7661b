"""``tqscore report SCORES.parquet --out report.html``: the page a person opens after a run.

Bad input (a file that is not a ``tqscore batch`` table, an empty one) raises ``ReportError``,
which the console script turns into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(subparsers) -> None:
    from tqscore.report.build import DEFAULT_TOP

    p = subparsers.add_parser(
        "report",
        help="one self-contained HTML page for a scored table",
        description="Write one self-contained HTML page (no network needed) for a `tqscore batch` table: "
        "the run, a histogram per score and signal with the real-footage band, the worst clips per "
        "dimension with frames, mouth crops and the sync curve, and a sortable, filterable table of every row.",
    )
    p.add_argument("scores", type=Path, metavar="SCORES.parquet", help="table written by `tqscore batch`")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument("--videos", type=Path, default=None,
                   help="the DIR the batch scanned: worst clips are decoded from it again for their frames, and "
                   "paths link to the files (relative to the page); without it neither")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help="worst clips shown per dimension (default: %(default)s)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes decoding the worst clips again (default: one per core: %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqscore.errors import ReportError
    from tqscore.report.build import ReportConfig, write_report

    if args.top < 0:
        raise ReportError(f"--top must be >= 0, got {args.top}")
    if args.videos is not None and not args.videos.is_dir():
        raise ReportError("--videos is not a directory", args.videos)
    if args.workers < 1:
        raise ReportError(f"--workers must be >= 1, got {args.workers}")
    stats = write_report(ReportConfig(args.scores, args.out, args.videos, args.top, args.progress, args.workers))
    print(f"tqscore report: wrote {args.out} ({stats.bytes / 1e6:.1f} MB, {stats.rows:,} rows, "
          f"{stats.clips_decoded} clips decoded, {stats.seconds:.1f} s)")
    return 0
