"""TensorRT FP16 engines: naming, staleness, optimisation profiles, the strongly typed build.

A serialised engine only runs on the GPU architecture and TensorRT version it was built with,
and on another it fails to load or, worse, loads and runs slower kernels. So an engine file is
named by the facts it depends on (GPU model, compute capability, TensorRT version), the manifest
records them with the sha256 of the ONNX graph it was built from, and ``engine_problem`` says
why an engine cannot serve here; nothing uses an engine whose facts differ from this machine's.

Everything but ``build_engine`` and ``detect_target`` is plain Python, so naming, staleness and
profile construction are tested on machines without TensorRT or a GPU. ``tensorrt`` itself is
imported only inside functions (the package must import without it); the build takes the module
as an argument so tests can pass a recording stand-in. Device facts come from the CUDA driver
(``tqscore.export.cuda``): the serving image has no torch.

The build is strongly typed, one code path for TensorRT 10.x and 11.x: the network is created
with ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` (TensorRT 10's opt-in; 11.x builds every
network strongly typed and still accepts the flag), from the FP16 ONNX graph
(``tqscore.export.fp16``), so every layer runs in the type its tensors have in the graph and the
FP32 islands are FP32 between explicit Casts. No builder precision flag, no per-layer precision
or output type: TensorRT 11 removed them, and in 10.x they were requests a fusion could
silently drop. TF32 is cleared so the FP32 islands compute in FP32 (TensorRT enables TF32 by
default, which rounds the inputs of FP32 matrix products to 10 mantissa bits).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tqscore.errors import ExportError
from tqscore.export.graphs import GRAPHS, GraphSpec
from tqscore.export.manifest import EngineEntry, Manifest, ShapeRange, Target, sha256_file
from tqscore.features.backbones import HUBERT_FIELD, HUBERT_STRIDE
from tqscore.io import write_bytes_atomic
from tqscore.layout import SAMPLE_RATE, T

log = logging.getLogger(__name__)

PRECISION = "fp16"
WORKSPACE_GB = 8.0
# Audio lengths the HuBERT engine accepts: one receptive field up to the 30-s windows that
# tqscore.features.backbones.AudioBackbone cuts long clips into (+ their 80-sample overlap);
# tuned for the standard 6-s clip.
AUDIO_MIN_SAMPLES = HUBERT_FIELD
AUDIO_OPT_SAMPLES = int(T / 25 * SAMPLE_RATE)
AUDIO_MAX_SAMPLES = 30 * SAMPLE_RATE + HUBERT_FIELD - HUBERT_STRIDE
DEFAULT_IMAGE_BATCHES = (64, 150)  # crops per visual call: the runtime's batch and one whole clip
DEFAULT_CLIP_BATCHES = (1, 8)  # clips per audio / fusion call: a single clip and the runtime's group
SUPPORTED_TRT_MAJORS = (10, 11)  # the strongly typed API both share (tests/test_export_trt_api.py)


class TensorRTUnavailable(ExportError):
    """TensorRT engines cannot be built or run here; the message says why."""


def load_tensorrt():
    try:
        import tensorrt
    except ImportError as exc:
        raise TensorRTUnavailable(
            f"TensorRT is not installed ({exc}); install tqscore[gpu] on a machine with an NVIDIA GPU"
        ) from exc
    major = int(tensorrt.__version__.split(".")[0])
    if major not in SUPPORTED_TRT_MAJORS:
        low, high = SUPPORTED_TRT_MAJORS[0], SUPPORTED_TRT_MAJORS[-1]
        raise TensorRTUnavailable(
            f"TensorRT {tensorrt.__version__} is installed, but engines are built and run with the strongly typed "
            f"API of TensorRT {low}.x-{high}.x; install tensorrt>={low},<{high + 1}"
        )
    return tensorrt


def detect_target() -> Target:
    """This machine's GPU and TensorRT facts, or TensorRTUnavailable saying what is missing."""
    from tqscore.export.cuda import CudaUnavailable, check_device, device_facts

    trt = load_tensorrt()
    try:
        gpu, capability = device_facts(0)
    except CudaUnavailable as exc:
        raise TensorRTUnavailable(f"no usable NVIDIA GPU: {exc}") from exc
    try:
        check_device(0)
    except CudaUnavailable as exc:
        raise TensorRTUnavailable(f"the NVIDIA GPU {gpu} is not usable: {exc}") from exc
    return Target(gpu=gpu, compute_capability=capability, tensorrt=trt.__version__)


def gpu_slug(gpu: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (file-name safe, stable)."""
    return re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-") or "gpu"


def target_tag(target: Target) -> str:
    cc = target.compute_capability.replace(".", "")
    return f"{gpu_slug(target.gpu)}.sm{cc}.trt{target.tensorrt}"


def engine_filename(spec: GraphSpec, target: Target) -> str:
    return f"{Path(spec.file).stem}.{target_tag(target)}.{PRECISION}.engine"


def timing_cache_filename(target: Target) -> str:
    return f"timing.{target_tag(target)}.cache"


def engine_problem(manifest: Manifest, engine_dir: Path, graph: str, target: Target, check_hash: bool = True) -> str | None:
    """Why the engine for ``graph`` cannot serve on ``target``, or None when it can."""
    spec = GRAPHS[graph]
    name = engine_filename(spec, target)
    entry = manifest.engines.get(name)
    if entry is None:
        others = sorted(e.file for e in manifest.engines.values() if e.graph == graph)
        built = f"; engines in the folder are for other GPUs/TensorRT versions: {others}" if others else ""
        return f"no {graph} engine for {target.gpu} (sm {target.compute_capability}, TensorRT {target.tensorrt}){built}"
    if entry.target != target or entry.graph != graph:
        return f"{name}: manifest says it was built for {entry.target.model_dump()} ({entry.graph}), not this machine"
    graph_entry, half = manifest.graphs.get(graph), manifest.fp16.get(graph)
    if graph_entry is None or half is None:
        return f"{name}: the manifest lists no {graph} FP16 ONNX graph it could have been built from"
    if half.onnx_sha256 != graph_entry.sha256:
        return f"{name}: stale, its FP16 graph {half.file} was converted from an older {graph_entry.file}"
    if entry.onnx_sha256 != half.sha256:
        return f"{name}: stale, built from an older {half.file} (sha256 {entry.onnx_sha256[:12]}, now {half.sha256[:12]})"
    path = engine_dir / name
    if not path.is_file():
        return f"{path}: listed in the manifest but missing"
    if check_hash and sha256_file(path) != entry.sha256:
        return f"{path}: contents differ from the manifest (modified or truncated after the build)"
    return None


def batch_ranges(batch_sizes: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    """Sorted batch sizes -> consecutive (low, high] ranges, one profile each, tuned at ``high``."""
    sizes = sorted(set(int(b) for b in batch_sizes))
    if not sizes or sizes[0] < 1:
        raise ValueError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    lows = [1] + [b + 1 for b in sizes[:-1]]
    return list(zip(lows, sizes))


def profiles_for(graph: str, image_batches=DEFAULT_IMAGE_BATCHES, clip_batches=DEFAULT_CLIP_BATCHES) -> list[dict[str, ShapeRange]]:
    """Optimisation profiles: one per batch range, the optimum at the batch size the runtime uses."""
    spec = GRAPHS[graph]
    batches = image_batches if graph == "visual" else clip_batches
    profiles = []
    for low, high in batch_ranges(batches):
        profile = {}
        for tensor in spec.inputs:
            lo, opt, hi = [], [], []
            for dim in tensor.shape:
                if dim == "batch":
                    lo.append(low), opt.append(high), hi.append(high)
                elif dim == "samples":
                    lo.append(AUDIO_MIN_SAMPLES), opt.append(AUDIO_OPT_SAMPLES), hi.append(AUDIO_MAX_SAMPLES)
                elif isinstance(dim, int):
                    lo.append(dim), opt.append(dim), hi.append(dim)
                else:
                    raise ValueError(f"graph {graph}: no profile rule for dynamic axis {dim!r}")
            profile[tensor.name] = ShapeRange(min=lo, opt=opt, max=hi)
        profiles.append(profile)
    return profiles


@dataclass
class BuildPlan:
    graph: str
    onnx_path: Path  # the FP16 graph (tqscore.export.fp16): its types are the engine's
    engine_path: Path
    timing_cache: Path
    profiles: list[dict[str, ShapeRange]]
    fp32_nodes: tuple[str, ...] = ()  # the graph's nodes kept FP32, recorded in the manifest
    workspace_gb: float = WORKSPACE_GB


@dataclass
class BuildResult:
    engine: bytes
    seconds: float = 0.0


def strongly_typed_network(trt, builder, logger, onnx_path: Path):
    """The parsed ONNX graph as a strongly typed network (the one network kind TensorRT 10 and 11 share)."""
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"{onnx_path}: TensorRT could not parse the graph: {errors}")
    return network, parser  # the parser owns weights the network refers to: keep it alive until the build


def build_engine(plan: BuildPlan, trt) -> BuildResult:
    """Parse the FP16 ONNX graph and build a serialised engine (reads/updates the timing cache)."""
    started = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = strongly_typed_network(trt, builder, logger, plan.onnx_path)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(plan.workspace_gb * (1 << 30)))
    config.clear_flag(trt.BuilderFlag.TF32)  # the graph's FP32 islands compute in FP32 (module docstring)
    for ranges in plan.profiles:
        profile = builder.create_optimization_profile()
        for name, r in ranges.items():
            profile.set_shape(name, r.min, r.opt, r.max)
        config.add_optimization_profile(profile)
    cache_bytes = plan.timing_cache.read_bytes() if plan.timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"{plan.graph}: TensorRT engine build failed (see the TensorRT log above)")
    write_bytes_atomic(plan.timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    return BuildResult(bytes(memoryview(serialized)), time.perf_counter() - started)


def write_engine(plan: BuildPlan, result: BuildResult, graph_sha256: str, target: Target, built_utc: str) -> EngineEntry:
    write_bytes_atomic(plan.engine_path, result.engine)
    return EngineEntry(
        file=plan.engine_path.name,
        sha256=sha256_file(plan.engine_path),
        graph=plan.graph,
        onnx_sha256=graph_sha256,
        precision=PRECISION,
        target=target,
        profiles=plan.profiles,
        fp32_layers=list(plan.fp32_nodes),
        build_seconds=round(result.seconds, 2),
        built_utc=built_utc,
    )
