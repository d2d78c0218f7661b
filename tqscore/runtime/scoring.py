"""Scoring analysed clips with the exported engines, batched across clips.

Visual: the real frames of every clip in a group are cut into ``batch_size`` batches in clip
order, so one ResNet batch holds the end of one clip and the start of the next; each batch is
ImageNet-normalised just before it runs (a whole group normalised at once would be ~0.6 GB).

Audio: HuBERT-Base has no attention mask (its group-norm feature extractor sees every sample),
so zero padding would change the result. Only windows of exactly equal length share a batch;
for a nightly set of 6-s clips that is all of them. The windowing and the interpolation at the
frame times are the ones ``tqscore.features.backbones.AudioBackbone.at_times`` applies on the
PyTorch path (same constants, same ``interpolate_steps``), which the parity test holds to 1e-3.

Fusion: the raw streams (T, 4237) of a group go through the fusion engine in one batch; the
preprocessing is folded into it at export time.

Without an engine folder ``NullScorer`` keeps the run going: metadata, status and signals are
written and the score columns stay null.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqscore.layout import LABELS, SAMPLE_RATE, STREAM_NAMES
from tqscore.runtime.analyse import Analysis, ModelInputs

log = logging.getLogger(__name__)

AUDIO_BATCH = 8  # HuBERT windows per batch (equal lengths only)


@dataclass
class Scores:
    values: dict[str, float]  # one per tqscore.layout.LABELS
    ms: dict[str, float]  # this clip's share of the visual / audio / fusion engine time


class NullScorer:
    """No model: nothing to score, nothing the workers need to send back."""

    model_id = None
    engine_id = None
    needs_inputs = False

    def score(self, analyses: list[Analysis]) -> list[Scores | None]:
        return [None] * len(analyses)


def load_scorer(engine_dir: Path | None, device: str, batch_size: int = 64):
    if engine_dir is None:
        log.warning("no engine folder given (--engines): writing metadata, status and signals; scores stay null")
        return NullScorer()
    from tqscore.runtime.engines import EngineSet

    if not Path(engine_dir).is_dir():
        raise FileNotFoundError(f"engine folder {engine_dir} does not exist (build it with `tqscore export`)")
    return EngineScorer(EngineSet.load(Path(engine_dir), device), batch_size)


class EngineScorer:
    needs_inputs = True

    def __init__(self, engines, batch_size: int = 64):
        self.engines = engines
        self.batch_size = batch_size
        self.model_id = engines.model_id
        self.engine_id = engines.engine_id
        self.audio_normalize = bool(getattr(engines, "audio_normalize", False))

    def score(self, analyses: list[Analysis]) -> list[Scores | None]:
        todo = [i for i, a in enumerate(analyses) if a.inputs is not None]
        out: list[Scores | None] = [None] * len(analyses)
        if not todo:
            return out
        inputs = [analyses[i].inputs for i in todo]
        visual, visual_ms = self._visual(inputs)
        audio, audio_ms = self._audio(inputs)
        features = np.stack([_features(x, v, a) for x, v, a in zip(inputs, visual, audio)])
        masks = np.stack([x.frame_mask for x in inputs]).astype(np.float32)
        tick = time.perf_counter()
        scores = np.asarray(self.engines.fusion(features, masks), np.float32)
        fusion_ms = (time.perf_counter() - tick) * 1000 / len(todo)
        for k, i in enumerate(todo):
            values = {label: float(scores[k, j]) for j, label in enumerate(LABELS)}
            out[i] = Scores(values, {"visual": visual_ms[k], "audio": audio_ms[k], "fusion": fusion_ms})
        return out

    def _visual(self, inputs: list[ModelInputs]) -> tuple[list[np.ndarray], list[float]]:
        """(n_i, 2048) per clip from batches that cross clip boundaries; ms shared by frames."""
        from tqscore.features.crops import normalize

        owners = np.concatenate([np.full(len(x.crops), k) for k, x in enumerate(inputs)])
        rows = np.concatenate([np.arange(len(x.crops)) for x in inputs])
        results = [np.zeros((len(x.crops), 0), np.float32) for x in inputs]
        pieces: list[list[np.ndarray]] = [[] for _ in inputs]
        ms = [0.0] * len(inputs)
        for start in range(0, len(owners), self.batch_size):
            who, which = owners[start : start + self.batch_size], rows[start : start + self.batch_size]
            batch = np.stack([inputs[k].crops[j] for k, j in zip(who, which)])
            tick = time.perf_counter()
            feats = np.asarray(self.engines.visual(normalize(batch)), np.float32)
            per_frame = (time.perf_counter() - tick) * 1000 / len(batch)
            for k in np.unique(who):
                sel = who == k
                pieces[k].append(feats[sel])
                ms[k] += per_frame * int(sel.sum())
        for k in range(len(inputs)):
            if pieces[k]:
                results[k] = np.concatenate(pieces[k])
        return results, ms

    def _audio(self, inputs: list[ModelInputs]) -> tuple[list[np.ndarray], list[float]]:
        """(n_i, 768) per clip: HuBERT steps at the clip's frame times; equal-length windows batched."""
        from tqscore.features.backbones import interpolate_steps

        windows = [hubert_windows(x.audio, x.frame_times, self.audio_normalize) for x in inputs]
        by_length: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for k, clip_windows in enumerate(windows):
            for w, window in enumerate(clip_windows):
                by_length[len(window)].append((k, w))
        hidden: list[list[np.ndarray | None]] = [[None] * len(w) for w in windows]
        ms = [0.0] * len(inputs)
        for length, members in by_length.items():
            for start in range(0, len(members), AUDIO_BATCH):
                group = members[start : start + AUDIO_BATCH]
                batch = np.stack([windows[k][w] for k, w in group])
                tick = time.perf_counter()
                states = np.asarray(self.engines.audio(batch), np.float32)
                share = (time.perf_counter() - tick) * 1000 / len(group)
                for (k, w), state in zip(group, states):
                    hidden[k][w] = state
                    ms[k] += share
        out = [interpolate_steps(np.concatenate(h), x.frame_times) for h, x in zip(hidden, inputs)]
        return out, ms


def hubert_windows(audio: np.ndarray, times: np.ndarray, normalize: bool, window_s: float = 30.0) -> list[np.ndarray]:
    """The windows ``AudioBackbone.at_times`` feeds HuBERT for this clip, in order.

    Same rules as the PyTorch path: silence appended to cover the last frame time (+40 ms), at
    least one receptive field, optional zero-mean/unit-variance, 30-s windows overlapping by
    (field - stride) samples so every window yields window / stride steps on one 20-ms grid.
    """
    from tqscore.features.backbones import HUBERT_FIELD, HUBERT_STRIDE

    audio = np.asarray(audio, np.float32)
    if len(times):
        needed = int(np.ceil((np.max(times) + 0.04) * SAMPLE_RATE))
        audio = np.pad(audio, (0, max(0, needed - len(audio))))
    if len(audio) < HUBERT_FIELD:
        audio = np.pad(audio, (0, HUBERT_FIELD - len(audio)))
    if normalize:
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    window = int(window_s * SAMPLE_RATE) // HUBERT_STRIDE * HUBERT_STRIDE
    overlap = HUBERT_FIELD - HUBERT_STRIDE
    windows = [audio[s : s + window + overlap] for s in range(0, max(len(audio) - overlap, 1), window)]
    windows[-1] = np.pad(windows[-1], (0, max(0, HUBERT_FIELD - len(windows[-1]))))
    return windows


def _features(x: ModelInputs, visual: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """The raw (T, 4237) fusion input in layout order, padding frames zero (as in a feature record)."""
    from tqscore.features.frontend import pad_to_layout

    n = len(x.crops)
    streams = {
        "visual": visual,
        "audio": audio,
        "landmarks": x.landmarks.reshape(n, -1),
        "aus": x.aus,
    }
    return np.concatenate([pad_to_layout(streams[name], x.frame_mask) for name in STREAM_NAMES], axis=1)
