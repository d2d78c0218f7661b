"""Stand-ins for the ``tensorrt`` module (10.x and 11.x) and the CUDA driver wrapper.

Every public attribute the code reads from a stand-in object is recorded in ``USED`` as
(TensorRT class, attribute), so tests/test_export_trt_api.py can check the code's whole use of
TensorRT against the published API of each admitted version. The 11.x stand-in lacks what 11.x
removed (the FP16/INT8 builder flags, precision constraints, per-layer precision and output
types): code that still used them fails with AttributeError.

The builder's "engine" is a JSON note of the ONNX graph it was parsed from; the runtime's engine
runs that graph with ONNX Runtime (CPU) from the bytes bound to its tensor addresses, through
stand-in device and page-locked buffers. What a stand-in cannot show: that the real parser
accepts the graph, the kernels TensorRT picks, their FP16 accuracy and speed, and that the real
driver calls succeed (benchmarks/gpu_check.py runs them on a GPU).
"""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import numpy as np

USED: set[tuple[str, str]] = set()


class Api:
    """Records public attribute reads as (api_name, attribute)."""

    api_name = ""

    def __getattribute__(self, name):
        if not name.startswith("_"):
            USED.add((type(self).api_name or type(self).__name__, name))
        return object.__getattribute__(self, name)


def enum(api_name: str, **members) -> Api:
    kind = type(api_name, (Api,), {"api_name": api_name})
    value = kind()
    for k, v in members.items():
        object.__setattr__(value, k, v)
    return value


class Logger(Api):
    WARNING = 2

    def __init__(self, level=None):
        self._level = level


class IOptimizationProfile(Api):
    def __init__(self):
        self._shapes = {}

    def set_shape(self, name, lo, opt, hi):
        self._shapes[name] = (list(lo), list(opt), list(hi))


class ITimingCache(Api):
    def __init__(self, data):
        self._data = data

    def serialize(self):
        return self._data + b"+timings"


class IBuilderConfig(Api):
    def __init__(self):
        self._flags, self._cleared, self._profiles, self._pool, self._cache = set(), set(), [], {}, None

    def set_memory_pool_limit(self, pool, size):
        self._pool[pool] = size

    def set_flag(self, flag):
        self._flags.add(flag)

    def clear_flag(self, flag):
        self._cleared.add(flag)

    def add_optimization_profile(self, profile):
        self._profiles.append(profile._shapes)
        return len(self._profiles) - 1

    def create_timing_cache(self, data):
        return ITimingCache(bytes(data))

    def set_timing_cache(self, cache, ignore_mismatch):
        self._cache = cache
        return True

    def get_timing_cache(self):
        return self._cache


class INetworkDefinition(Api):
    def __init__(self, flags):
        self._flags, self._onnx = flags, None


class OnnxParser(Api):
    def __init__(self, network, logger):
        self._network, self._errors = network, []

    def parse_from_file(self, path):
        import onnx

        onnx.checker.check_model(path)  # what the real parser would refuse first: a malformed graph
        self._network._onnx = str(path)
        return True

    @property
    def num_errors(self):
        return len(self._errors)

    def get_error(self, i):
        return self._errors[i]


class Builder(Api):
    last = None

    def __init__(self, logger):
        pass

    def create_network(self, flags=0):
        return INetworkDefinition(flags)

    def create_builder_config(self):
        return IBuilderConfig()

    def create_optimization_profile(self):
        return IOptimizationProfile()

    def build_serialized_network(self, network, config):
        Builder.last = SimpleNamespace(network=network, config=config)
        return json.dumps({"onnx": network._onnx, "flags": network._flags, "profiles": config._profiles}).encode()


class ICudaEngine(Api):
    def __init__(self, note: dict):
        import onnxruntime as ort

        self._session = ort.InferenceSession(note["onnx"], providers=["CPUExecutionProvider"])
        self._profiles = note["profiles"]
        self._names = [i.name for i in self._session.get_inputs()] + [o.name for o in self._session.get_outputs()]

    @property
    def num_io_tensors(self):
        return len(self._names)

    def get_tensor_name(self, i):
        return self._names[i]

    def get_tensor_mode(self, name):
        inputs = {i.name for i in self._session.get_inputs()}
        return TensorIOMode.INPUT if name in inputs else TensorIOMode.OUTPUT

    @property
    def num_optimization_profiles(self):
        return len(self._profiles)

    def get_tensor_profile_shape(self, name, profile):
        return self._profiles[profile][name]

    def create_execution_context(self):
        return IExecutionContext(self)


class IExecutionContext(Api):
    def __init__(self, engine):
        self._engine, self._shapes, self._addresses, self._profile, self._result = engine, {}, {}, 0, None

    def set_optimization_profile_async(self, profile, stream):
        self._profile = profile
        return True

    def set_input_shape(self, name, shape):
        lo, _, hi = self._engine._profiles[self._profile][name]
        if not all(a <= s <= b for s, a, b in zip(shape, lo, hi)):
            return False  # as TensorRT: outside the profile is refused, not raised
        self._shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name, address):
        if address not in DEVICE:
            return False
        self._addresses[name] = address
        return True

    def _run(self):
        feeds = {n: DEVICE[self._addresses[n]][: int(np.prod(s)) * 4].view(np.float32).reshape(s)
                 for n, s in self._shapes.items()}
        return self._engine._session.run(None, feeds)[0].astype(np.float32)

    def get_tensor_shape(self, name):
        self._result = self._run()
        return self._result.shape

    def execute_async_v3(self, stream):
        out = next(n for n in self._engine._names if n not in self._shapes)
        DEVICE[self._addresses[out]][: self._result.nbytes] = self._result.reshape(-1).view(np.uint8)
        return True


class Runtime(Api):
    def __init__(self, logger):
        pass

    def deserialize_cuda_engine(self, data):
        return ICudaEngine(json.loads(bytes(data)))


TensorIOMode = enum("TensorIOMode", INPUT="INPUT", OUTPUT="OUTPUT")


def make_trt(version: str) -> Api:
    """A stand-in ``tensorrt`` module of ``version`` (10.x keeps the weak-typing flags, 11.x has none)."""
    flags = dict(TF32="TF32", BF16="BF16")
    if version.startswith("10."):
        flags |= dict(FP16="FP16", INT8="INT8", OBEY_PRECISION_CONSTRAINTS="OBEY")
    module = enum(
        "tensorrt",
        __version__=version,
        Logger=Logger, Builder=Builder, OnnxParser=OnnxParser, Runtime=Runtime, TensorIOMode=TensorIOMode,
        BuilderFlag=enum("BuilderFlag", **flags),
        MemoryPoolType=enum("MemoryPoolType", WORKSPACE="WORKSPACE"),
        NetworkDefinitionCreationFlag=enum("NetworkDefinitionCreationFlag", STRONGLY_TYPED=1),
    )
    return module


# --- the CUDA driver wrapper (tqscore.export.cuda) -----------------------------------------------
DEVICE: dict[int, np.ndarray] = {}  # address -> bytes of a live device buffer
_addresses = itertools.count(0x1000, 0x1000)
COPIES: list[tuple[str, int]] = []  # (direction, bytes) of every copy queued


class DeviceBuffer:
    allocated = 0

    def __init__(self, nbytes, index=0):
        self.nbytes, self.address = int(nbytes), next(_addresses)
        DEVICE[self.address] = np.zeros(max(self.nbytes, 1), np.uint8)
        DeviceBuffer.allocated += 1

    def free(self):
        DEVICE.pop(self.address, None)


class PinnedBuffer:
    allocated = 0

    def __init__(self, nbytes, index=0):
        self.nbytes, self.array = int(nbytes), np.zeros(max(int(nbytes), 1), np.uint8)
        PinnedBuffer.allocated += 1

    def view(self, dtype, shape):
        return self.array[: int(np.prod(shape)) * np.dtype(dtype).itemsize].view(dtype).reshape(shape)

    def free(self):
        self.array = None


class CudaStream:
    handle = 7

    def __init__(self, index=0):
        pass

    def synchronize(self):
        pass

    def to_device(self, device, host, nbytes):
        COPIES.append(("to_device", nbytes))
        DEVICE[device.address][:nbytes] = host.array[:nbytes]

    def to_host(self, host, device, nbytes):
        COPIES.append(("to_host", nbytes))
        host.array[:nbytes] = DEVICE[device.address][:nbytes]


def use_standin_cuda(monkeypatch) -> None:
    """Serve TensorRT stand-in engines through stand-in device buffers (no driver needed)."""
    import tqscore.export.cuda as cuda

    for name in ("DeviceBuffer", "PinnedBuffer", "CudaStream"):
        monkeypatch.setattr(cuda, name, globals()[name])
    DeviceBuffer.allocated = PinnedBuffer.allocated = 0
    COPIES.clear()
