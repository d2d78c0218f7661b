"""The served graphs of an engine folder (``tqscore export``), behind one small API.

``EngineSet.load`` reads and checks the folder's manifest, then serves from either

- TensorRT FP16 engines (``tqscore.export.trt``), when all three were built for this GPU model,
  compute capability and TensorRT version from the current ONNX graphs; or
- ONNX Runtime on the FP32 ONNX graphs, with the CUDA and CPU execution providers in that
  order, each only where it really runs (``gpu_providers``); the TensorRT provider too, first,
  with ``device="cuda"``. onnxruntime is the portable path because the same folder then scores
  on any machine, GPU or not, with no build step.

An engine that exists but does not fit (another GPU, another TensorRT, an older graph, a
modified file) is never used: ``device="tensorrt"`` refuses with the reason, ``"auto"`` and
``"cuda"`` log the reason and serve the ONNX graphs instead. ONNX Runtime's TensorRT provider
runs the FP32 graphs in FP32: its FP16 mode casts the whole graph, FP32 islands included.

On the CPU alone (ONNX Runtime with only its CPU provider), ``precision="auto"`` serves the INT8
ResNet101 (``tqscore export --formats onnx-int8``, ``tqscore.export.int8``) when the folder has a
current one, ``"fp32"`` never does, ``"int8"`` requires it (and the CPU).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from tqscore.errors import RunError
from tqscore.export.graphs import CROP, GRAPHS
from tqscore.export.manifest import Manifest, ManifestError, check_graph_file, read_manifest
from tqscore.export.trt import TensorRTUnavailable, detect_target, engine_filename, engine_problem, target_tag
from tqscore.features.backbones import HUBERT_FIELD
from tqscore.layout import FEATURE_WIDTH, LABELS, STREAM_WIDTHS, T, check_layout_version
from tqscore.runtime.config import engine_options_problem

log = logging.getLogger(__name__)

ORT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class EngineError(RunError):
    """The engine folder cannot serve on this machine with the requested device; says why."""


def ort_cache_dir(manifest: Manifest) -> Path:
    """ONNX Runtime's TensorRT-provider engine cache: per user, since engine folders may be read-only."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "tqscore" / "ort-tensorrt" / manifest.digest()


class _OrtGraph:
    def __init__(self, path: Path, providers: list, threads: int | None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.output = self.session.get_outputs()[0].name

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run([self.output], feeds)[0]


class TrtGraph:
    """One deserialised engine, one execution context per optimisation profile.

    Buffers come from the CUDA driver (``tqscore.export.cuda``): one page-locked host buffer and
    one device buffer per tensor, grown to the largest call seen and reused, so a call copies
    its inputs once into page-locked memory and the transfers run asynchronously on the stream.
    """

    def __init__(self, path: Path, trt):
        from tqscore.export.cuda import CudaStream

        self.path = path
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(self.logger).deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise EngineError(f"{path}: TensorRT could not deserialise the engine (see the TensorRT log)")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        self.stream = CudaStream()
        self.contexts = []
        for p in range(self.engine.num_optimization_profiles):
            context = self.engine.create_execution_context()
            if not context.set_optimization_profile_async(p, self.stream.handle):
                raise EngineError(f"{path}: TensorRT refused optimisation profile {p}")
            self.contexts.append(context)
        self.stream.synchronize()
        self.ranges = [
            {n: [tuple(s) for s in self.engine.get_tensor_profile_shape(n, p)] for n in self.inputs}
            for p in range(self.engine.num_optimization_profiles)
        ]
        self.buffers: dict[str, tuple] = {}  # tensor name -> (PinnedBuffer, DeviceBuffer)

    def max_batch(self) -> int:
        return max(r[self.inputs[0]][2][0] for r in self.ranges)

    def _profile(self, shapes: dict[str, tuple[int, ...]]) -> int:
        for p, ranges in enumerate(self.ranges):
            if all(all(lo <= s <= hi for s, lo, hi in zip(shapes[n], ranges[n][0], ranges[n][2])) for n in self.inputs):
                return p
        raise EngineError(f"input shapes {shapes} are outside every optimisation profile of the engine: {self.ranges}")

    def _buffers(self, name: str, nbytes: int) -> tuple:
        from tqscore.export.cuda import DeviceBuffer, PinnedBuffer

        held = self.buffers.get(name)
        if held is None or held[0].nbytes < nbytes:
            if held is not None:
                held[0].free(), held[1].free()
            held = self.buffers[name] = (PinnedBuffer(nbytes), DeviceBuffer(nbytes))
        return held

    def _bind(self, context, name: str, address: int) -> None:
        if not context.set_tensor_address(name, address):
            raise EngineError(f"{self.path}: TensorRT refused the buffer of tensor {name!r}")

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        context = self.contexts[self._profile({n: feeds[n].shape for n in self.inputs})]
        for name in self.inputs:
            value = np.ascontiguousarray(feeds[name], np.float32)
            host, device = self._buffers(name, value.nbytes)
            host.view(np.float32, value.shape)[...] = value
            self.stream.to_device(device, host, value.nbytes)
            if not context.set_input_shape(name, tuple(value.shape)):
                raise EngineError(f"{self.path}: TensorRT refused input shape {value.shape} for {name!r}")
            self._bind(context, name, device.address)
        shape = tuple(context.get_tensor_shape(self.outputs[0]))
        if min(shape, default=0) < 0:
            raise EngineError(f"{self.path}: output shape {shape} is not determined by the inputs given")
        nbytes = int(np.prod(shape)) * 4
        host, device = self._buffers(self.outputs[0], nbytes)
        self._bind(context, self.outputs[0], device.address)
        if not context.execute_async_v3(self.stream.handle):
            raise EngineError("TensorRT execution failed (see the TensorRT log)")
        self.stream.to_host(host, device, nbytes)
        self.stream.synchronize()
        return host.view(np.float32, shape).copy()


@dataclass
class EngineSet:
    engine_dir: Path
    manifest: Manifest
    backend: str  # "tensorrt" or "onnxruntime"
    providers: list[str]  # execution providers in use, most preferred first
    graphs: dict[str, object] = field(repr=False)
    chunks: dict[str, int] = field(default_factory=dict)  # most items per call of a graph
    precision: str = "fp32"  # of the visual graph: "int8" when the INT8 ResNet101 serves

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def engine_id(self) -> str:
        """Graph contents + backend: rows scored by different engines are told apart."""
        suffix = "-int8" if self.precision == "int8" else ""
        return f"{self.manifest.digest()}-{self.providers[0].removesuffix('ExecutionProvider').lower()}{suffix}"

    @property
    def audio_normalize(self) -> bool:
        """Whether waveforms are zero-mean/unit-variance normalised before the audio graph (HuBERT-Large style)."""
        return bool(self.manifest.backbones.get("audio", {}).get("normalize", False))

    @classmethod
    def load(cls, engine_dir, device: str = "auto", threads: int | None = None, precision: str = "auto") -> EngineSet:
        if problem := engine_options_problem(device, precision):
            raise EngineError(problem)
        engine_dir = Path(engine_dir)
        manifest = read_manifest(engine_dir)
        check_layout_version(manifest.layout_version, f"engine folder {engine_dir}")
        missing = [g for g in GRAPHS if g not in manifest.graphs]
        if missing:
            raise ManifestError(f"{engine_dir}: the manifest lists no {missing} graph(s); re-run `tqscore export`")
        paths = {g: check_graph_file(engine_dir, g, manifest.graphs[g]) for g in GRAPHS}
        if device != "cpu" and precision != "int8":
            native = cls._native(engine_dir, manifest, required=device == "tensorrt")
            if native is not None:
                return native
        return cls._onnxruntime(engine_dir, manifest, paths, "cpu" if precision == "int8" else device, threads, precision)

    @classmethod
    def _native(cls, engine_dir: Path, manifest: Manifest, required: bool) -> EngineSet | None:
        try:
            target = detect_target()
        except TensorRTUnavailable as exc:
            if required:
                raise EngineError(f"{engine_dir}: TensorRT engines asked for, but {exc}") from exc
            log.info("TensorRT engines not used: %s", exc)
            return None
        problems = [p for g in GRAPHS if (p := engine_problem(manifest, engine_dir, g, target))]
        if problems:
            message = f"{engine_dir}: TensorRT engines not usable on this machine: " + "; ".join(problems)
            hint = f" Rebuild them here with `tqscore export --formats engine --out {engine_dir}`."
            if required:
                raise EngineError(message + hint)
            if manifest.engines:
                log.warning("%s.%s Serving the ONNX graphs with ONNX Runtime instead.", message, hint)
            return None
        from tqscore.export.trt import load_tensorrt

        trt = load_tensorrt()
        graphs = {g: TrtGraph(engine_dir / engine_filename(GRAPHS[g], target), trt) for g in GRAPHS}
        chunks = {g: graphs[g].max_batch() for g in GRAPHS}
        log.info("serving TensorRT FP16 engines for %s", target_tag(target))
        return cls(engine_dir, manifest, "tensorrt", [f"TensorRT-{target_tag(target)}"], graphs, chunks)

    @classmethod
    def _onnxruntime(cls, engine_dir, manifest, paths, device, threads, precision="auto") -> EngineSet:
        import onnxruntime as ort

        available = set(ort.get_available_providers())
        wanted = ["CPUExecutionProvider"] if device == "cpu" else gpu_providers(device)
        if device == "cuda" and wanted == ["CPUExecutionProvider"]:
            raise EngineError(
                f"{engine_dir}: device 'cuda' asked for, but no GPU provider of onnxruntime runs here (listed: "
                f"{sorted(available)}; see the log for why) and no TensorRT engine fits; install onnxruntime-gpu "
                f"(tqscore[gpu]) with the CUDA libraries it needs"
            )
        paths, visual = dict(paths), "fp32"
        if precision != "fp32" and wanted == ["CPUExecutionProvider"]:
            from tqscore.export.int8 import quantized_problem

            problem = quantized_problem(manifest, engine_dir)
            if problem is None:
                paths["visual"], visual = engine_dir / manifest.quantized["visual"].file, "int8"
            elif precision == "int8":
                raise EngineError(problem)
            elif manifest.quantized:
                log.warning("INT8 ResNet101 not used: %s; serving the FP32 graph", problem)
        graphs = {g: _OrtGraph(paths[g], [_provider_options(p, manifest, g) for p in wanted], threads) for g in GRAPHS}
        used = graphs["fusion"].session.get_providers()
        batches = manifest.batch_sizes
        chunks = {"visual": max(batches.get("image", [64])), "audio": max(batches.get("clip", [8])),
                  "fusion": max(batches.get("clip", [8]))}
        log.info("serving ONNX graphs with ONNX Runtime providers %s (visual %s)", used, visual)
        return cls(engine_dir, manifest, "onnxruntime", list(used), graphs, chunks, visual)

    def _chunked(self, graph: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(feeds.values())))
        step = self.chunks.get(graph, n) or n
        parts = [self.graphs[graph]({k: v[i : i + step] for k, v in feeds.items()}) for i in range(0, n, step)]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def visual(self, crops: np.ndarray) -> np.ndarray:
        """float32 (n, 3, 224, 224) ImageNet-normalised crops -> (n, 2048) pooled features."""
        crops = np.ascontiguousarray(crops, np.float32)
        if crops.ndim != 4 or crops.shape[1:] != (3, CROP, CROP):
            raise ValueError(f"visual engine takes (n, 3, {CROP}, {CROP}) crops, got {crops.shape}")
        if not len(crops):
            return np.zeros((0, STREAM_WIDTHS["visual"]), np.float32)
        return self._chunked("visual", {"pixel_values": crops})

    def audio(self, waveforms: np.ndarray) -> np.ndarray:
        """float32 (b, samples) 16-kHz waveforms of equal length -> (b, steps, 768) last hidden states."""
        waveforms = np.ascontiguousarray(waveforms, np.float32)
        if waveforms.ndim != 2 or waveforms.shape[1] < HUBERT_FIELD:
            raise ValueError(f"audio engine takes (b, samples >= {HUBERT_FIELD}) waveforms, got {waveforms.shape}")
        return self._chunked("audio", {"input_values": waveforms})

    def fusion(self, features: np.ndarray, frame_mask: np.ndarray) -> np.ndarray:
        """Raw (b, T, 4237) streams (NaNs allowed) and (b, T) frame masks -> (b, 5) scores in [1, 5]."""
        features = np.ascontiguousarray(features, np.float32)
        mask = np.ascontiguousarray(frame_mask, np.float32)
        if features.ndim != 3 or features.shape[1:] != (T, FEATURE_WIDTH):
            raise ValueError(f"fusion engine takes (b, {T}, {FEATURE_WIDTH}) features, got {features.shape}")
        if mask.shape != features.shape[:2]:
            raise ValueError(f"frame_mask must be {features.shape[:2]}, got {mask.shape}")
        if not len(features):
            return np.zeros((0, len(LABELS)), np.float32)
        return self._chunked("fusion", {"features": features, "frame_mask": mask})


def gpu_providers(device: str) -> list[str]:
    """ONNX Runtime providers for ``device`` "auto" or "cuda", each proven to run, CPU last.

    A provider in ``get_available_providers()`` is only compiled in: onnxruntime-gpu lists CUDA
    on a machine without cuDNN/cuBLAS and then falls back to the CPU with an error in its log. So
    each is kept only where a session on a one-node graph really runs with it. Under "auto" the
    TensorRT provider is left out, loudly: its first use builds FP32 engines for every graph,
    minutes each, inside the batch run; "cuda" takes it where it works.
    """
    import onnxruntime as ort

    listed = [p for p in ORT_PROVIDERS[:-1] if p in ort.get_available_providers()]
    if device == "auto" and "TensorrtExecutionProvider" in listed:
        listed.remove("TensorrtExecutionProvider")
        log.warning("ONNX Runtime's TensorRT provider is not used with device 'auto': its first run builds FP32 "
                    "engines for minutes; build the FP16 engines with `tqscore export --formats engine`, or ask "
                    "for the provider with device 'cuda'")
    working = [p for p in listed if _provider_runs(p)]
    return [*working, "CPUExecutionProvider"]


@lru_cache(maxsize=None)
def _provider_runs(provider: str) -> bool:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    try:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=[provider, "CPUExecutionProvider"])
        session.run(None, {"x": np.ones(1, np.float32)})
    except Exception as exc:  # any failure to start the provider means: not usable here
        log.warning("ONNX Runtime lists %s but cannot run it here (%s); not using it", provider, exc)
        return False
    if provider not in session.get_providers():
        log.warning("ONNX Runtime lists %s but fell back to the CPU creating a session (missing CUDA "
                    "libraries?); not using it", provider)
        return False
    return True


def _provider_options(provider: str, manifest: Manifest, graph: str):
    """ONNX Runtime TensorRT provider options for one graph (other providers take none).

    The timing cache goes into the same per-user cache folder as the provider's engines (its
    default is the working directory, which a batch job may not own). One explicit profile per
    graph, from the ranges our own engines use (``tqscore.export.trt.profiles_for``): without it
    the provider builds for the first shape it sees and rebuilds the engine whenever HuBERT's
    input length leaves that range, i.e. on nearly every clip of another length.
    """
    if provider != "TensorrtExecutionProvider":
        return provider
    from tqscore.export.trt import profiles_for

    cache = ort_cache_dir(manifest)
    cache.mkdir(parents=True, exist_ok=True)
    profiles = profiles_for(graph, manifest.batch_sizes.get("image", [64, 150]), manifest.batch_sizes.get("clip", [1, 8]))

    def shapes(pick) -> str:
        return ",".join(f"{name}:{'x'.join(str(d) for d in pick(name))}" for name in profiles[0])

    return (provider, {
        "trt_fp16_enable": False,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
        # The union of our engine profiles' ranges, tuned at the first one's optimum (the runtime's
        # default call sizes: 64 crops, one clip of 6 s).
        "trt_profile_min_shapes": shapes(lambda n: [min(p[n].min[i] for p in profiles) for i in range(len(profiles[0][n].min))]),
        "trt_profile_opt_shapes": shapes(lambda n: profiles[0][n].opt),
        "trt_profile_max_shapes": shapes(lambda n: [max(p[n].max[i] for p in profiles) for i in range(len(profiles[0][n].max))]),
    })
