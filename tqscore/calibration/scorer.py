"""The calibration file (YAML a person can read) and the scorer that applies it.

A calibration holds, per dimension, the reference scorer's evidence weights fitted to someone's
labels and the monotone mapping onto the 1-5 scale, beside the default weights, the data they
came from and the cross-validated agreement that justified them. Dimensions the labels did not
cover, or could not improve out of sample, keep the defaults and say why. Its ``model_id`` is
``calibrated-`` and the first 12 hex digits of the SHA-256 of what scores a clip (the base
scorer, each dimension's status, weights and mapping), so two files that score alike share an
id and an edited weight is a new id. The file is read with the project's one YAML reader
(:func:`tqscore.config.load_yaml`, pydantic: a misspelt key or a negative weight is an error
naming the field).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import field_validator, model_validator

from tqscore.calibration.agree import apply_mapping
from tqscore.calibration.evidence import grade_names
from tqscore.calibration.labels import CalibrationError
from tqscore.config import ConfigModel, load_yaml
from tqscore.layout import LABELS
from tqscore.model.reference import ReferenceScorer, ReferenceScores

log = logging.getLogger(__name__)

FORMAT = "tqscore-calibration-1"
ID_PREFIX = "calibrated-"
HEADER = ("# A tqscore calibration: the reference scorer's evidence weights fitted to human labels.\n"
          "# Score with it: tqscore batch DIR --out scores.parquet --scorer THIS_FILE (docs/calibration.md).\n")


class Mapping(ConfigModel):
    kind: Literal["identity", "logistic4", "linear"]
    params: dict[str, float] | None = None
    note: str = ""


class Dimension(ConfigModel):
    status: Literal["calibrated", "default"]
    why: str
    labels: int
    unscored: int = 0
    weights: dict[str, float] | None = None
    default_weights: dict[str, float] = {}
    ridge: float | None = None
    mapping: Mapping | None = None
    cross_validation: dict[str, Any] = {}

    @field_validator("weights")
    @classmethod
    def _non_negative(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        bad = {k: v for k, v in (value or {}).items() if not (math.isfinite(v) and v >= 0)}
        if bad:
            raise ValueError(f"weights must be finite and non-negative: {bad}")
        return value


class Calibration(ConfigModel):
    format: Literal["tqscore-calibration-1"]
    model_id: str
    base_model: str
    data: dict[str, Any]
    dimensions: dict[str, Dimension]

    @model_validator(mode="after")
    def _known_grades(self):
        for label, dim in self.dimensions.items():
            if label not in LABELS:
                raise ValueError(f"dimensions: {label!r} is not one of {list(LABELS)}")
            if dim.status == "calibrated" and set(dim.weights or {}) != set(grade_names(label)):
                raise ValueError(f"dimensions.{label}.weights: needs exactly the grades {grade_names(label)} "
                                 f"(has {sorted(dim.weights or {})})")
            if dim.status == "calibrated" and not any(v > 0 for v in dim.weights.values()):
                raise ValueError(f"dimensions.{label}.weights: at least one weight must be above 0")
        return self

    def digest_id(self) -> str:
        scoring = {"base_model": self.base_model,
                   "dimensions": {k: {"status": d.status, "weights": d.weights,
                                      "mapping": d.mapping.model_dump() if d.mapping else None}
                                  for k, d in sorted(self.dimensions.items())}}
        text = json.dumps(scoring, sort_keys=True, separators=(",", ":"))
        return ID_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:12]

    def calibrated(self) -> dict[str, Dimension]:
        return {k: d for k, d in self.dimensions.items() if d.status == "calibrated"}


def save_calibration(calibration: Calibration, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(calibration.model_dump(mode="json", exclude_none=True), sort_keys=False,
                          allow_unicode=True, width=100)
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def load_calibration(path: str | Path) -> Calibration:
    """Read and check a calibration; an id that no longer matches the weights (edited by hand) is replaced."""
    calibration = load_yaml(path, Calibration)
    digest = calibration.digest_id()
    if calibration.model_id != digest:
        log.warning("%s: model_id %s does not match its weights (edited?); scoring as %s", path,
                    calibration.model_id, digest)
        calibration = calibration.model_copy(update={"model_id": digest})
    return calibration


class CalibratedScorer:
    """The reference scorer with a calibration's weights, its mappings applied: a drop-in for
    :class:`tqscore.model.reference.ReferenceScorer` (``score(row)``, ``model_id``)."""

    def __init__(self, calibration: Calibration, source: str | Path | None = None):
        self.calibration = calibration
        self.model_id = calibration.model_id
        self.formulas = ReferenceScorer(weights={k: d.weights for k, d in calibration.calibrated().items()},
                                        name=calibration.model_id)
        base = ReferenceScorer().model_id
        if calibration.base_model != base:
            raise CalibrationError(f"fitted to the reference scorer {calibration.base_model}, but this tqscore's is "
                                   f"{base}: its grades differ; run `tqscore calibrate` again", source)
        self.mappings = {k: d.mapping for k, d in calibration.calibrated().items()
                         if d.mapping is not None and d.mapping.kind != "identity"}

    @classmethod
    def from_file(cls, path: str | Path) -> CalibratedScorer:
        return cls(load_calibration(path), path)

    def score(self, row: dict) -> ReferenceScores:
        result = self.formulas.score(row)
        values = dict(result.values)
        for label, mapping in self.mappings.items():
            if values[label] is not None:
                how = {"mapping": mapping.kind, "params": mapping.params or {}}
                mapped = float(apply_mapping(how, np.array([values[label]]))[0])
                values[label] = round(min(5.0, max(1.0, mapped)), 4) if math.isfinite(mapped) else None
        return ReferenceScores(values, result.causes, result.parts)
