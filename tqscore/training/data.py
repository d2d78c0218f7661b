"""Labelled feature sets: raw records on disk (``RecordSet``) and in-memory arrays (``FeatureSet``).

Records come from ``tqscore extract`` (``tqscore.features.record``); labels from
``tqscore.training.labels``. Raw records are 2.5 MB per clip (31 GB for THQA-NTIRE's 12 247
clips), so they stay on disk: the preprocessing is fitted on frames gathered record by record,
then each record is read once more and reduced to the PCA widths (0.22 MB per clip) for
training, which keeps its data in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tqscore.errors import TrainingError
from tqscore.layout import FRAME_MASK, LABELS, MISSING_LABEL, STREAM_WIDTHS
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

    def gather(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Frames ``rows`` (clip * T + frame) of one stream, as (len(rows), width)."""
        x = self.streams[name]
        return x.reshape(-1, x.shape[-1])[rows]

    @property
    def present(self) -> np.ndarray:
        return self.labels != MISSING_LABEL


@dataclass
class RecordSet:
    """Labelled records on disk; streams are read on demand."""

    keys: list[str]
    paths: list[Path]
    frame_mask: np.ndarray  # (N, T) float32, read up front (150 bytes per record)
    labels: np.ndarray  # (N, len(LABELS)) float32

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def present(self) -> np.ndarray:
        return self.labels != MISSING_LABEL

    def gather(self, name: str, rows: np.ndarray) -> np.ndarray:
        from tqscore.features.record import load_record

        t = self.frame_mask.shape[1]
        clips, frames = np.divmod(np.asarray(rows), t)
        out = np.empty((len(rows), STREAM_WIDTHS[name]), np.float32)
        starts = np.flatnonzero(np.r_[True, clips[1:] != clips[:-1]])  # rows are sorted: one run per clip
        for a, b in zip(starts, np.r_[starts[1:], len(rows)]):
            out[a:b] = load_record(self.paths[clips[a]], (name,)).arrays[name][frames[a:b]]
        return out

    def load(self, idx: np.ndarray) -> FeatureSet:
        """The raw streams of clips ``idx`` in memory."""
        from tqscore.features.record import load_records

        idx = np.asarray(idx)
        batch = load_records([self.paths[i] for i in idx])
        return FeatureSet([self.keys[i] for i in idx], batch.streams, self.frame_mask[idx], self.labels[idx])

    def preprocessed(self, prep: Preprocessing, chunk: int = 64) -> FeatureSet:
        streams = {m: np.empty((len(self), self.frame_mask.shape[1], w), np.float32) for m, w in prep.out_widths.items()}
        for start in tqdm(range(0, len(self), chunk), desc="preprocessing records", unit="chunk", disable=None):
            part = self.load(np.arange(start, min(start + chunk, len(self)))).preprocessed(prep)
            for m in streams:
                streams[m][start : start + chunk] = part.streams[m]
        return FeatureSet(self.keys, streams, self.frame_mask, self.labels)


def find_records(root: Path) -> dict[str, Path]:
    """Record key (video path relative to the extracted folder) -> record file.

    From the extract manifest: the videos whose latest status is ``ok`` (a ``no_face`` or
    ``error`` clip has no usable features). Without a manifest (records copied by hand), every
    readable record under ``root/records`` (or ``root``) is used, keyed by its relative path.
    """
    from tqscore.features.manifest import MANIFEST_NAME, read_feature_manifest
    from tqscore.features.record import RECORD_SUFFIX, RecordError, read_meta

    entries = read_feature_manifest(root / MANIFEST_NAME)
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


def load_feature_set(features_dir: str | Path, labels: str | Path | LabelTable, label_map: str | None = None,
                     scale: tuple[float, float] | None = None) -> RecordSet:
    """Records under ``features_dir`` that have a label row, in key order (streams stay on disk);
    ``scale``: the label file's own opinion scale (``load_labels``)."""
    from tqscore.features.record import load_record

    table = labels if isinstance(labels, LabelTable) else load_labels(labels, label_map, scale)
    root = Path(features_dir)
    if not root.is_dir():
        raise TrainingError("features folder not found", root)
    records = find_records(root)
    if not records:
        raise TrainingError("no feature records found (run `tqscore extract` first)", root)
    keys = list(records)
    chosen, values = match_labels(keys, table)
    paths = [records[keys[i]] for i in chosen]
    masks = np.stack([load_record(p, ()).arrays[FRAME_MASK] for p in paths]).astype(np.float32)
    log.info("%d labelled clips with features; labels per dimension: %s", len(chosen),
             dict(zip(LABELS, (values != MISSING_LABEL).sum(0).tolist())))
    return RecordSet([keys[i] for i in chosen], paths, masks, values)
