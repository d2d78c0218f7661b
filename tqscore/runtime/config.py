"""The one configuration of a ``tqscore batch`` run, built from the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tqscore.media.discovery import DEFAULT_EXTENSIONS, Shard
from tqscore.media.frames import DECODE_DEVICES

DEVICES = ("auto", "cpu", "cuda", "tensorrt")  # where engines run; tensorrt: the FP16 engines or nothing
PRECISIONS = ("auto", "fp32", "int8")  # ResNet101 on the CPU: auto = INT8 when the folder has it
# Whether `--decode-device auto` may decode with NVDEC when a model scores. Training features come
# from CPU decoding, and NVDEC's colour conversion differs from FFmpeg's; that difference has
# not yet been measured on a GPU (benchmarks/gpu_check.py, part "nvdec", measures the score
# difference it causes). Conservative until a recorded check shows <= 0.02: auto decodes on
# the CPU for scoring; `--decode-device cuda` still asks for NVDEC explicitly.
NVDEC_FOR_SCORING = False


def engine_options_problem(device: str, precision: str) -> str | None:
    """What is wrong with this ``--device`` and ``--precision`` pair, or None: the one check that
    the command line (``BatchConfig``) and ``EngineSet.load`` both make."""
    if device not in DEVICES:
        return f"device must be one of {DEVICES}, got {device!r}"
    if precision not in PRECISIONS:
        return f"precision must be one of {PRECISIONS}, got {precision!r}"
    if precision == "int8" and device in ("cuda", "tensorrt"):
        return f"precision 'int8' is the CPU's INT8 ResNet101; it does not run with device '{device}'"
    return None


def scoring_decode_device(decode_device: str, scoring: bool) -> str:
    """The decode device a clip is opened with: ``auto`` means the CPU when a model scores (above)."""
    return "cpu" if decode_device == "auto" and scoring and not NVDEC_FOR_SCORING else decode_device


def is_uri(text: str) -> bool:
    """``scheme://...``: a location for pyarrow.fs, not a local path."""
    return "://" in text


def default_workers() -> int:
    """One worker per core, leaving one core to the main process that runs the engines."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class BatchConfig:
    input_dir: Path | str  # a folder, or (with ray) an object-store URI
    out: Path
    engines: Path | None = None  # engine folder from `tqscore export`; None = no model (signals only)
    syncnet: Path | None = None  # SyncNet weights from `tqscore export-syncnet`; None = syncnet_* columns null
    rules: Path | None = None  # verdict rules (YAML); None = the package's tqscore/model/rules.yaml
    scorer: Path | None = None  # calibration from `tqscore calibrate`; None = the reference scorer's own weights
    device: str = "auto"  # where the engines run: TensorRT/CUDA when available, else CPU
    decode_device: str = "auto"  # where frames decode: NVDEC (PyNvVideoCodec) or PyAV; scoring_decode_device
    precision: str = "auto"  # visual graph on the CPU: INT8 when built (`--formats onnx-int8`), fp32, or int8
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    shard: Shard = field(default_factory=Shard)
    # None: one per core here (``default_workers``); with ``ray``, as many analysis tasks at once as
    # the cluster has CPUs. A number caps either: on a shared cluster, the CPUs this run may take.
    workers: int | None = None
    batch_size: int = 64  # frames per visual-engine batch (clips are mixed to fill it)
    audio_batch: int = 1  # HuBERT windows of equal length per batch; 1 keeps scores independent of neighbours
    group_clips: int = 8  # analysed clips waiting for the engines, at most (bounds memory)
    part_rows: int = 32  # rows per crash-safe part file
    clip_timeout_s: float = 600.0  # a worker stuck this long on one file is replaced; the file errors
    resume: bool = True
    retry_errors: bool = False  # resume, but redo the files whose stored row is an error
    progress: bool = True
    # `--ray [ADDRESS]`: None = this machine's worker pool; "local" = start a Ray cluster here;
    # "auto" or an address = join that cluster (tqscore.runtime.ray_batch)
    ray: str | None = None

    @property
    def local_workers(self) -> int:
        """Worker processes of a run on this machine."""
        return self.workers if self.workers is not None else default_workers()

    @property
    def input_is_uri(self) -> bool:
        """DIR given as an object-store URI (s3://, gs://, file://...), read through pyarrow.fs."""
        return is_uri(str(self.input_dir))

    def __post_init__(self):
        if self.input_is_uri and self.ray is None:
            raise ValueError(f"{self.input_dir}: an object-store URI as DIR needs --ray (pyarrow.fs reads it there)")
        if problem := engine_options_problem(self.device, self.precision):
            raise ValueError(problem)
        if self.scorer is not None and (self.engines is not None or self.ray is not None):
            raise ValueError("--scorer re-weights the reference scorer on this machine: it takes neither --engines "
                             "nor --ray")
        if self.decode_device not in DECODE_DEVICES:
            raise ValueError(f"decode device must be one of {DECODE_DEVICES}, got {self.decode_device!r}")
        for name in ("workers", "batch_size", "audio_batch", "group_clips", "part_rows"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
