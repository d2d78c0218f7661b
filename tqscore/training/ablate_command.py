"""``tqscore ablate --features FEATURE_DIR --labels labels.csv --out DIR``: ablations E0-E8 (SPEC item 12).

Writes ``DIR/ablation.json`` and ``DIR/ablation.md`` (mean test Pearson r per experiment and
its change against E0) and each experiment's checkpoints under ``DIR/E<k>/``.
"""

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
    p = subparsers.add_parser("ablate", help="run the E0-E8 ablations and tabulate mean Pearson r against E0",
                              description=__doc__)
    add_data_arguments(p)
    add_train_overrides(p)
    p.add_argument("--standard-config", default="standard", help="config of E8 (name or YAML path) [standard]")
    p.add_argument("--experiments", help="comma-separated subset, e.g. E0,E5,E6 [all]")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.set_defaults(func=lambda args: run_guarded(_ablate, args))


def _ablate(args: argparse.Namespace) -> int:
    from tqscore.training.ablation import ablation_markdown, run_ablation
    from tqscore.training.data import load_feature_set

    experiments = [e.strip() for e in args.experiments.split(",")] if args.experiments else None
    device = resolve_device(args.device)
    data = load_feature_set(args.features, args.labels, args.label_map)
    table = run_ablation(data, args.out, args.config, args.standard_config, train_overrides(args), experiments, device,
                         model_overrides(args))
    print(ablation_markdown(table), end="")
    return 0
