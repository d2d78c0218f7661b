"""Scoring analysed clips with the exported engines, batched across clips.

Visual: the real frames of arriving clips stream into ResNet batches of exactly ``batch_size``
frames, so one batch holds the end of one clip and the start of the next, and the frames left
over wait for the next clip instead of running as a small batch. Each batch is
ImageNet-normalised just before it runs (a group of clips normalised at once would be ~0.6 GB).
Fixed shapes also make a clip's scores independent of its neighbours (see ``EngineScorer``).

Audio: HuBERT-Base has no attention mask (its group-norm feature extractor sees every sample),
so zero padding would change the result: only windows of exactly equal length may share a
batch. The windowing and the interpolation at the frame times are those of
``tqscore.features.backbones.AudioBackbone.at_times`` on the PyTorch path (same constants, same
``interpolate_steps``); the parity test holds the two paths to 1e-3.

Fusion: the raw streams (T, 4237) of one clip, NaN imputation, standardisation and PCA folded
into the graph at export time.

Without an engine folder ``SignalsScorer`` fills the five scores from the row's training-free
signals (``tqscore.model.reference``, whose model id the rows carry): no engines, no batching.

Every scorer a run can use meets one protocol, ``Scorer``: the ids a row and the resume key
carry, whether the analyses must bring the engines' inputs, and ``scored(cfg, tasks)``, the
stream of (analysis, scores) for a run's files. ``EngineScorer`` and ``SignalsScorer`` score in
this process, fed by this machine's workers (``tqscore.runtime.local``); ``RayScorer``
(``tqscore.runtime.ray_batch``) has Ray Data do both. ``make_scorer`` picks one per run, so the
pipeline never asks which.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from tqscore.errors import RunError
from tqscore.layout import LABELS, STREAM_NAMES, STREAM_WIDTHS
from tqscore.numeric import finite_or_none
from tqscore.runtime.analyse import Analysis, ClipTask, ModelInputs
from tqscore.runtime.config import BatchConfig
from tqscore.runtime.local import locally_scored
from tqscore.runtime.schema import STATUS_ERROR

log = logging.getLogger(__name__)


@dataclass
class Scores:
    values: dict[str, float | None]  # one per tqscore.layout.LABELS
    ms: dict[str, float]  # this clip's share of the visual / audio / fusion engine time
    causes: list[str] = field(default_factory=list)  # "code: text" for each score left null


Scored = tuple[Analysis, Scores | None]  # scores None: an error row, or no model ran on the clip


class Scorer(Protocol):
    """What a run needs of whatever fills its five scores."""

    model_id: str | None  # the row's model_id: the bundle's, or without engines the reference scorer's
    engine_id: str | None  # the row's engine_id and part of the resume key; None without engines
    needs_inputs: bool  # the analyses must carry the engines' inputs (crops, audio, landmarks)

    def scored(self, cfg: BatchConfig, tasks: list[ClipTask]) -> AbstractContextManager[Iterator[Scored]]:
        """(analysis, scores) for every task, in the order they finish; leaving the block stops the work."""
        ...

    def rescore_stored(self, table: pl.DataFrame, signals_id: str) -> pl.DataFrame:
        """The run's whole table with the stored rows whose scores depend on what changed since
        they were made (the scorer, the real-footage reference in ``signals_id``) scored again."""
        ...


class _InProcess:
    """A scorer that runs in this process: ``add`` takes analysed clips, ``flush`` ends the input."""

    def scored(self, cfg: BatchConfig, tasks: list[ClipTask]) -> AbstractContextManager[Iterator[Scored]]:
        return locally_scored(cfg, tasks, self)

    def add(self, analyses: list[Analysis]) -> list[Scored]:
        raise NotImplementedError

    def flush(self) -> list[Scored]:
        return []

    def rescore_stored(self, table: pl.DataFrame, signals_id: str) -> pl.DataFrame:
        """Engines score from the clip alone: their stored scores stand."""
        return table


class SignalsScorer(_InProcess):
    """No trained model: the five scores from the signals the workers already computed, by the
    reference scorer or, with ``calibration`` (a ``tqscore calibrate`` file), its calibrated weights."""

    engine_id = None
    needs_inputs = False

    def __init__(self, calibration: Path | None = None):
        if calibration is None:
            from tqscore.model.reference import ReferenceScorer

            self.formulas = ReferenceScorer()
        else:
            from tqscore.calibration.scorer import CalibratedScorer

            self.formulas = CalibratedScorer.from_file(calibration)
        self.model_id = self.formulas.model_id

    def rescore_stored(self, table: pl.DataFrame, signals_id: str) -> pl.DataFrame:
        """Rows an earlier run scored without engines but with another scorer (the defaults, another
        calibration) or against another real-footage reference, scored again from their stored
        signals: a resume never decodes a file for that."""
        stale = (pl.col("engine_id").is_null() & (pl.col("status") != STATUS_ERROR)
                 & (pl.col("model_id").is_null() | (pl.col("model_id") != self.model_id)
                    | pl.col("signals_id").is_null() | (pl.col("signals_id") != signals_id)))
        rows = table.filter(stale).drop("sync_curve")
        if rows.is_empty():
            return table
        log.info("%d stored rows were scored by %s or against another real-footage reference: scored again by "
                 "%s from their signals", rows.height, ", ".join(sorted({str(m) for m in rows["model_id"].to_list()})),
                 self.model_id)
        redone = [(r["path_bytes"], self.formulas.score(r)) for r in rows.iter_rows(named=True)]
        update = pl.DataFrame({"path_bytes": [p for p, _ in redone], "model_id": self.model_id,
                               **{k: [finite_or_none(s.values[k]) for _, s in redone] for k in LABELS},
                               "score_causes": [list(s.causes) for _, s in redone]},
                              schema_overrides={k: table.schema[k] for k in ("path_bytes", "score_causes", *LABELS)})
        return table.update(update, on="path_bytes", include_nulls=True)

    def add(self, analyses: list[Analysis]) -> list[Scored]:
        out = []
        for a in analyses:
            if a.status == STATUS_ERROR:
                out.append((a, None))
                continue
            result = self.formulas.score({**a.meta, **a.signals, "status": a.status})
            out.append((a, Scores(result.values, {}, result.causes)))
        return out


def make_scorer(cfg: BatchConfig) -> Scorer:
    """The scorer of this run: on a Ray cluster (``--ray``), or in this process."""
    if cfg.ray is not None:
        from tqscore.runtime.ray_batch import RayScorer

        return RayScorer.connect(cfg)
    return load_scorer(cfg.engines, cfg.device, cfg.batch_size, cfg.audio_batch, cfg.precision, cfg.scorer)


def load_scorer(engine_dir: Path | None, device: str, batch_size: int = 64, audio_batch: int = 1,
                precision: str = "auto", calibration: Path | None = None) -> EngineScorer | SignalsScorer:
    """The in-process scorer for an engine folder, or ``SignalsScorer`` without one."""
    if engine_dir is None:
        scorer = SignalsScorer(calibration)
        log.info("no engine folder given (--engines): the reference scorer (%s) fills the five scores "
                 "from the training-free signals", scorer.model_id)
        return scorer
    from tqscore.runtime.engines import EngineSet

    if not Path(engine_dir).is_dir():
        raise RunError("engine folder does not exist (build it with `tqscore export`)", engine_dir)
    return EngineScorer(EngineSet.load(Path(engine_dir), device, precision=precision), batch_size, audio_batch)


@dataclass
class _Pending:
    analysis: Analysis
    frames_left: int
    visual: np.ndarray  # (n, 2048), filled as batches complete
    visual_ms: float = 0.0


class EngineScorer(_InProcess):
    """Streams frames into fixed-size visual batches; a clip is finished once all its frames ran.

    Every visual batch has exactly ``batch_size`` rows (the frames left over at the end of a
    group wait for the next clips; only the last batch of a run is zero-padded). A clip's
    features therefore never depend on its neighbours or on the run's timing: a resumed run
    writes bit-identical scores (tested). The fusion runs per clip for the same reason (its
    cost is tiny next to the backbones); audio batches across clips only with ``audio_batch > 1``.
    """

    needs_inputs = True

    def __init__(self, engines, batch_size: int = 64, audio_batch: int = 1):
        self.engines = engines
        self.batch_size = batch_size
        self.audio_batch = audio_batch
        self.model_id = engines.model_id
        self.engine_id = engines.engine_id
        self.audio_normalize = bool(getattr(engines, "audio_normalize", False))
        self._queue: list[tuple[_Pending, int]] = []  # (clip, frame row) not yet through the visual engine
        self._waiting: list[_Pending] = []  # clips with frames in the queue, in arrival order

    def add(self, analyses: list[Analysis]) -> list[Scored]:
        """Queue the clips' frames, run every full batch; return the clips now finished, in order."""
        finished: list[Scored] = []
        for a in analyses:
            if a.inputs is None:
                finished.append((a, None))
                continue
            n = len(a.inputs.crops)
            pending = _Pending(a, n, np.zeros((n, STREAM_WIDTHS["visual"]), np.float32))
            self._waiting.append(pending)
            self._queue.extend((pending, row) for row in range(n))
        while len(self._queue) >= self.batch_size:
            self._run_visual(self._queue[: self.batch_size])
            del self._queue[: self.batch_size]
        return finished + self._complete()

    def flush(self) -> list[Scored]:
        """End of input: run the last, zero-padded batch and finish every clip."""
        if self._queue:
            self._run_visual(self._queue)
            self._queue = []
        return self._complete()

    def _run_visual(self, members: list[tuple[_Pending, int]]) -> None:
        from tqscore.features.crops import normalize

        batch = np.zeros((self.batch_size, *members[0][0].analysis.inputs.crops.shape[1:]), np.uint8)
        for i, (pending, row) in enumerate(members):
            batch[i] = pending.analysis.inputs.crops[row]
        tick = time.perf_counter()
        feats = np.asarray(self.engines.visual(normalize(batch)), np.float32)
        per_frame = (time.perf_counter() - tick) * 1000 / len(members)
        for i, (pending, row) in enumerate(members):
            pending.visual[row] = feats[i]
            pending.frames_left -= 1
            pending.visual_ms += per_frame

    def _complete(self) -> list[Scored]:
        done = [p for p in self._waiting if p.frames_left == 0]
        if not done:
            return []
        self._waiting = [p for p in self._waiting if p.frames_left > 0]
        audio, audio_ms = self._audio([p.analysis.inputs for p in done])
        out = []
        for p, clip_audio, a_ms in zip(done, audio, audio_ms):
            x = p.analysis.inputs
            tick = time.perf_counter()
            features = _features(x, p.visual, clip_audio)[None]
            scores = np.asarray(self.engines.fusion(features, x.frame_mask[None].astype(np.float32)), np.float32)[0]
            fusion_ms = (time.perf_counter() - tick) * 1000
            values = {label: float(scores[j]) for j, label in enumerate(LABELS)}
            p.analysis.inputs = None  # the crops are done with: free them before the row is written
            out.append((p.analysis, Scores(values, {"visual": p.visual_ms, "audio": a_ms, "fusion": fusion_ms})))
        return out

    def _audio(self, inputs: list[ModelInputs]) -> tuple[list[np.ndarray], list[float]]:
        """(n_i, 768) per clip: HuBERT steps at the clip's frame times."""
        from tqscore.features.backbones import hubert_windows, interpolate_steps

        windows = [hubert_windows(x.audio, x.frame_times, self.audio_normalize) for x in inputs]
        by_length: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for k, clip_windows in enumerate(windows):
            for w, window in enumerate(clip_windows):
                by_length[len(window)].append((k, w))
        hidden: list[list[np.ndarray | None]] = [[None] * len(w) for w in windows]
        ms = [0.0] * len(inputs)
        for members in by_length.values():
            for start in range(0, len(members), self.audio_batch):
                group = members[start : start + self.audio_batch]
                batch = np.stack([windows[k][w] for k, w in group])
                tick = time.perf_counter()
                states = np.asarray(self.engines.audio(batch), np.float32)
                share = (time.perf_counter() - tick) * 1000 / len(group)
                for (k, w), state in zip(group, states):
                    hidden[k][w] = state
                    ms[k] += share
        out = [interpolate_steps(np.concatenate(h), x.frame_times) for h, x in zip(hidden, inputs)]
        return out, ms


def _features(x: ModelInputs, visual: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """The raw (T, 4237) fusion input in layout order, padding frames zero (as in a feature record)."""
    from tqscore.features.frontend import pad_to_layout

    n = len(x.landmarks)
    streams = {
        "visual": visual,
        "audio": audio,
        "landmarks": x.landmarks.reshape(n, -1),
        "aus": x.aus,
    }
    return np.concatenate([pad_to_layout(streams[name], x.frame_mask) for name in STREAM_NAMES], axis=1)
