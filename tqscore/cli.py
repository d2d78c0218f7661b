"""The ``tqscore`` console script.

Each command lives beside the code it drives and exposes ``add_parser(subparsers)``, which
registers its arguments and sets ``func``; this module only lists the commands, so importing
it stays cheap and a command's heavy dependencies load when that command runs.

Exit codes are decided here, once for every command: a :class:`~tqscore.errors.TqscoreError`
(bad input, or a machine that cannot do what was asked) is one line on stderr and exit 2;
Ctrl-C is exit 130 (128 + SIGINT, the shell's convention); anything else is a bug and keeps its
traceback. A command returns its own code for outcomes that are not errors (batch's 1: some
files failed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tqscore import __version__
from tqscore.errors import TqscoreError

log = logging.getLogger(__name__)

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT

# Order here is the order of `tqscore --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "tqscore.runtime.command",
    "tqscore.report.command",
    "tqscore.features.command",
    "tqscore.training.command",
    "tqscore.export.command",
    "tqscore.signals.command",
    "tqscore.calibration.command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tqscore",
        description="Score AI-generated talking-face videos on lip sync, expression, audio quality, "
        "cross-modal consistency and overall quality.",
    )
    parser.add_argument("--version", action="version", version=f"tqscore {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug log output, from every process of a run, FFmpeg's decoder messages included "
                        "(the default shows INFO and above)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except TqscoreError as exc:
        log.debug("%s failed", args.command, exc_info=True)
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        print(f"tqscore {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"tqscore {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
