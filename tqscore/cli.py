"""The ``tqscore`` console script.

Each command lives beside the code it drives and exposes ``add_parser(subparsers)``, which
registers its arguments and sets ``func``; this module only lists the commands, so importing
it stays cheap and a command's heavy dependencies load when that command runs.

Exit codes are decided here, once for every command (:func:`exit_code`): a
:class:`~tqscore.errors.TqscoreError` (bad input, or a machine that cannot do what was asked) or
an ``OSError`` (a file the command needs that is missing or unreadable) is one line on stderr
and exit 2; a stop by Ctrl-C is exit 130 and by SIGTERM 143 (128 + the signal's number, the
shell's convention); anything else is a bug and keeps its traceback. A command returns its own
code for outcomes that are not errors (batch's 1: some files failed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from tqscore import __version__
from tqscore.errors import TqscoreError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SOME_FAILED = 1  # a command's own outcome: it finished, but some of its inputs failed (batch)
EXIT_ERROR = 2
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130, 143
FAILURES = (TqscoreError, OSError, KeyboardInterrupt)  # what ends a command with one line, not a traceback

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
    except FAILURES as exc:
        return exit_code(args.command, exc)


def exit_code(command: str, exc: BaseException, after_stop: str = "") -> int:
    """Print the one line a user reads for ``exc`` (one of ``FAILURES``); return the exit code.

    A ``KeyboardInterrupt`` whose argument is ``"SIGTERM"`` (a command that handles SIGTERM raises
    it so) is a stop by SIGTERM, any other one by SIGINT; ``after_stop`` is added to that line.
    """
    if isinstance(exc, KeyboardInterrupt):
        signum = signal.SIGTERM if exc.args[:1] == (signal.SIGTERM.name,) else signal.SIGINT
        print(f"tqscore {command}: stopped by {signum.name}{after_stop}", file=sys.stderr)
        return 128 + signum
    log.debug("%s failed", command, exc_info=exc)
    if isinstance(exc, OSError) and not isinstance(exc, TqscoreError):
        text = f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc.strerror or exc)
    else:
        text = str(exc)
    print(f"tqscore {command}: error: {' '.join(text.split())}", file=sys.stderr)  # one line, whatever it holds
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
