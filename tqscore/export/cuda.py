"""The few CUDA driver calls TensorRT serving needs, through ctypes on ``libcuda``.

The serving image has no torch and no CUDA Python binding (``tests/test_runtime_engines.py``,
``test_serving_path_never_imports_torch_or_transformers``, checks that the engine path never
imports torch), but every machine that can run an engine
has the driver library. From it come the facts an engine is only valid for (device name,
compute capability), a CUDA stream to run engines on, device buffers, page-locked host buffers
(an asynchronous copy from pageable memory is staged through a driver buffer and blocks the
host), and the copies between them. Nothing but the driver is needed to serve engines, so a
machine with a driver and TensorRT but no cuDNN/cuBLAS or onnxruntime-gpu serves them too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

import numpy as np

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
    _declare(lib)
    _check(lib, lib.cuInit(0), "cuInit")
    return lib


def _declare(lib) -> None:
    """Argument types of the calls that take sizes or pointers (ctypes would pass 32-bit ints)."""
    ptr, size, u64, p = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.POINTER
    lib.cuMemAlloc_v2.argtypes = [p(u64), size]
    lib.cuMemFree_v2.argtypes = [u64]
    lib.cuMemHostAlloc.argtypes = [p(ptr), size, ctypes.c_uint]
    lib.cuMemFreeHost.argtypes = [ptr]
    lib.cuMemcpyHtoDAsync_v2.argtypes = [u64, ptr, size, ptr]
    lib.cuMemcpyDtoHAsync_v2.argtypes = [ptr, u64, size, ptr]
    lib.cuStreamSynchronize.argtypes = [ptr]


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


def _use_primary_context(index: int = 0):
    """Make the device's primary context (the one TensorRT and the CUDA runtime use) current here."""
    lib, device = _driver(), _device(index)
    context = ctypes.c_void_p()
    _check(lib, lib.cuDevicePrimaryCtxRetain(ctypes.byref(context), device), "cuDevicePrimaryCtxRetain")
    _check(lib, lib.cuCtxSetCurrent(context), "cuCtxSetCurrent")
    return lib


def check_device(index: int = 0) -> None:
    """Prove the device works, not only that the driver lists it: a context, 1 MiB allocated and freed."""
    DeviceBuffer(1 << 20, index).free()


class DeviceBuffer:
    """``nbytes`` of device memory (``cuMemAlloc``); ``address`` is what TensorRT binds."""

    def __init__(self, nbytes: int, index: int = 0):
        self._lib = _use_primary_context(index)
        self.nbytes = int(nbytes)
        self._address = ctypes.c_uint64()
        _check(self._lib, self._lib.cuMemAlloc_v2(ctypes.byref(self._address), max(self.nbytes, 1)), "cuMemAlloc")

    @property
    def address(self) -> int:
        return self._address.value

    def free(self) -> None:
        if self._address.value:
            _check(self._lib, self._lib.cuMemFree_v2(self._address.value), "cuMemFree")
            self._address = ctypes.c_uint64()

    def __del__(self):
        try:
            self.free()
        except Exception:  # interpreter shutdown: the driver may already be gone
            pass


class PinnedBuffer:
    """Page-locked host memory (``cuMemHostAlloc``) seen as a flat uint8 numpy array."""

    def __init__(self, nbytes: int, index: int = 0):
        self._lib = _use_primary_context(index)
        self.nbytes = int(nbytes)
        self._pointer = ctypes.c_void_p()
        _check(self._lib, self._lib.cuMemHostAlloc(ctypes.byref(self._pointer), max(self.nbytes, 1), 0), "cuMemHostAlloc")
        self.array = np.ctypeslib.as_array((ctypes.c_uint8 * self.nbytes).from_address(self._pointer.value))

    def view(self, dtype, shape) -> np.ndarray:
        """The first ``prod(shape)`` items as an array of ``dtype`` (no copy)."""
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if count > self.nbytes:
            raise ValueError(f"{shape} {np.dtype(dtype)} needs {count} bytes, the buffer has {self.nbytes}")
        return self.array[:count].view(dtype).reshape(shape)

    def free(self) -> None:
        if self._pointer.value:
            self.array = None
            _check(self._lib, self._lib.cuMemFreeHost(self._pointer), "cuMemFreeHost")
            self._pointer = ctypes.c_void_p()

    def __del__(self):
        try:
            self.free()
        except Exception:  # interpreter shutdown: the driver may already be gone
            pass


class CudaStream:
    """A blocking CUDA stream on the device's primary context, with the copies engines need."""

    def __init__(self, index: int = 0):
        lib = _use_primary_context(index)
        self._lib = lib
        self._stream = ctypes.c_void_p()
        _check(lib, lib.cuStreamCreate(ctypes.byref(self._stream), 0), "cuStreamCreate")

    @property
    def handle(self) -> int:
        return self._stream.value or 0

    def synchronize(self) -> None:
        _check(self._lib, self._lib.cuStreamSynchronize(self._stream), "cuStreamSynchronize")

    def to_device(self, device: DeviceBuffer, host: PinnedBuffer, nbytes: int) -> None:
        """Queue a copy of ``host``'s first ``nbytes`` to ``device`` (asynchronous: page-locked source)."""
        _check(self._lib, self._lib.cuMemcpyHtoDAsync_v2(device.address, host.array.ctypes.data, nbytes, self._stream),
               "cuMemcpyHtoDAsync")

    def to_host(self, host: PinnedBuffer, device: DeviceBuffer, nbytes: int) -> None:
        """Queue a copy of ``device``'s first ``nbytes`` to ``host``; valid after ``synchronize``."""
        _check(self._lib, self._lib.cuMemcpyDtoHAsync_v2(host.array.ctypes.data, device.address, nbytes, self._stream),
               "cuMemcpyDtoHAsync")
