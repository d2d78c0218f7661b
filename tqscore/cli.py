"""The ``tqscore`` console script.

Each command lives beside the code it drives and exposes ``add_parser(subparsers)``, which
registers its arguments and sets ``func``; this module only lists the commands, so importing
it stays cheap and a command's heavy dependencies load when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tqscore import __version__

# Order here is the order of `tqscore --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "tqscore.runtime.command",
    "tqscore.features.extract",
    "tqscore.training.train_command",
    "tqscore.training.evaluate_command",
    "tqscore.training.ablate_command",
    "tqscore.export.command",
    "tqscore.signals.export_syncnet",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tqscore",
        description="Score AI-generated talking-face videos on lip sync, expression, audio quality, "
        "cross-modal consistency and overall quality.",
    )
    parser.add_argument("--version", action="version", version=f"tqscore {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
