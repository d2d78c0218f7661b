"""``tqscore extract VIDEO_DIR --out FEATURE_DIR``: one feature record per video, resumable.

The command around :func:`tqscore.features.extract.extract_folder` (see that module for what a
run writes and skips). Exit codes: 0 done (a bad video is an ``error`` line in the manifest, not
a failed run); 2 unusable input folder, backbone or option, with a message naming it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from tqscore.features.backbones import DEFAULT_HUBERT, DEFAULT_RESNET
from tqscore.media.discovery import DEFAULT_EXTENSIONS

if TYPE_CHECKING:
    from tqscore.features.extract import SignalsHook


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="turn a folder of videos into feature records (one safetensors file per video)",
        description="Turn every video under VIDEO_DIR into a feature record (FEATURE_DIR/records/<relative path>"
        ".safetensors) and log each file in FEATURE_DIR/manifest.jsonl; a second run skips finished files.",
    )
    parser.add_argument("video_dir", metavar="VIDEO_DIR", type=Path, help="folder searched recursively for videos")
    parser.add_argument("--out", required=True, type=Path, metavar="FEATURE_DIR", help="where records and manifest.jsonl go")
    parser.add_argument("--resnet", default=DEFAULT_RESNET, metavar="PATH_OR_ID",
                        help="ResNet101 hub id or local folder (default %(default)s)")
    parser.add_argument("--hubert", default=DEFAULT_HUBERT, metavar="PATH_OR_ID",
                        help="HuBERT-Base hub id or local folder (default %(default)s)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the backbones run")
    parser.add_argument("--extensions", nargs="+", default=list(DEFAULT_EXTENSIONS), metavar="EXT",
                        help="video file extensions, case-insensitive (default: %(default)s)")
    parser.add_argument("--syncnet", type=Path, default=os.environ.get("TQSCORE_SYNCNET") or None,
                        help="SyncNet weights converted by `tqscore export-syncnet` (default: $TQSCORE_SYNCNET); "
                        "without them the record's syncnet_* signals are null")
    parser.add_argument("--no-signals", action="store_true",
                        help="skip the training-free signals (sync, DNSMOS, face facts) in the records")
    parser.add_argument("--overwrite", action="store_true", help="redo every file, ignoring the manifest")
    parser.add_argument("--retry-errors", action="store_true", help="re-try files whose last attempt failed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _absolute_if_folder(name_or_path: str) -> str:
    """Local folders are stored absolute, so a run from another directory counts as the same backbone."""
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.is_dir() else name_or_path


def signals_hook(syncnet_weights: Path | None) -> SignalsHook:
    """The training-free signals of ``tqscore.signals``, models loaded once for the whole run."""
    from tqscore.signals import compute_signals, load_signal_models

    models = load_signal_models(syncnet_weights)
    return lambda frontend: compute_signals(frontend, **models)


def run(args: argparse.Namespace) -> int:
    from tqscore.features.extract import ExtractOptions, extract_folder

    options = ExtractOptions(
        resnet=_absolute_if_folder(args.resnet), hubert=_absolute_if_folder(args.hubert), device=args.device, extensions=tuple(args.extensions),
        overwrite=args.overwrite, retry_errors=args.retry_errors, progress=not args.no_progress,
    )
    summary = extract_folder(args.video_dir, args.out, options, None if args.no_signals else signals_hook(args.syncnet))
    print(summary.line(args.out))
    return 0
