"""GPU frame decoding with NVIDIA's NVDEC through PyNvVideoCodec, behind the frames interface.

PyNvVideoCodec is NVIDIA's maintained Python binding of its Video Codec SDK: a self-contained
PyPI wheel (cp312 manylinux, 26.9 MB) that needs only the driver's ``libnvcuvid``. It is the
GPU decoder here rather than decord's CUDA build, which needs a source build with the CUDA
toolkit of a project without a release since 2022 (its maintained fork decord2 ships CPU-only
wheels), and whose GPU reader ignores the display rotation and converts colour with a fixed
BT.601 limited-range matrix. docs/media.md, "GPU decoding", says what is measured and what not.

Frames come back as RGB in host memory, in presentation order, turned for display here (NVDEC
decodes the coded picture; the display matrix is a container property). How NVDEC's RGB
conversion compares with FFmpeg's (PyAV, which the features are trained on) is what
``benchmarks/gpu_check.py``'s ``nvdec`` part measures on a GPU; until a recorded check says the
scores stay within 0.02, scoring does not decode on the GPU by default
(``tqscore.runtime.config.NVDEC_FOR_SCORING``). This module imports neither PyAV nor decord, so
the GPU check loads it on a machine that has neither.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from tqscore.media.errors import MediaError


@lru_cache(maxsize=1)
def nvdec_available() -> bool:
    """Whether PyNvVideoCodec is installed and the CUDA driver makes a context on a GPU."""
    try:
        import PyNvVideoCodec  # noqa: F401
    except ImportError:
        return False
    from tqscore.export.cuda import CudaUnavailable, check_device

    try:
        check_device(0)
    except CudaUnavailable:
        return False
    return True


class NvdecFrames:
    """PyNvVideoCodec's SimpleDecoder (random access by index, RGB, host memory)."""

    def __init__(self, path: Path, displayed: tuple[int, int], rotation: int):
        import PyNvVideoCodec as nvc

        self.path, self.turn = path, rotation // 90
        try:
            self.decoder = nvc.SimpleDecoder(str(path), gpu_id=0, use_device_memory=False,
                                             output_color_type=nvc.OutputColorType.RGB)
            self.n_frames = len(self.decoder)
            first = self._decode(0) if self.n_frames else None
        except Exception as exc:  # the binding raises plain RuntimeError/ValueError for a file it cannot read
            raise MediaError(path, f"NVDEC cannot decode it: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}") from None
        coded = tuple(first.shape[:2]) if first is not None else None
        shown = coded[::-1] if coded is not None and self.turn % 2 else coded
        if shown != tuple(displayed):
            self.close()
            raise MediaError(path, f"NVDEC decodes {coded} frames, the stream displays {tuple(displayed)} (height, width)")
        self._first = first  # kept for the first frame(0): no seek back to the start

    def _decode(self, index: int) -> np.ndarray:
        frame = self.decoder.get_batch_frames_by_index([int(index)])[0]
        return np.from_dlpack(frame)

    def frame(self, index: int) -> np.ndarray:
        first, self._first = self._first, None
        picture = first if index == 0 and first is not None else self._decode(index)
        return np.rot90(picture, self.turn) if self.turn else picture

    def close(self) -> None:
        self.decoder, self._first = None, None
