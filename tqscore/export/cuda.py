"""The few CUDA driver calls TensorRT serving needs, through ctypes on ``libcuda``.

The serving image has no torch and no CUDA Python binding (``tests/test_runtime_engines.py``,
``test_serving_path_never_imports_torch_or_transformers``, checks that the engine path never
imports torch), but every machine that can run an engine
has the driver library. From it come the facts an engine is only valid for (device name,
compute capability) and a CUDA stream to run engines on; device buffers come from
onnxruntime-gpu's ``OrtValue`` (see ``tqscore.runtime.engines``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

from tqscore.errors import ExportError

CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


class CudaUnavailable(ExportError):
    """No usable CUDA driver or device; the message says which."""


@lru_cache(maxsize=1)
def _driver():
    name = ctypes.util.find_library("cuda") or "libcuda.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise CudaUnavailable(f"no CUDA driver library ({name}): {exc}") from exc
    _check(lib, lib.cuInit(0), "cuInit")
    return lib


def _check(lib, status: int, call: str) -> None:
    if status != 0:
        text = ctypes.c_char_p()
        lib.cuGetErrorString(status, ctypes.byref(text))
        raise CudaUnavailable(f"{call} failed: CUDA error {status} ({(text.value or b'?').decode()})")


def _device(index: int = 0) -> ctypes.c_int:
    lib = _driver()
    count = ctypes.c_int()
    _check(lib, lib.cuDeviceGetCount(ctypes.byref(count)), "cuDeviceGetCount")
    if count.value <= index:
        raise CudaUnavailable(f"no CUDA device {index} (the driver sees {count.value})")
    device = ctypes.c_int()
    _check(lib, lib.cuDeviceGet(ctypes.byref(device), index), "cuDeviceGet")
    return device


def device_facts(index: int = 0) -> tuple[str, str]:
    """(device name, "major.minor" compute capability) of CUDA device ``index``."""
    lib, device = _driver(), _device(index)
    name = ctypes.create_string_buffer(256)
    _check(lib, lib.cuDeviceGetName(name, len(name), device), "cuDeviceGetName")
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(lib, lib.cuDeviceGetAttribute(ctypes.byref(major), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device), "cuDeviceGetAttribute")
    _check(lib, lib.cuDeviceGetAttribute(ctypes.byref(minor), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device), "cuDeviceGetAttribute")
    return name.value.decode(), f"{major.value}.{minor.value}"


class CudaStream:
    """A blocking CUDA stream on the device's primary context (the one TensorRT and onnxruntime use)."""

    def __init__(self, index: int = 0):
        lib, device = _driver(), _device(index)
        self._lib = lib
        context = ctypes.c_void_p()
        _check(lib, lib.cuDevicePrimaryCtxRetain(ctypes.byref(context), device), "cuDevicePrimaryCtxRetain")
        _check(lib, lib.cuCtxSetCurrent(context), "cuCtxSetCurrent")
        self._stream = ctypes.c_void_p()
        # Flags 0: a blocking stream, ordered with the legacy default stream that OrtValue copies use.
        _check(lib, lib.cuStreamCreate(ctypes.byref(self._stream), 0), "cuStreamCreate")

    @property
    def handle(self) -> int:
        return self._stream.value or 0

    def synchronize(self) -> None:
        _check(self._lib, self._lib.cuStreamSynchronize(self._stream), "cuStreamSynchronize")
