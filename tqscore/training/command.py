"""``tqscore train``, ``tqscore evaluate`` and ``tqscore ablate``: the training stage's commands.

- ``tqscore train --features FEATURE_DIR --labels labels.csv --config optimized --out BUNDLE``
  trains the fusion model and writes a model bundle.
- ``tqscore evaluate --model BUNDLE --features FEATURE_DIR --labels labels.csv --out REPORT``
  writes ``REPORT.json`` and ``REPORT.md``: the eleven metrics per dimension with 200x bootstrap
  95 % intervals and |error| statistics, over every labelled clip that has features.
- ``tqscore ablate --features FEATURE_DIR --labels labels.csv --out DIR``: ablations E0-E8
  (docs/method.md §12); writes ``DIR/ablation.json`` and ``DIR/ablation.md`` (mean test Pearson r per
  experiment and its change against E0) and each experiment's checkpoints under ``DIR/E<k>/``.

Exit codes: 0 done; 2 unusable input (labels, features, bundle, config), with a message naming
the file and the problem on stderr (mapped in :mod:`tqscore.cli`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqscore.errors import TrainingError

CHUNK_CLIPS = 256  # raw records are 2.5 MB each: hold this many in memory at a time


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the fusion model on extracted features and labels; writes a model bundle",
                              description=_section("train"))
    _add_data_arguments(p)
    _add_train_overrides(p)
    p.add_argument("--out", required=True, type=Path, metavar="BUNDLE_DIR",
                   help="model bundle folder (checkpoints go to BUNDLE_DIR/checkpoints)")
    p.add_argument("--resume", action="store_true", help="continue from BUNDLE_DIR/checkpoints/last (same config)")
    p.add_argument("--stop-after", type=int, metavar="EPOCHS",
                   help="end this run after EPOCHS epochs with a resumable checkpoint (for time-limited jobs)")
    p.set_defaults(func=run_train)

    p = subparsers.add_parser("evaluate", help="score labelled clips with a model bundle and report the eleven metrics",
                              description=_section("evaluate"))
    p.add_argument("--model", required=True, type=Path, metavar="BUNDLE", help="model bundle folder from `tqscore train`")
    _add_data_arguments(p)
    p.add_argument("--out", required=True, type=Path, metavar="REPORT",
                   help="report path without extension: REPORT.json and REPORT.md are written")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto [auto]")
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser("ablate", help="run the E0-E8 ablations and tabulate mean Pearson r against E0",
                              description=_section("ablate"))
    _add_data_arguments(p)
    _add_train_overrides(p)
    p.add_argument("--standard-config", default="standard", help="config of E8 (name or YAML path) [standard]")
    p.add_argument("--experiments", help="comma-separated subset, e.g. E0,E5,E6 [all]")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.set_defaults(func=run_ablate)


def _section(command: str) -> str:
    """The bullet of this module's docstring that describes ``command``, for its --help."""
    bullets = __doc__.split("\n- ")[1:]
    text = next(b for b in bullets if b.startswith(f"``tqscore {command} "))
    return " ".join(text.split("\n\n")[0].split())


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", required=True, metavar="FEATURE_DIR", help="folder written by `tqscore extract`")
    p.add_argument("--labels", required=True, metavar="FILE", help="CSV or Parquet with a 'video' column and label columns")
    p.add_argument("--label-map", metavar="SRC=DST,...",
                   help="rename label-table columns, e.g. Video=video,Score=overall (THQA-NTIRE)")
    p.add_argument("--scale", metavar="LOW,HIGH",
                   help="the label file's opinion scale, mapped linearly onto 1-5 (THQA-NTIRE: 0,5) [1,5]")


def _scale(args: argparse.Namespace) -> tuple[float, float] | None:
    from tqscore.calibration.labels import parse_scale  # the one reading of --scale, shared with calibrate

    return parse_scale(args.scale)


def _add_train_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="optimized", help="config name (standard, optimized) or YAML path [optimized]")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--batch-size", type=int, help="override train.batch_size")
    p.add_argument("--lr", type=float, help="override train.lr")
    p.add_argument("--weighting", choices=("fixed", "uncertainty", "gradnorm"), help="override train.weighting")
    p.add_argument("--seed", type=int, help="override train.seed (split, initial weights, batch order)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto [auto]")
    p.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute Transformer activations in the backward pass (less memory, more compute)")


def _model_overrides(args: argparse.Namespace) -> dict:
    return {"gradient_checkpointing": True} if args.gradient_checkpointing else {}


def _train_overrides(args: argparse.Namespace) -> dict:
    names = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "weighting": "weighting", "seed": "seed"}
    return {field: getattr(args, attr) for attr, field in names.items() if getattr(args, attr) is not None}


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"--device {name}: CUDA is not available on this machine")
    return name


def run_train(args: argparse.Namespace) -> int:
    from tqscore.training.config import load_configs
    from tqscore.training.data import load_feature_set
    from tqscore.training.pipeline import run_training

    model_cfg, train_cfg = load_configs(args.config)
    model_cfg, train_cfg = model_cfg.replace(**_model_overrides(args)), train_cfg.replace(**_train_overrides(args))
    device = resolve_device(args.device)
    data = load_feature_set(args.features, args.labels, args.label_map, _scale(args))
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


def report_paths(out: Path) -> tuple[Path, Path]:
    stem = out.with_suffix("") if out.suffix in (".json", ".md") else out
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".md")


def run_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from tqscore.model.bundle import load_bundle
    from tqscore.training.data import load_feature_set
    from tqscore.training.evaluate import evaluate_predictions, json_safe, report_markdown

    bundle = load_bundle(args.model, resolve_device(args.device))
    data = load_feature_set(args.features, args.labels, args.label_map, _scale(args))
    preds = []
    for idx in np.array_split(np.arange(len(data)), max(1, -(-len(data) // CHUNK_CLIPS))):
        part = data.load(idx)
        preds.append(bundle.predict(part.streams, part.frame_mask))
    preds = np.concatenate(preds)
    report = evaluate_predictions(data.labels, preds) | {"model": str(args.model), "features": str(args.features),
                                                         "labels": str(args.labels)}
    json_path, md_path = report_paths(args.out)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(json_safe(report), indent=2))
    md_path.write_text(report_markdown(report, f"Evaluation of {args.model.name}"))
    mean_r = report["mean_pearson"]
    print(f"evaluate: {len(data)} clips; mean Pearson r {'n/a' if mean_r is None else f'{mean_r:.3f}'}; "
          f"wrote {json_path} and {md_path}")
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    from tqscore.training.ablation import ablation_markdown, run_ablation
    from tqscore.training.data import load_feature_set

    experiments = [e.strip() for e in args.experiments.split(",")] if args.experiments else None
    device = resolve_device(args.device)
    data = load_feature_set(args.features, args.labels, args.label_map, _scale(args))
    table = run_ablation(data, args.out, args.config, args.standard_config, _train_overrides(args), experiments, device,
                         _model_overrides(args))
    print(ablation_markdown(table), end="")
    return 0
