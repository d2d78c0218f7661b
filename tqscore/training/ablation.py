"""Ablations E0-E8 of docs/method.md §12, each changing one thing from the full model.

All experiments share the split and (except E6) the fitted preprocessing, so the differences
come from the one change. The score is the mean test Pearson r over the dimensions where it is
defined (a constant dimension has none).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tqscore.errors import TrainingError
from tqscore.layout import STREAM_NAMES
from tqscore.model.config import ModelConfig
from tqscore.training.config import TrainConfig, load_configs
from tqscore.training.data import FeatureSet, RecordSet
from tqscore.training.pipeline import fit_on_train, split_features, train_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Experiment:
    key: str
    description: str


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("E0", "full model"),
    *(Experiment(f"E{i + 1}", f"without {m} (embedding replaced by zeros)") for i, m in enumerate(STREAM_NAMES)),
    Experiment("E5", "concatenation + 2-layer MLP instead of the Transformer"),
    Experiment("E6", "no PCA (standardised 4237-d input)"),
    Experiment("E7", "fixed equal task weights instead of uncertainty weighting"),
    Experiment("E8", "standard config"),
)


def experiment_configs(
    key: str, base: tuple[ModelConfig, TrainConfig], standard: tuple[ModelConfig, TrainConfig], train_overrides: dict
) -> tuple[ModelConfig, TrainConfig]:
    model_cfg, train_cfg = standard if key == "E8" else base
    train_cfg = train_cfg.replace(**train_overrides)
    index = int(key[1:])
    if 1 <= index <= 4:
        model_cfg = model_cfg.replace(drop_modalities=(STREAM_NAMES[index - 1],))
    elif key == "E5":
        model_cfg = model_cfg.replace(fusion="concat_mlp")
    elif key == "E6":
        train_cfg = train_cfg.replace(pca_components={m: None for m in STREAM_NAMES})
    elif key == "E7":
        train_cfg = train_cfg.replace(weighting="fixed", fixed_weights={k: 1.0 for k in train_cfg.fixed_weights})
    return model_cfg, train_cfg


def run_ablation(
    data: FeatureSet | RecordSet, out: str | Path, config: str | Path = "optimized", standard: str | Path = "standard",
    train_overrides: dict | None = None, experiments: list[str] | None = None, device: str = "cpu",
    model_overrides: dict | None = None,
) -> dict:
    """Train each experiment; write ``out/ablation.json`` and ``out/ablation.md``; return the table.

    ``model_overrides`` apply to the E0 and E8 model configs alike (e.g. ``gradient_checkpointing``).
    """
    out = Path(out)
    overrides = train_overrides or {}
    base, std = ((m.replace(**(model_overrides or {})), t) for m, t in (load_configs(config), load_configs(standard)))
    chosen = [e for e in EXPERIMENTS if experiments is None or e.key in experiments]
    unknown = set(experiments or ()) - {e.key for e in EXPERIMENTS}
    if unknown:
        raise TrainingError(f"unknown experiments {sorted(unknown)}; choose from E0-E8")
    splits = split_features(data, base[1].replace(**overrides).seed)
    preprocessed: dict[str, FeatureSet] = {}
    rows = []
    for exp in chosen:
        model_cfg, train_cfg = experiment_configs(exp.key, base, std, overrides)
        prep_key = json.dumps(train_cfg.pca_components, sort_keys=True)
        if prep_key not in preprocessed:
            preprocessed[prep_key] = data.preprocessed(fit_on_train(data, splits, train_cfg))
        log.info("ablation %s: %s", exp.key, exp.description)
        _, result, report = train_model(model_cfg, train_cfg, preprocessed[prep_key], splits, out / exp.key, device,
                                        n_bootstrap=0)  # the table needs point values only
        rows.append({"experiment": exp.key, "description": exp.description, "mean_pearson": report["mean_pearson"],
                     "pearson": {k: d["metrics"]["pearson"]["value"] for k, d in report["dimensions"].items()},
                     "best_epoch": result.best_epoch})
    e0 = next((r["mean_pearson"] for r in rows if r["experiment"] == "E0"), None)
    for r in rows:
        ok = e0 is not None and r["mean_pearson"] is not None
        r["change"] = r["mean_pearson"] - e0 if ok else None
        r["change_percent"] = 100.0 * r["change"] / abs(e0) if ok and e0 else None
    table = {"config": str(config), "standard": str(standard), "train_overrides": overrides,
             "split": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)}, "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(table, indent=2))
    (out / "ablation.md").write_text(ablation_markdown(table))
    return table


def ablation_markdown(table: dict) -> str:
    def fmt(x, spec):
        return "n/a" if x is None else format(x, spec)

    lines = ["| exp | change | mean Pearson r | vs E0 | vs E0 (%) |", "|---|---|---|---|---|"]
    for r in table["rows"]:
        lines.append(f"| {r['experiment']} | {r['description']} | {fmt(r['mean_pearson'], '.3f')} | "
                     f"{fmt(r['change'], '+.3f')} | {fmt(r['change_percent'], '+.1f')} |")
    split = table["split"]
    head = (f"Ablations of config `{table['config']}` (E8: `{table['standard']}`); test split of "
            f"{split['test']} clips (train {split['train']}, val {split['val']}); mean over dimensions with a defined r.")
    return head + "\n\n" + "\n".join(lines) + "\n"
