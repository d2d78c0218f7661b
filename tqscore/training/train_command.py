"""``tqscore train --features FEATURE_DIR --labels labels.csv --config optimized --out BUNDLE``."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqscore.training.commands import (
    add_data_arguments,
    add_train_overrides,
    model_overrides,
    resolve_device,
    run_guarded,
    train_overrides,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the fusion model on extracted features and labels; writes a model bundle",
                              description=__doc__)
    add_data_arguments(p)
    add_train_overrides(p)
    p.add_argument("--out", required=True, type=Path, metavar="BUNDLE_DIR",
                   help="model bundle folder (checkpoints go to BUNDLE_DIR/checkpoints)")
    p.add_argument("--resume", action="store_true", help="continue from BUNDLE_DIR/checkpoints/last (same config)")
    p.add_argument("--stop-after", type=int, metavar="EPOCHS",
                   help="end this run after EPOCHS epochs with a resumable checkpoint (for time-limited jobs)")
    p.set_defaults(func=lambda args: run_guarded(_train, args))


def _train(args: argparse.Namespace) -> int:
    from tqscore.training.config import load_configs
    from tqscore.training.data import load_feature_set
    from tqscore.training.pipeline import run_training

    model_cfg, train_cfg = load_configs(args.config)
    model_cfg, train_cfg = model_cfg.replace(**model_overrides(args)), train_cfg.replace(**train_overrides(args))
    device = resolve_device(args.device)
    data = load_feature_set(args.features, args.labels, args.label_map)
    report = run_training(data, model_cfg, train_cfg, args.out, device, resume=args.resume, stop_after=args.stop_after)
    if report is None:
        print(f"train: stopped after {args.stop_after} epochs; checkpoint in {args.out / 'checkpoints'}; "
              "run again with --resume to continue")
        return 0
    test = report["test"]
    print(f"train: bundle {args.out}; best epoch {report['best_epoch']}; test mean Pearson r "
          f"{test['mean_pearson'] if test['mean_pearson'] is None else round(test['mean_pearson'], 3)} "
          f"on {report['split']['test']} clips")
    for label, d in test["dimensions"].items():
        r = d["metrics"]["pearson"]
        print(f"  {label:14s} n={d['n']:4d}  r={'NaN' if r['value'] is None else format(r['value'], '.3f')}"
              + (f"  ({r['reason']})" if r.get("reason") else ""))
    return 0
