"""The engine folder's ``manifest.json``: what each file is, what it was built from, how well it matches.

pydantic rather than dataclasses because the manifest is read back from a file a person may
have edited or copied between machines: a missing field or a wrong type must fail with the
field's name, not with a KeyError deep in the runtime.

Layout of an engine folder (names from ``tqscore.export.graphs`` and ``tqscore.export.trt``)::

    ENGINE_DIR/
      manifest.json
      resnet101.onnx  hubert.onnx  fusion.onnx                  portable FP32 graphs (ONNX Runtime)
      resnet101.fp16.onnx  hubert.fp16.onnx  fusion.fp16.onnx    FP16 graphs the engines are built from
      <graph>.<gpu>.sm<cc>.trt<version>.fp16.engine              TensorRT engines, one set per GPU kind
      timing.<gpu>.sm<cc>.trt<version>.cache                     TensorRT timing cache
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Union

from pydantic import BaseModel, Field, ValidationError

from tqscore.errors import ExportError
from tqscore.io import write_text_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1

Dim = Union[int, str]  # a fixed size, or the name of a dynamic axis


class ManifestError(ExportError):
    """An engine folder's manifest is missing, unreadable or does not describe the files beside it."""


class TensorSpec(BaseModel):
    name: str
    shape: list[Dim]
    dtype: str = "float32"


class ShapeRange(BaseModel):
    """One input's range in a TensorRT optimisation profile."""

    min: list[int]
    opt: list[int]
    max: list[int]


class Target(BaseModel):
    """The facts a TensorRT engine is only valid for."""

    gpu: str  # device name as the driver reports it, e.g. "NVIDIA H100 80GB HBM3"
    compute_capability: str  # "9.0"
    tensorrt: str  # "10.9.0.34"


class GraphEntry(BaseModel):
    file: str
    sha256: str
    opset: int
    precision: str = "fp32"
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    source: str  # what the weights came from: backbone path/id or bundle path
    source_sha256: str  # digest of those weights, so a changed source is noticed
    exported_utc: str


class EngineEntry(BaseModel):
    file: str
    sha256: str
    graph: str  # key in Manifest.graphs
    onnx_sha256: str  # the graph file the engine was built from
    precision: str = "fp16"
    target: Target
    profiles: list[dict[str, ShapeRange]]
    fp32_layers: list[str]  # nodes of the FP16 graph kept FP32 (strongly typed: the graph's own types)
    build_seconds: float
    built_utc: str


class QuantizedEntry(BaseModel):
    """An INT8 copy of a graph for CPUs (``tqscore export --formats onnx-int8``)."""

    file: str
    sha256: str
    graph: str  # key in Manifest.graphs: the FP32 graph it was quantized from
    onnx_sha256: str  # that graph's sha256 at quantization time: a re-exported graph makes it stale
    precision: str = "int8"
    method: str  # e.g. "onnxruntime quantize_static QDQ, per-channel s8 weights, u8 activations, MinMax"
    calibration: dict[str, str | int | list[str]]  # source folder, clips, crops
    quantized_utc: str


class HalfEntry(BaseModel):
    """The FP16 copy of a graph that TensorRT engines are built from (``tqscore.export.fp16``)."""

    file: str
    sha256: str
    graph: str  # key in Manifest.graphs: the FP32 graph it was converted from
    onnx_sha256: str  # that graph's sha256 at conversion time: a re-exported graph makes it stale
    precision: str = "fp16"
    converter: str
    fp32_nodes: list[str]  # nodes kept FP32 between explicit Casts
    converted_utc: str


class SourceBundle(BaseModel):
    path: str
    sha256: str


class Manifest(BaseModel):
    manifest_version: int = MANIFEST_VERSION
    tqscore_version: str
    layout_version: int
    model_id: str
    bundle: SourceBundle
    backbones: dict[str, dict[str, str | bool]] = Field(default_factory=dict)  # resnet/hubert: source, options
    versions: dict[str, str] = Field(default_factory=dict)  # library versions at export time
    graphs: dict[str, GraphEntry] = Field(default_factory=dict)
    engines: dict[str, EngineEntry] = Field(default_factory=dict)  # key: engine file name
    quantized: dict[str, QuantizedEntry] = Field(default_factory=dict)  # key: graph name ("visual")
    fp16: dict[str, HalfEntry] = Field(default_factory=dict)  # key: graph name
    # Items per call the engines were tuned for (TensorRT profiles): "image" crops, "clip"s.
    batch_sizes: dict[str, list[int]] = Field(default_factory=lambda: {"image": [64, 150], "clip": [1, 8]})
    parity: dict[str, dict[str, float | str]] = Field(default_factory=dict)  # measured at export time
    updated_utc: str = ""

    def digest(self) -> str:
        """Short id of the graphs' contents: changes exactly when a served graph changes."""
        h = hashlib.sha256()
        for name in sorted(self.graphs):
            h.update(f"{name}:{self.graphs[name].sha256};".encode())
        return h.hexdigest()[:12]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(root: str | Path, names: tuple[str, ...]) -> str:
    """Digest of the named files under ``root`` (names and contents, in the given order)."""
    h = hashlib.sha256()
    for name in names:
        file = Path(root) / name
        if file.is_file():
            h.update(f"{name}:{sha256_file(file)};".encode())
    return h.hexdigest()


def read_manifest(engine_dir: str | Path) -> Manifest:
    path = Path(engine_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{engine_dir}: not an engine folder (no {MANIFEST_NAME}); build one with `tqscore export`")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable manifest: {exc}") from exc
    version = data.get("manifest_version") if isinstance(data, dict) else None
    if version != MANIFEST_VERSION:
        raise ManifestError(
            f"{path}: manifest version {version}, this tqscore reads version {MANIFEST_VERSION}; "
            f"rebuild the folder with `tqscore export --force`"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{path}: invalid manifest: {exc}") from exc


def write_manifest(engine_dir: str | Path, manifest: Manifest) -> Path:
    """Atomic write: a crash mid-export leaves the previous manifest, never half a file."""
    manifest.updated_utc = utc_now()
    path = Path(engine_dir) / MANIFEST_NAME
    return write_text_atomic(path, json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n")


def check_graph_file(engine_dir: str | Path, name: str, entry: GraphEntry) -> Path:
    """The graph's file, after checking it exists and is the one the manifest describes."""
    path = Path(engine_dir) / entry.file
    if not path.is_file():
        raise ManifestError(f"{path}: listed in the manifest as graph '{name}' but missing; re-run `tqscore export`")
    found = sha256_file(path)
    if found != entry.sha256:
        raise ManifestError(
            f"{path}: contents differ from the manifest (sha256 {found[:12]}, expected {entry.sha256[:12]}); "
            f"the folder was modified after export; re-run `tqscore export --force`"
        )
    return path
