"""Shared command-line pieces of ``tqscore train`` / ``evaluate`` / ``ablate``.

Exit codes: 0 done; 2 unusable input (labels, features, bundle, config), with a message naming
the file and the problem on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tqscore.layout import LayoutVersionError

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", required=True, metavar="FEATURE_DIR", help="folder written by `tqscore extract`")
    p.add_argument("--labels", required=True, metavar="FILE", help="CSV or Parquet with a 'video' column and label columns")
    p.add_argument("--label-map", metavar="SRC=DST,...",
                   help="rename label-table columns, e.g. Video=video,Score=overall (THQA-NTIRE)")


def add_train_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="optimized", help="config name (standard, optimized) or YAML path [optimized]")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--batch-size", type=int, help="override train.batch_size")
    p.add_argument("--lr", type=float, help="override train.lr")
    p.add_argument("--weighting", choices=("fixed", "uncertainty", "gradnorm"), help="override train.weighting")
    p.add_argument("--seed", type=int, help="override train.seed (split, initial weights, batch order)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto [auto]")
    p.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute Transformer activations in the backward pass (less memory, more compute)")


def model_overrides(args: argparse.Namespace) -> dict:
    return {"gradient_checkpointing": True} if args.gradient_checkpointing else {}


def train_overrides(args: argparse.Namespace) -> dict:
    names = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "weighting": "weighting", "seed": "seed"}
    return {field: getattr(args, attr) for attr, field in names.items() if getattr(args, attr) is not None}


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return name


def run_guarded(fn, args: argparse.Namespace) -> int:
    """Run a command body; bad input becomes one clear line on stderr and exit code 2."""
    from tqscore.features.record import RecordError
    from tqscore.model.bundle import BundleError
    from tqscore.training.labels import LabelError

    try:
        return fn(args)
    except (LabelError, RecordError, BundleError, LayoutVersionError, FileNotFoundError, FileExistsError, ValueError) as exc:
        log.debug("command failed", exc_info=True)
        print(f"tqscore {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
