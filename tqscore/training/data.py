"""In-memory feature sets: the (N, T, width) streams of many clips, their frame masks and labels.

Records come from ``tqscore extract`` (``tqscore.features.record``); labels from
``tqscore.training.labels``. Training keeps everything in memory: after PCA the seed's 1985
clips take 1985 x 150 x 367 float32 = 440 MB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqscore.layout import FRAME_MASK, LABELS, MISSING_LABEL
from tqscore.model.preprocess import Preprocessing
from tqscore.training.labels import LabelTable, load_labels, match_labels

log = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    keys: list[str]  # record keys (video paths relative to the extract root)
    streams: dict[str, np.ndarray]  # name -> (N, T, width) float32, in layout order
    frame_mask: np.ndarray  # (N, T) float32, 1 = real frame
    labels: np.ndarray  # (N, len(LABELS)) float32, MISSING_LABEL where missing

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, idx: np.ndarray) -> FeatureSet:
        idx = np.asarray(idx)
        return FeatureSet(
            [self.keys[i] for i in idx],
            {k: v[idx] for k, v in self.streams.items()},
            self.frame_mask[idx],
            self.labels[idx],
        )

    def preprocessed(self, prep: Preprocessing) -> FeatureSet:
        return FeatureSet(self.keys, prep.apply(self.streams), self.frame_mask, self.labels)

    @property
    def present(self) -> np.ndarray:
        return self.labels != MISSING_LABEL


def find_records(root: Path) -> dict[str, Path]:
    """Record key (video path relative to the extracted folder) -> record file.

    From the extract manifest: the videos whose latest status is ``ok`` (a ``no_face`` or
    ``error`` clip has no usable features). Without a manifest (records copied by hand), every
    readable record under ``root/records`` (or ``root``) is used, keyed by its relative path.
    """
    from tqscore.features.manifest import MANIFEST_NAME, read_manifest
    from tqscore.features.record import RECORD_SUFFIX, RecordError, read_meta

    entries = read_manifest(root / MANIFEST_NAME)
    if entries:
        skipped = sum(e.status != "ok" for e in entries.values())
        if skipped:
            log.info("%s: %d videos without usable features (no_face / error) are left out", root, skipped)
        return {path: root / e.record for path, e in sorted(entries.items()) if e.status == "ok" and e.record}
    base = root / "records" if (root / "records").is_dir() else root
    found = {}
    for path in sorted(base.rglob(f"*{RECORD_SUFFIX}")):
        try:
            read_meta(path)
        except RecordError as exc:
            log.warning("skipping %s", exc)
            continue
        found[path.relative_to(base).as_posix()[: -len(RECORD_SUFFIX)]] = path
    return found


def load_feature_set(features_dir: str | Path, labels: str | Path | LabelTable, label_map: str | None = None) -> FeatureSet:
    """Records under ``features_dir`` that have a label row, stacked in key order."""
    from tqscore.features.record import load_records

    table = labels if isinstance(labels, LabelTable) else load_labels(labels, label_map)
    root = Path(features_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: features folder not found")
    records = find_records(root)
    if not records:
        raise FileNotFoundError(f"{root}: no feature records found (run `tqscore extract` first)")
    keys = list(records)
    chosen, values = match_labels(keys, table)
    batch = load_records([records[keys[i]] for i in chosen])
    log.info("%d labelled clips with features; labels per dimension: %s", len(chosen),
             dict(zip(LABELS, (values != MISSING_LABEL).sum(0).tolist())))
    return FeatureSet([keys[i] for i in chosen], batch.streams, batch.masks[FRAME_MASK].astype(np.float32), values)
