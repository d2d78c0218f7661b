"""``tqscore evaluate --model BUNDLE --features FEATURE_DIR --labels labels.csv --out report``.

Writes ``report.json`` and ``report.md``: the eleven metrics per dimension with 200x bootstrap
95 % intervals and |error| statistics, over every labelled clip that has features.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tqscore.training.commands import add_data_arguments, resolve_device, run_guarded

CHUNK_CLIPS = 256  # raw records are 2.5 MB each: hold this many in memory at a time


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score labelled clips with a model bundle and report the eleven metrics",
                              description=__doc__)
    p.add_argument("--model", required=True, type=Path, metavar="BUNDLE", help="model bundle folder from `tqscore train`")
    add_data_arguments(p)
    p.add_argument("--out", required=True, type=Path, metavar="REPORT",
                   help="report path without extension: REPORT.json and REPORT.md are written")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto [auto]")
    p.set_defaults(func=lambda args: run_guarded(_evaluate, args))


def report_paths(out: Path) -> tuple[Path, Path]:
    stem = out.with_suffix("") if out.suffix in (".json", ".md") else out
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".md")


def _evaluate(args: argparse.Namespace) -> int:
    from tqscore.model.bundle import load_bundle
    from tqscore.training.data import load_feature_set
    from tqscore.training.evaluate import evaluate_predictions, json_safe, report_markdown

    bundle = load_bundle(args.model, resolve_device(args.device))
    data = load_feature_set(args.features, args.labels, args.label_map)
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
